package dev.rlhf4j.tensor;

import java.util.Locale;

/**
 * Row-major single-precision GEMM, {@code C = alpha * op(A) * op(B) + beta * C}, parallelised over the rlhf4j
 * pool by splitting C into contiguous blocks of rows (or of columns when C is wide), one per thread. Each element
 * of C is computed by exactly one call over the whole shared dimension, so the result does not depend on
 * scheduling.
 *
 * <p>The backend is native OpenBLAS through FFM when it loads, else pure Java, and pure Java also where it is the
 * faster of the two ({@link #javaBeatsBlas}); {@code -Drlhf4j.gemm=java|blas} or {@link #setBackend} choose
 * explicitly. Products of at most {@value SmallGemm#MAX_ROWS} rows by a transposed
 * matrix (a linear layer during token-by-token generation) always take a vectorised Java path.
 */
public final class Gemm {

    /** Where the multiply runs. */
    public enum Backend { BLAS, JAVA }

    /** Below this many multiply-adds a GEMM runs on the calling thread: dispatch would cost more than it saves. */
    private static final long PARALLEL_THRESHOLD = 1L << 20;
    /** Split points are rounded to this many rows or columns, keeping the micro-kernels' tiles whole. */
    private static final int SPLIT_ALIGN = 16;

    private static volatile Backend backend = initialBackend();

    private Gemm() {
    }

    private static Backend initialBackend() {
        String prop = System.getProperty("rlhf4j.gemm", "auto").trim().toLowerCase(Locale.ROOT);
        return switch (prop) {
            case "auto", "" -> autoBackend();
            case "java" -> Backend.JAVA;
            case "blas" -> {
                if (!OpenBlas.available()) {
                    throw new IllegalStateException("-Drlhf4j.gemm=blas but OpenBLAS did not load: "
                            + OpenBlas.loadError());
                }
                yield Backend.BLAS;
            }
            default -> throw new IllegalArgumentException("-Drlhf4j.gemm must be auto, blas or java, got '" + prop
                    + "'");
        };
    }

    /** The backend {@code -Drlhf4j.gemm=auto} (the default) picks: OpenBLAS if it loaded and is the faster. */
    public static Backend autoBackend() {
        return OpenBlas.available() && !javaBeatsBlas() ? Backend.BLAS : Backend.JAVA;
    }

    /**
     * Whether the Java kernel is the faster choice although OpenBLAS loaded: with 512-bit vectors, when OpenBLAS runs
     * kernels narrower than that (its detected or forced core is not one of its AVX-512 cores; some machines force
     * {@code OPENBLAS_CORETYPE=Haswell}, which rlhf4j honours for OpenBLAS). Measured on a Zen 5 machine forced to
     * Haswell: [1024, 3072, 768] 300 GFLOP/s in Java against OpenBLAS's 190, GPT-2-small training 1.36× faster; with
     * 256-bit vectors the two are level (188 against 200), so there OpenBLAS stays.
     */
    static boolean javaBeatsBlas() {
        return Simd.bits() >= 512 && !blasHasAvx512(OpenBlas.core());
    }

    /** Whether an OpenBLAS core name is one of its AVX-512 kernel sets. */
    static boolean blasHasAvx512(String core) {
        if (core == null) {
            return false;
        }
        String c = core.toLowerCase(Locale.ROOT);
        return c.contains("skylakex") || c.contains("cooperlake") || c.contains("sapphirerapids");
    }

    public static Backend backend() {
        return backend;
    }

    /** Chooses the backend for all later calls; BLAS fails with the load error when the library is missing. */
    public static void setBackend(Backend b) {
        if (b == Backend.BLAS && !OpenBlas.available()) {
            throw new IllegalStateException("OpenBLAS is not available: " + OpenBlas.loadError());
        }
        backend = b;
    }

    /** One line saying which backend runs and why. */
    public static String describe() {
        return backend == Backend.BLAS ? "blas (" + OpenBlas.describe() + ")"
                : "java (Vector API, " + Simd.bits() + "-bit" + (!OpenBlas.available() ? "; OpenBLAS "
                + OpenBlas.describe() : javaBeatsBlas() ? "; faster than OpenBLAS's core=" + OpenBlas.core()
                + " kernels at this width, -Drlhf4j.gemm=blas to use them" : "") + ")";
    }

