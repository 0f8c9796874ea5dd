package dev.rlhf4j.tensor;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import static dev.rlhf4j.tensor.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GEMM: both backends against a float64 reference for every transpose combination, odd sizes (tails of the
 * micro-kernel, several K blocks), offsets and leading dimensions; BLAS and Java against each other; shape errors.
 * Tolerance: 1e-5·(1 + Σ|a·b|) per element, i.e. float32 accumulation over k terms.
 */
class GemmTest {
    private static final int[][] SHAPES = {{1, 1, 1}, {7, 13, 5}, {6, 16, 1}, {67, 45, 300}, {130, 290, 17},
            {256, 96, 64}, {1, 50, 40}, {300, 2, 513}, {1, 37, 172}, {3, 19, 70}, {8, 9, 33}, {5, 130, 64},
            // a few rows by a transposed B (the decoder's products): every row count of the register-blocked paths,
            // column counts with remainders, tails of k, and B large enough to be split over threads
            {2, 11, 37}, {4, 70, 200}, {6, 5, 19}, {7, 3, 64}, {4, 300, 260}, {8, 261, 300}, {2, 257, 257}};
    private final Gemm.Backend original = Gemm.backend();

    @AfterEach
    void restore() {
        Gemm.setBackend(original);
    }

    private static float[] random(Rng rng, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (2 * rng.nextDouble() - 1);
        }
        return a;
    }

    /** Reference with lda etc., returns the expected C and a per-element error scale. */
    private static double[][] reference(boolean ta, boolean tb, int m, int n, int k, float alpha, float[] a, int aOff,
                                        int lda, float[] b, int bOff, int ldb, float beta, float[] c, int cOff,
                                        int ldc) {
        double[] out = new double[m * n], mag = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0, abs = 0;
                for (int p = 0; p < k; p++) {
                    double av = ta ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                    double bv = tb ? b[bOff + j * ldb + p] : b[bOff + p * ldb + j];
                    s += av * bv;
                    abs += Math.abs(av * bv);
                }
                double cv = c[cOff + i * ldc + j];
                out[i * n + j] = alpha * s + beta * cv;
                mag[i * n + j] = Math.abs(alpha) * abs + Math.abs(beta * cv);
            }
        }
        return new double[][] {out, mag};
    }

    private static void run(Gemm.Backend backend, boolean ta, boolean tb, int m, int n, int k, long seed) {
        run(backend, ta, tb, m, n, k, seed, k % 2 == 0 ? 0f : 1.5f);
    }

    private static void run(Gemm.Backend backend, boolean ta, boolean tb, int m, int n, int k, long seed,
                            float beta) {
        Gemm.setBackend(backend);
        Rng rng = new Rng(seed);
        int pad = 3;
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        int aOff = 5, bOff = 2, cOff = 7;
        float[] a = random(rng, aOff + (ta ? k : m) * lda);
        float[] b = random(rng, bOff + (tb ? n : k) * ldb);
        float[] c = random(rng, cOff + m * ldc);
        float alpha = 0.75f;
        double[][] ref = reference(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        float[] before = c.clone();
        Gemm.sgemm(ta, tb, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double e = ref[0][i * n + j], tol = 1e-5 * (1 + ref[1][i * n + j]);
                float got = c[cOff + i * ldc + j];
                assertTrue(Math.abs(got - e) <= tol, () -> backend + " ta=" + ta + " tb=" + tb + " " + m + "x" + n + "x"
                        + k + " C[" + "]: expected " + e + " got " + got);
            }
            // the padding between rows is untouched
            for (int j = n; j < ldc && i < m - 1; j++) {
                assertTrue(c[cOff + i * ldc + j] == before[cOff + i * ldc + j], "gemm wrote outside C");
            }
        }
    }

    @Test
    void javaGemmMatchesReferenceForAllTransposes() {
        for (int[] s : SHAPES) {
            for (int t = 0; t < 4; t++) {
                run(Gemm.Backend.JAVA, (t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2], 17 + t);
            }
        }
    }

    @Test
    void blasGemmMatchesReferenceForAllTransposes() {
        Assumptions.assumeTrue(OpenBlas.available(), () -> "OpenBLAS not available: " + OpenBlas.loadError());
        for (int[] s : SHAPES) {
            for (int t = 0; t < 4; t++) {
                run(Gemm.Backend.BLAS, (t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2], 31 + t);
            }
        }
    }

    /**
     * One row of A by a transposed B (token-by-token decoding) at the widths of small models: the kernel that takes
     * several rows of B at a time and folds their lane sums together, with its row remainders, its parallel blocks
     * and both beta cases.
     */
    @Test
    void oneRowByManyRowsMatchesReference() {
        int[][] shapes = {{8, 16}, {37, 64}, {45, 172}, {520, 256}, {24, 512}, {1100, 64}};
        for (int[] s : shapes) {
            for (float beta : new float[] {0f, 1.5f}) {
                run(Gemm.Backend.JAVA, false, true, 1, s[0], s[1], 7 + s[0], beta);
            }
        }
    }

    @Test
    void blasAndJavaAgree() {
        Assumptions.assumeTrue(OpenBlas.available(), () -> "OpenBLAS not available: " + OpenBlas.loadError());
        Rng rng = new Rng(5);
        int m = 257, n = 383, k = 769;
        float[] a = random(rng, m * k), b = random(rng, n * k);
        float[] viaBlas = new float[m * n], viaJava = new float[m * n];
        Gemm.setBackend(Gemm.Backend.BLAS);
        Gemm.matmulNT(a, b, viaBlas, m, n, k, false);
        Gemm.setBackend(Gemm.Backend.JAVA);
        Gemm.matmulNT(a, b, viaJava, m, n, k, false);
        // both accumulate 769 float32 products of magnitude <= 1 in different orders
        assertClose("blas vs java", viaBlas, viaJava, 1e-4, 1e-5);
    }

    /** OpenBLAS's AVX-512 kernel sets by the core names it reports; any other core keeps Java ahead at 512 bits. */
    @Test
    void openBlasCoresWithAvx512KernelsAreRecognised() {
        for (String core : new String[] {"SkylakeX", "Cooperlake", "SapphireRapids", "COOPERLAKE"}) {
            assertTrue(Gemm.blasHasAvx512(core), core);
        }
        for (String core : new String[] {"Haswell", "Zen", "Sandybridge", "Prescott", "Neoversen2", ""}) {
            assertFalse(Gemm.blasHasAvx512(core), core);
        }
        assertFalse(Gemm.blasHasAvx512(null));
    }

    @Test
    void sameInputsGiveBitIdenticalResults() {
        Rng rng = new Rng(9);
        int m = 190, n = 230, k = 310;
        float[] a = random(rng, m * k), b = random(rng, n * k);
        for (Gemm.Backend be : Gemm.Backend.values()) {
            if (be == Gemm.Backend.BLAS && !OpenBlas.available()) {
                continue;
            }
            Gemm.setBackend(be);
            float[] c1 = new float[m * n], c2 = new float[m * n];
            Gemm.matmulNT(a, b, c1, m, n, k, false);
            Gemm.matmulNT(a, b, c2, m, n, k, false);
            assertArrayEquals(c1, c2, be + " is not deterministic");
        }
    }

    @Test
    void wrongShapesNameTheShapes() {
        float[] a = new float[12], b = new float[12], c = new float[9];
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Gemm.sgemm(false, true, 3, 3, 5, 1f, a, 0, 5, b, 0, 5, 0f, c, 0, 3));
        assertTrue(e.getMessage().contains("3x5"), e.getMessage());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> Linear.forward(Tensor.zeros(2, 4), Tensor.zeros(3, 5), null, Tensor.zeros(2, 3)));
        assertTrue(bad.getMessage().contains("[2, 4]") && bad.getMessage().contains("[3, 5]"), bad.getMessage());
    }

    @Test
    void nativeLibraryLoadsFromTheMavenArtifact() {
        // The build bundles org.bytedeco:openblas for linux-x86_64; elsewhere the Java path must still work.
        String platform = OpenBlas.platform();
        if (platform.equals("linux-x86_64")) {
            assertTrue(OpenBlas.available(), "OpenBLAS failed to load: " + OpenBlas.loadError());
            assertTrue(OpenBlas.describe().contains("OpenBLAS"), OpenBlas.describe());
        }
    }
}
