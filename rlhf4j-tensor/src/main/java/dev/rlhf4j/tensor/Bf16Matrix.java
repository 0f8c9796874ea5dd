package dev.rlhf4j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * A bfloat16 weight matrix {@code [out, in]}, row-major in a {@code short[]}: half the bytes of float32, so half the
 * memory traffic of a decoding step. A bfloat16 is the top 16 bits of a float32 (8 exponent bits, 7 stored mantissa
 * bits), so widening is a 16-bit left shift and every product and sum is float32.
 *
 * <p>The streaming kernel reads one vector of {@code 2L} bfloat16s as {@code L} ints: the low half of int lane i
 * holds element {@code 2i}, the high half element {@code 2i + 1} (the Vector API reinterprets lanes in little-endian
 * order). {@code bits << 16} and {@code bits & 0xFFFF0000} are then the two elements as floats, and they multiply
 * the even and odd elements of x, de-interleaved once per call: a shift, a mask and no lane shuffles per vector.
 */
public final class Bf16Matrix extends WeightMatrix {
    private static final VectorSpecies<Float> S = Simd.F;
    private static final VectorSpecies<Short> SH = VectorSpecies.of(short.class, S.vectorShape());
    private static final int L = Simd.L;
    /** bfloat16s per vector load: two per float lane. */
    private static final int PAIR = 2 * L;
    private static final int HIGH = 0xFFFF0000;
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
        int at = r * cols + c0;
        for (int c = 0, n = c1 - c0; c < n; c++) {
            dst[off + c] = Float.intBitsToFloat(w[at + c] << 16);
        }
    }

    /** Columns covered by whole vector loads; the rest are a scalar tail. */
    private int vectorCols() {
        return cols / PAIR * PAIR;
    }

    /** Per row of x, {@code [x0, x2, x4, … | x1, x3, x5, …]} over the vector-covered columns. */
    @Override
    float[] prepareInput(float[] x, int xo, int n) {
        int kv = vectorCols(), half = kv / 2;
        float[] xp = new float[n * kv];
        for (int r = 0; r < n; r++) {
            int src = xo + r * cols, dst = r * kv;
            for (int i = 0; i < half; i++) {
                xp[dst + i] = x[src + 2 * i];
                xp[dst + half + i] = x[src + 2 * i + 1];
            }
        }
        return xp;
    }

    @Override
    void streamRows(float[] x, int xo, int n, float[] xp, float[] y, int yo, int j0, int j1) {
        if (n == 1) {
            oneInputRow(x, xo, xp, y, yo, j0, j1);
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
                // interleaved nearby streams are slower than one
                int half = (j1 - j0) / 2;
                float[] acc = new float[8 * L];
                for (int j = j0; j < j0 + half; j++) {
                    twoRowsFourInputs(xp, kv, j, j + half, i0, r1, r2, r3, acc);
                    storeTwoRows(x, xo, kv, j, j + half, i0, r1, r2, r3, count, acc, y, yo);
                }
                if ((j1 - j0) % 2 != 0) {
                    fourInputRows(x, xo, xp, kv, j1 - 1, i0, r1, r2, r3, count, y, yo);
                }
            } else {
                for (int j = j0; j < j1; j++) {
                    fourInputRows(x, xo, xp, kv, j, i0, r1, r2, r3, count, y, yo);
                }
            }
        }
    }

    /**
     * Rows j and k of W against rows {@code i0, r1, r2, r3} of x over the vector-covered columns: the eight
     * accumulators go to {@code acc} for {@link #storeTwoRows} (folding them here makes the method too large for
     * the JIT to inline the fold, and vectors passed to a call it does not inline are boxed).
     */
    private void twoRowsFourInputs(float[] xp, int kv, int j, int k, int i0, int r1, int r2, int r3, float[] acc) {
        int half = kv / 2, wj = j * cols, wk = k * cols;
        int e0 = i0 * kv, e1 = r1 * kv, e2 = r2 * kv, e3 = r3 * kv;
        FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                a3 = FloatVector.zero(S), b0 = FloatVector.zero(S), b1 = FloatVector.zero(S),
                b2 = FloatVector.zero(S), b3 = FloatVector.zero(S);
        for (int p = 0, q = 0; p < kv; p += PAIR, q += L) {
            IntVector u = ShortVector.fromArray(SH, w, wj + p).reinterpretAsInts();
            IntVector v = ShortVector.fromArray(SH, w, wk + p).reinterpretAsInts();
            FloatVector ue = u.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector uo = u.and(HIGH).reinterpretAsFloats();
            FloatVector ve = v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector vo = v.and(HIGH).reinterpretAsFloats();
            FloatVector xe = FloatVector.fromArray(S, xp, e0 + q), xd = FloatVector.fromArray(S, xp, e0 + half + q);
            a0 = uo.fma(xd, ue.fma(xe, a0));
            b0 = vo.fma(xd, ve.fma(xe, b0));
            xe = FloatVector.fromArray(S, xp, e1 + q);
            xd = FloatVector.fromArray(S, xp, e1 + half + q);
            a1 = uo.fma(xd, ue.fma(xe, a1));
            b1 = vo.fma(xd, ve.fma(xe, b1));
            xe = FloatVector.fromArray(S, xp, e2 + q);
            xd = FloatVector.fromArray(S, xp, e2 + half + q);
            a2 = uo.fma(xd, ue.fma(xe, a2));
            b2 = vo.fma(xd, ve.fma(xe, b2));
            xe = FloatVector.fromArray(S, xp, e3 + q);
            xd = FloatVector.fromArray(S, xp, e3 + half + q);
            a3 = uo.fma(xd, ue.fma(xe, a3));
            b3 = vo.fma(xd, ve.fma(xe, b3));
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
    private void fourInputRows(float[] x, int xo, float[] xp, int kv, int j, int i0, int r1, int r2, int r3,
                               int count, float[] y, int yo) {
        int half = kv / 2, wj = j * cols;
        int e0 = i0 * kv, e1 = r1 * kv, e2 = r2 * kv, e3 = r3 * kv;
        FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                a3 = FloatVector.zero(S), b0 = FloatVector.zero(S), b1 = FloatVector.zero(S),
                b2 = FloatVector.zero(S), b3 = FloatVector.zero(S);
        for (int p = 0, q = 0; p < kv; p += PAIR, q += L) {
            IntVector bits = ShortVector.fromArray(SH, w, wj + p).reinterpretAsInts();
            FloatVector even = bits.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
            FloatVector odd = bits.and(HIGH).reinterpretAsFloats();
            a0 = even.fma(FloatVector.fromArray(S, xp, e0 + q), a0);
            b0 = odd.fma(FloatVector.fromArray(S, xp, e0 + half + q), b0);
            a1 = even.fma(FloatVector.fromArray(S, xp, e1 + q), a1);
            b1 = odd.fma(FloatVector.fromArray(S, xp, e1 + half + q), b1);
            a2 = even.fma(FloatVector.fromArray(S, xp, e2 + q), a2);
            b2 = odd.fma(FloatVector.fromArray(S, xp, e2 + half + q), b2);
            a3 = even.fma(FloatVector.fromArray(S, xp, e3 + q), a3);
            b3 = odd.fma(FloatVector.fromArray(S, xp, e3 + half + q), b3);
        }
        FloatVector s0 = a0.add(b0), s1 = a1.add(b1), s2 = a2.add(b2), s3 = a3.add(b3);
        float d0, d1, d2, d3;
        if (VMath.SUM4) {
            // one tree fold for the four lane sums: four lane-by-lane sums cost as much as the dot products
            FloatVector r = VMath.sum4(s0, s1, s2, s3);
            d0 = r.lane(0);
            d1 = r.lane(Q);
            d2 = r.lane(2 * Q);
            d3 = r.lane(3 * Q);
        } else {
            d0 = VMath.sum(s0);
            d1 = VMath.sum(s1);
            d2 = VMath.sum(s2);
            d3 = VMath.sum(s3);
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

    /** One row of x against four rows of W at a time: eight independent accumulators, x's chunk loaded once. */
    private void oneInputRow(float[] x, int xo, float[] xp, float[] y, int yo, int j0, int j1) {
        int kv = vectorCols(), half = kv / 2;
        int j = j0;
        for (; j + 4 <= j1; j += 4) {
            int w0 = j * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols;
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                    a3 = FloatVector.zero(S), b0 = FloatVector.zero(S), b1 = FloatVector.zero(S),
                    b2 = FloatVector.zero(S), b3 = FloatVector.zero(S);
            for (int p = 0, q = 0; p < kv; p += PAIR, q += L) {
                FloatVector xe = FloatVector.fromArray(S, xp, q), xo2 = FloatVector.fromArray(S, xp, half + q);
                IntVector v0 = ShortVector.fromArray(SH, w, w0 + p).reinterpretAsInts();
                IntVector v1 = ShortVector.fromArray(SH, w, w1 + p).reinterpretAsInts();
                IntVector v2 = ShortVector.fromArray(SH, w, w2 + p).reinterpretAsInts();
                IntVector v3 = ShortVector.fromArray(SH, w, w3 + p).reinterpretAsInts();
                a0 = v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a0);
                b0 = v0.and(HIGH).reinterpretAsFloats().fma(xo2, b0);
                a1 = v1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a1);
                b1 = v1.and(HIGH).reinterpretAsFloats().fma(xo2, b1);
                a2 = v2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a2);
                b2 = v2.and(HIGH).reinterpretAsFloats().fma(xo2, b2);
                a3 = v3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a3);
                b3 = v3.and(HIGH).reinterpretAsFloats().fma(xo2, b3);
            }
            FloatVector s0 = a0.add(b0), s1 = a1.add(b1), s2 = a2.add(b2), s3 = a3.add(b3);
            float d0, d1, d2, d3;
            if (VMath.SUM4) {
                FloatVector r = VMath.sum4(s0, s1, s2, s3);
                d0 = r.lane(0);
                d1 = r.lane(Q);
                d2 = r.lane(2 * Q);
                d3 = r.lane(3 * Q);
            } else {
                d0 = VMath.sum(s0);
                d1 = VMath.sum(s1);
                d2 = VMath.sum(s2);
                d3 = VMath.sum(s3);
            }
            y[yo + j] = tail(x, xo, kv, w0, d0);
            y[yo + j + 1] = tail(x, xo, kv, w1, d1);
            y[yo + j + 2] = tail(x, xo, kv, w2, d2);
            y[yo + j + 3] = tail(x, xo, kv, w3, d3);
        }
        for (; j < j1; j++) {
            fourInputRows(x, xo, xp, kv, j, 0, 0, 0, 0, 1, y, yo);
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
