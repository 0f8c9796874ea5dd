package dev.rlhf4j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * A bfloat16 weight matrix {@code [out, in]}, row-major in a {@code short[]}: half the bytes of float32, so half the
 * memory traffic of a decoding step. A bfloat16 is the top 16 bits of a float32 (8 exponent bits, 7 stored mantissa
 * bits), so widening is a 16-bit left shift and every product and sum is float32.
 *
 * <p>The streaming kernel loads {@code L} bfloat16s as a half-width vector of shorts and widens them in two
 * instructions ({@link #widen}); x is read as it is. (Loading {@code 2L} bfloat16s as ints and splitting each into
 * its even and odd element, against a de-interleaved copy of x, takes as few instructions but streamed GPT-2
 * small's weights 25–30% slower.) With 64-bit vectors there is no half-width vector of shorts, and every product
 * takes widened tiles and GEMM.
 */
public final class Bf16Matrix extends WeightMatrix {
    private static final VectorSpecies<Float> S = Simd.F;
    private static final int L = Simd.L;
    /** Whether a half-width vector of shorts exists (vectors of 128 bits or more): the streaming kernel's load. */
    private static final boolean WIDEN = S.vectorBitSize() >= 128;
    /** {@code L} shorts: half the bits of a float vector. */
    private static final VectorSpecies<Short> HALF = WIDEN
            ? VectorSpecies.of(short.class, VectorShape.forBitSize(S.vectorBitSize() / 2)) : null;
    private static final VectorSpecies<Integer> SI = VectorSpecies.of(int.class, S.vectorShape());
    /** Lane of the second of {@link VMath#sum4}'s four sums. */
    private static final int Q = VMath.SUM4_STRIDE;

    private final short[] w;

    private Bf16Matrix(short[] w, int rows, int cols) {
        super(rows, cols);
        this.w = w;
    }

    /** Wraps bfloat16 bits {@code [rows, cols]} row-major (not copied), e.g. as read from a checkpoint. */
    public static Bf16Matrix ofBits(short[] bits, int rows, int cols) {
        if ((long) rows * cols != bits.length) {
            throw new IllegalArgumentException("bf16 matrix [" + rows + ", " + cols + "] needs " + (long) rows * cols
                    + " values, got " + bits.length);
        }
        return new Bf16Matrix(bits, rows, cols);
    }

    /** Rounds a float32 matrix {@code [out, in]} to bfloat16, to nearest even ({@link #toBf16}). */
    public static Bf16Matrix of(Tensor w) {
        if (w.rank() != 2) {
            throw new IllegalArgumentException("weight matrix must be [out, in], got " + w.shapeString());
        }
        short[] bits = new short[w.size()];
        float[] d = w.data();
        int o = w.offset(), cols = w.dim(1);
        Parallel.global().forRange(w.dim(0), cols, (lo, hi) -> {
            for (int i = lo * cols, end = hi * cols; i < end; i++) {
                bits[i] = toBf16(d[o + i]);
            }
        });
        return new Bf16Matrix(bits, w.dim(0), cols);
    }

    /**
     * float32 to bfloat16 bits, rounding to nearest even as PyTorch's {@code c10::BFloat16} does: add {@code 0x7FFF}
     * plus the lowest kept bit, then truncate (a carry into the exponent rounds up to the next binade or to
     * infinity, as it should). NaN stays a quiet NaN of the same sign.
     */
    public static short toBf16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /** The float32 value of bfloat16 bits. */
    public static float fromBf16(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    /** The stored bits (not a copy), row-major. */
    public short[] bits() {
        return w;
    }

    @Override
    public String dtype() {
        return "bf16";
    }

    @Override
    public long bytes() {
        return 2L * rows * cols;
    }

    @Override
    void decode(int r, int c0, int c1, float[] dst, int off) {
        int at = r * cols + c0, n = c1 - c0, c = 0;
        if (WIDEN) {
            // the widened tiles of a prefill or a training forward: vectors, or widening costs as much as the GEMM
            for (; c <= n - L; c += L) {
                widen(w, at + c).intoArray(dst, off + c);
            }
        }
        for (; c < n; c++) {
            dst[off + c] = Float.intBitsToFloat(w[at + c] << 16);
        }
    }

    /** Columns covered by whole vector loads; the rest are a scalar tail. */
    private int vectorCols() {
        return cols / L * L;
    }

    /**
     * {@code L} bfloat16s of W from {@code at}, widened to floats: a half-width load of shorts, sign-extended to ints
     * (one {@code vpmovsxwd}) and shifted left by 16, which drops the extension bits again. Small enough that the JIT
     * always inlines it into the kernels' loops.
     */
    private static FloatVector widen(short[] w, int at) {
        return ((IntVector) ShortVector.fromArray(HALF, w, at).convertShape(VectorOperators.S2I, SI, 0))
                .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    @Override
    boolean streams() {
        return WIDEN;
    }

    @Override
    void streamRows(float[] x, int xo, int n, float[] y, int yo, int j0, int j1) {
        if (n == 1) {
            oneInputRow(x, xo, y, yo, j0, j1);
            return;
        }
        int kv = vectorCols();
        for (int i0 = 0; i0 < n; i0 += 4) {
            int count = Math.min(4, n - i0);
            // unused rows repeat the last real row: same loads, results discarded
            int r1 = i0 + Math.min(1, count - 1), r2 = i0 + Math.min(2, count - 1), r3 = i0 + Math.min(3, count - 1);
            if (VMath.SUM4) {
                // rows j and j + half together: each chunk of x is loaded once for two rows of W (half the loads of
                // x per weight); two rows far apart rather than adjacent, which streamed from memory as two
                // interleaved nearby streams are slower than one. (Five to eight rows of x read W twice; taking
                // both groups of x against each pair of rows in turn, to read it once, measured no faster: at eight
                // rows the kernel's arithmetic, not memory, is the limit.)
                int half = (j1 - j0) / 2;
                float[] acc = new float[8 * L];
                for (int j = j0; j < j0 + half; j++) {
                    twoRowsFourInputs(x, xo, kv, j, j + half, i0, r1, r2, r3, acc);
                    storeTwoRows(x, xo, kv, j, j + half, i0, r1, r2, r3, count, acc, y, yo);
                }
                if ((j1 - j0) % 2 != 0) {
                    fourInputRows(x, xo, kv, j1 - 1, i0, r1, r2, r3, count, y, yo);
                }
            } else {
                for (int j = j0; j < j1; j++) {
                    fourInputRows(x, xo, kv, j, i0, r1, r2, r3, count, y, yo);
                }
            }
        }
    }

    /**
     * Rows j and k of W against rows {@code i0, r1, r2, r3} of x over the vector-covered columns: the eight
     * accumulators go to {@code acc} for {@link #storeTwoRows} (folding them here makes the method too large for
     * the JIT to inline the fold, and vectors passed to a call it does not inline are boxed).
     */
    private void twoRowsFourInputs(float[] x, int xo, int kv, int j, int k, int i0, int r1, int r2, int r3,
                                   float[] acc) {
        int wj = j * cols, wk = k * cols;
        int e0 = xo + i0 * cols, e1 = xo + r1 * cols, e2 = xo + r2 * cols, e3 = xo + r3 * cols;
        FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                a3 = FloatVector.zero(S), b0 = FloatVector.zero(S), b1 = FloatVector.zero(S),
                b2 = FloatVector.zero(S), b3 = FloatVector.zero(S);
        for (int p = 0; p < kv; p += L) {
            FloatVector u = widen(w, wj + p), v = widen(w, wk + p);
            FloatVector xv = FloatVector.fromArray(S, x, e0 + p);
            a0 = u.fma(xv, a0);
            b0 = v.fma(xv, b0);
            xv = FloatVector.fromArray(S, x, e1 + p);
            a1 = u.fma(xv, a1);
            b1 = v.fma(xv, b1);
            xv = FloatVector.fromArray(S, x, e2 + p);
            a2 = u.fma(xv, a2);
            b2 = v.fma(xv, b2);
            xv = FloatVector.fromArray(S, x, e3 + p);
            a3 = u.fma(xv, a3);
            b3 = v.fma(xv, b3);
        }
        a0.intoArray(acc, 0);
        a1.intoArray(acc, L);
        a2.intoArray(acc, 2 * L);
        a3.intoArray(acc, 3 * L);
        b0.intoArray(acc, 4 * L);
        b1.intoArray(acc, 5 * L);
        b2.intoArray(acc, 6 * L);
        b3.intoArray(acc, 7 * L);
    }

    /** The lane sums of {@link #twoRowsFourInputs}'s accumulators plus the scalar tails, stored to y. */
    private void storeTwoRows(float[] x, int xo, int kv, int j, int k, int i0, int r1, int r2, int r3, int count,
                              float[] acc, float[] y, int yo) {
        int wj = j * cols, wk = k * cols;
        FloatVector ra = VMath.sum4(FloatVector.fromArray(S, acc, 0), FloatVector.fromArray(S, acc, L),
                FloatVector.fromArray(S, acc, 2 * L), FloatVector.fromArray(S, acc, 3 * L));
        FloatVector rb = VMath.sum4(FloatVector.fromArray(S, acc, 4 * L), FloatVector.fromArray(S, acc, 5 * L),
                FloatVector.fromArray(S, acc, 6 * L), FloatVector.fromArray(S, acc, 7 * L));
        y[yo + i0 * rows + j] = tail(x, xo + i0 * cols, kv, wj, ra.lane(0));
        y[yo + i0 * rows + k] = tail(x, xo + i0 * cols, kv, wk, rb.lane(0));
        if (count > 1) {
            y[yo + r1 * rows + j] = tail(x, xo + r1 * cols, kv, wj, ra.lane(Q));
            y[yo + r1 * rows + k] = tail(x, xo + r1 * cols, kv, wk, rb.lane(Q));
        }
        if (count > 2) {
            y[yo + r2 * rows + j] = tail(x, xo + r2 * cols, kv, wj, ra.lane(2 * Q));
            y[yo + r2 * rows + k] = tail(x, xo + r2 * cols, kv, wk, rb.lane(2 * Q));
        }
        if (count > 3) {
            y[yo + r3 * rows + j] = tail(x, xo + r3 * cols, kv, wj, ra.lane(3 * Q));
            y[yo + r3 * rows + k] = tail(x, xo + r3 * cols, kv, wk, rb.lane(3 * Q));
        }
    }

    /** Row j of W against rows {@code i0, r1, r2, r3} of x; stores the first {@code count} results. */
    private void fourInputRows(float[] x, int xo, int kv, int j, int i0, int r1, int r2, int r3, int count,
                               float[] y, int yo) {
        int wj = j * cols;
        int e0 = xo + i0 * cols, e1 = xo + r1 * cols, e2 = xo + r2 * cols, e3 = xo + r3 * cols;
        FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                a3 = FloatVector.zero(S);
        for (int p = 0; p < kv; p += L) {
            FloatVector u = widen(w, wj + p);
            a0 = u.fma(FloatVector.fromArray(S, x, e0 + p), a0);
            a1 = u.fma(FloatVector.fromArray(S, x, e1 + p), a1);
            a2 = u.fma(FloatVector.fromArray(S, x, e2 + p), a2);
            a3 = u.fma(FloatVector.fromArray(S, x, e3 + p), a3);
        }
        float d0, d1, d2, d3;
        if (VMath.SUM4) {
            // one tree fold for the four lane sums: four lane-by-lane sums cost as much as the dot products
            FloatVector r = VMath.sum4(a0, a1, a2, a3);
            d0 = r.lane(0);
            d1 = r.lane(Q);
            d2 = r.lane(2 * Q);
            d3 = r.lane(3 * Q);
        } else {
            d0 = VMath.sum(a0);
            d1 = VMath.sum(a1);
            d2 = VMath.sum(a2);
            d3 = VMath.sum(a3);
        }
        y[yo + i0 * rows + j] = tail(x, xo + i0 * cols, kv, wj, d0);
        if (count > 1) {
            y[yo + r1 * rows + j] = tail(x, xo + r1 * cols, kv, wj, d1);
        }
        if (count > 2) {
            y[yo + r2 * rows + j] = tail(x, xo + r2 * cols, kv, wj, d2);
        }
        if (count > 3) {
            y[yo + r3 * rows + j] = tail(x, xo + r3 * cols, kv, wj, d3);
        }
    }

    /**
     * One row of x against four rows of W at a time, a quarter of the block apart ({@code j, j + q, j + 2q, j + 3q}):
     * four far-apart streams rather than four adjacent rows, for the reason {@link #streamRows} pairs rows j and
     * j + half. The rows left over (block length not a multiple of four) go one at a time.
     */
    private void oneInputRow(float[] x, int xo, float[] y, int yo, int j0, int j1) {
        int kv = vectorCols(), q = (j1 - j0) / 4;
        for (int j = j0; j < j0 + q; j++) {
            int w0 = j * cols, w1 = w0 + q * cols, w2 = w1 + q * cols, w3 = w2 + q * cols;
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                    a3 = FloatVector.zero(S);
            for (int p = 0; p < kv; p += L) {
                FloatVector xv = FloatVector.fromArray(S, x, xo + p);
                a0 = widen(w, w0 + p).fma(xv, a0);
                a1 = widen(w, w1 + p).fma(xv, a1);
                a2 = widen(w, w2 + p).fma(xv, a2);
                a3 = widen(w, w3 + p).fma(xv, a3);
            }
            float d0, d1, d2, d3;
            if (VMath.SUM4) {
                FloatVector r = VMath.sum4(a0, a1, a2, a3);
                d0 = r.lane(0);
                d1 = r.lane(Q);
                d2 = r.lane(2 * Q);
                d3 = r.lane(3 * Q);
            } else {
                d0 = VMath.sum(a0);
                d1 = VMath.sum(a1);
                d2 = VMath.sum(a2);
                d3 = VMath.sum(a3);
            }
            y[yo + j] = tail(x, xo, kv, w0, d0);
            y[yo + j + q] = tail(x, xo, kv, w1, d1);
            y[yo + j + 2 * q] = tail(x, xo, kv, w2, d2);
            y[yo + j + 3 * q] = tail(x, xo, kv, w3, d3);
        }
        for (int j = j0 + 4 * q; j < j1; j++) {
            fourInputRows(x, xo, kv, j, 0, 0, 0, 0, 1, y, yo);
        }
    }

    /** {@code d + Σ_{p ≥ kv} x[p]·W[j, p]}: the columns past the last whole vector, in order. */
    private float tail(float[] x, int xRow, int kv, int wj, float d) {
        for (int p = kv; p < cols; p++) {
            d += x[xRow + p] * Float.intBitsToFloat(w[wj + p] << 16);
        }
        return d;
    }
}