    /**
     * {@code C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C}, all row-major with leading dimensions and element
     * offsets. {@code op(A)} is A, or A transposed when {@code transA} (then A is stored {@code k x m}).
     */
    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float beta,
                             float[] c, int cOff, int ldc) {
        check("A", a, aOff, lda, transA ? k : m, transA ? m : k);
        check("B", b, bOff, ldb, transB ? n : k, transB ? k : n);
        check("C", c, cOff, ldc, m, n);
        if (m == 0 || n == 0) {
            return;
        }
        if (!transA && transB && m <= SmallGemm.MAX_ROWS) {
            SmallGemm.sgemmNT(m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        Backend be = backend;
        Parallel pool = Parallel.global();
        int threads = pool.threads();
        if (threads == 1 || (long) m * n * k < PARALLEL_THRESHOLD) {
            call(be, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        boolean splitRows = m >= n;
        int extent = splitRows ? m : n;
        int parts = Math.max(1, Math.min(threads, extent / SPLIT_ALIGN));
        if (parts == 1) {
            call(be, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        pool.forTasks(parts, (part, worker) -> {
            int lo = splitPoint(extent, parts, part);
            int hi = splitPoint(extent, parts, part + 1);
            if (hi <= lo) {
                return;
            }
            if (splitRows) {
                int aAt = transA ? aOff + lo : aOff + lo * lda;
                call(be, transA, transB, hi - lo, n, k, alpha, a, aAt, lda, b, bOff, ldb, beta, c, cOff + lo * ldc,
                        ldc);
            } else {
                int bAt = transB ? bOff + lo * ldb : bOff + lo;
                call(be, transA, transB, m, hi - lo, k, alpha, a, aOff, lda, b, bAt, ldb, beta, c, cOff + lo, ldc);
            }
        });
    }

    /** Convenience: C[m,n] = A[m,k] * B[n,k]^T (+ C if accumulate), contiguous, offsets 0. */
    public static void matmulNT(float[] a, float[] b, float[] c, int m, int n, int k, boolean accumulate) {
        sgemm(false, true, m, n, k, 1f, a, 0, k, b, 0, k, accumulate ? 1f : 0f, c, 0, n);
    }

    private static int splitPoint(int extent, int parts, int part) {
        if (part == parts) {
            return extent;
        }
        long raw = (long) extent * part / parts;
        int aligned = (int) ((raw + SPLIT_ALIGN / 2) / SPLIT_ALIGN * SPLIT_ALIGN);
        return Math.min(extent, aligned);
    }

    private static void call(Backend be, boolean transA, boolean transB, int m, int n, int k, float alpha,
                             float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float beta,
                             float[] c, int cOff, int ldc) {
        if (be == Backend.BLAS) {
            OpenBlas.sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        } else {
            JavaGemm.sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        }
    }

    /**
     * {@link #sgemm} as one call on the calling thread, never split or sent to {@link SmallGemm}: for callers that
     * already run inside a parallel region over fixed tiles ({@link WeightMatrix}).
     */
    static void sgemmOnThisThread(boolean transA, boolean transB, int m, int n, int k, float alpha,
                                  float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float beta,
                                  float[] c, int cOff, int ldc) {
        check("A", a, aOff, lda, transA ? k : m, transA ? m : k);
        check("B", b, bOff, ldb, transB ? n : k, transB ? k : n);
        check("C", c, cOff, ldc, m, n);
        if (m == 0 || n == 0) {
            return;
        }
        call(backend, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }

    /** The raw native call on the calling thread, OpenBLAS threading as currently set (for the benchmark). */
    public static void blasRaw(boolean transA, boolean transB, int m, int n, int k, float alpha,
                               float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float beta,
                               float[] c, int cOff, int ldc) {
        check("A", a, aOff, lda, transA ? k : m, transA ? m : k);
        check("B", b, bOff, ldb, transB ? n : k, transB ? k : n);
        check("C", c, cOff, ldc, m, n);
        OpenBlas.sgemm(transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }

    /** A stored matrix of {@code rows x cols} with leading dimension {@code ld} must lie inside the array. */
    private static void check(String name, float[] x, int off, int ld, int rows, int cols) {
        if (rows < 0 || cols < 0 || off < 0) {
            throw new IllegalArgumentException("gemm: " + name + " has a negative size or offset: " + rows + "x" + cols
                    + " at offset " + off);
        }
        if (rows == 0 || cols == 0) {
            return;
        }
        if (ld < cols) {
            throw new IllegalArgumentException("gemm: " + name + " is stored " + rows + "x" + cols
                    + " but its leading dimension is " + ld + " (< " + cols + ")");
        }
        long last = off + (long) (rows - 1) * ld + cols;
        if (last > x.length) {
            throw new IllegalArgumentException("gemm: " + name + " of " + rows + "x" + cols + " (ld " + ld + ", offset "
                    + off + ") needs " + last + " floats but the array holds " + x.length);
        }
    }
}
