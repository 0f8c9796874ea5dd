package dev.rlhf4j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Transcendental functions and lane sums built only from IEEE-exact operations (add, multiply, fused multiply-add,
 * compare, integer shifts), so that they give the same bits whether the JIT has compiled the Vector API to machine
 * instructions or the interpreter runs its Java fallback, and in vector and scalar form alike. The Vector API's own
 * {@code EXP}/{@code TANH} and {@code reduceLanes(ADD)} do not promise that (the intrinsics use other algorithms and
 * orders than the fallback), which would make results depend on JIT timing.
 *
 * <p>{@code exp} follows Cephes' {@code expf} (Moshier): {@code n = round(x·log2 e)}, {@code r = x − n·ln 2} in two
 * parts, a degree-6 polynomial for {@code e^r}, and {@code 2^n} built in the exponent bits; within about 2 ulp of
 * the exact value on [−87, 88], 0 below, {@code e^88} above.
 */
public final class VMath {
    private static final VectorSpecies<Float> S = Simd.F;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, S.vectorShape());
    private static final int L = Simd.L;

    private static final float LOG2E = 1.44269504088896341f;
    private static final float C1 = 0.693359375f;
    private static final float C2 = -2.12194440e-4f;
    private static final float ROUND = 12582912f; // 1.5·2^23: adding then subtracting it rounds to an integer
    private static final float LO = -87.0f;
    private static final float HI = 88.0f;
    private static final float P0 = 1.9875691500E-4f, P1 = 1.3981999507E-3f, P2 = 8.3334519073E-3f,
            P3 = 4.1665795894E-2f, P4 = 1.6666665459E-1f, P5 = 5.0000001201E-1f;

    private VMath() {
    }

    /** e^x lane by lane. */
    public static FloatVector exp(FloatVector x) {
        VectorMask<Float> under = x.compare(VectorOperators.LT, LO);
        FloatVector xc = x.max(LO).min(HI);
        FloatVector n = xc.fma(FloatVector.broadcast(S, LOG2E), FloatVector.broadcast(S, ROUND)).sub(ROUND);
        FloatVector r = n.fma(FloatVector.broadcast(S, -C1), xc);
        r = n.fma(FloatVector.broadcast(S, -C2), r);
        FloatVector p = r.fma(FloatVector.broadcast(S, P0), FloatVector.broadcast(S, P1));
        p = p.fma(r, FloatVector.broadcast(S, P2));
        p = p.fma(r, FloatVector.broadcast(S, P3));
        p = p.fma(r, FloatVector.broadcast(S, P4));
        p = p.fma(r, FloatVector.broadcast(S, P5));
        FloatVector y = p.mul(r).fma(r, r).add(1f);
        IntVector bits = ((IntVector) n.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
        FloatVector scale = bits.reinterpretAsFloats();
        return y.mul(scale).blend(0f, under);
    }

    /** e^x, the same operations as the vector form. */
    public static float exp(float x) {
        if (x < LO) {
            return 0f;
        }
        float xc = Math.min(Math.max(x, LO), HI);
        float n = Math.fma(xc, LOG2E, ROUND) - ROUND;
        float r = Math.fma(n, -C1, xc);
        r = Math.fma(n, -C2, r);
        float p = Math.fma(r, P0, P1);
        p = Math.fma(p, r, P2);
        p = Math.fma(p, r, P3);
        p = Math.fma(p, r, P4);
        p = Math.fma(p, r, P5);
        float y = Math.fma(p * r, r, r) + 1f;
        return y * Float.intBitsToFloat(((int) n + 127) << 23);
    }

    /** tanh x = 1 − 2 / (e^{2x} + 1), saturating to ±1. */
    public static FloatVector tanh(FloatVector x) {
        FloatVector e = exp(x.mul(2f));
        return FloatVector.broadcast(S, 1f).sub(FloatVector.broadcast(S, 2f).div(e.add(1f)));
    }

    public static float tanh(float x) {
        float e = exp(2f * x);
        return 1f - 2f / (e + 1f);
    }

    /** σ(x) = 1 / (1 + e^{−x}). */
    public static FloatVector sigmoid(FloatVector x) {
        return FloatVector.broadcast(S, 1f).div(exp(x.neg()).add(1f));
    }

    public static float sigmoid(float x) {
        return 1f / (exp(-x) + 1f);
    }

    /**
     * {@code out[i] = e^((z[at + i] − shift)·scale)} for {@code i < n}, returning their sum (accumulated in double,
     * vector by vector in order): the unnormalised softmax of a row of logits at temperature {@code 1/scale}.
     */
    public static double expScaled(float[] z, int at, int n, float shift, float scale, float[] out) {
        FloatVector sv = FloatVector.broadcast(S, shift);
        double sum = 0;
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector e = exp(FloatVector.fromArray(S, z, at + i).sub(sv).mul(scale));
            e.intoArray(out, i);
            sum += sum(e);
        }
        for (; i < n; i++) {
            float e = exp((z[at + i] - shift) * scale);
            out[i] = e;
            sum += e;
        }
        return sum;
    }

    /** Sum of the lanes in lane order. */
    public static float sum(FloatVector v) {
        float s = v.lane(0);
        for (int i = 1; i < L; i++) {
            s += v.lane(i);
        }
        return s;
    }

    /** Lanes apart of the four sums in the vector {@link #sum4} returns: sum r is at lane {@code r·SUM4_STRIDE}. */
    static final int SUM4_STRIDE = Math.max(1, L / 4);
    /** Whether {@link #sum4} can fold this width (4, 8 or 16 lanes); otherwise callers use {@link #sum}. */
    static final boolean SUM4 = L == 4 || L == 8 || L == 16;
    private static final VectorShuffle<Float> FLIP_HALF = flip(L / 2), FLIP_QUARTER = flip(L / 4), FLIP_2 = flip(2),
            FLIP_1 = flip(1);
    private static final VectorMask<Float> UPPER_HALF = laneBit(L / 2), UPPER_QUARTER = laneBit(L / 4);

    /**
     * The lane sums of four vectors at once, as a tree of additions in a fixed order: the sum of {@code v_r} lands
     * at lane {@code r·SUM4_STRIDE} (the other lanes hold copies or partial sums). Folding four vectors together
     * costs about a quarter of the instructions of four {@link #sum}s (whose lane extractions dominate a short dot
     * product). The order differs from {@link #sum}'s, so the bits may too; like it, it uses only exact operations
     * (lane moves and additions), and the interpreter and compiled code agree.
     *
     * <p>Fold step for a pair {@code (a, b)} at distance {@code h}: {@code c[i] = a[i] + a[i^h]} where lane bit
     * {@code h} of i is clear and {@code b[i] + b[i^h]} where it is set; folding {@code (v0, v2)} and {@code (v1,
     * v3)} at {@code h = L/2}, then the two results at {@code h = L/4}, leaves row {@code r} in the lanes whose
     * bits {@code L/2, L/4} spell r; the lower bits are then folded within each group. Only for {@link #SUM4}
     * widths.
     */
    static FloatVector sum4(FloatVector v0, FloatVector v1, FloatVector v2, FloatVector v3) {
        FloatVector a = fold(v0, v2, FLIP_HALF, UPPER_HALF);
        FloatVector b = fold(v1, v3, FLIP_HALF, UPPER_HALF);
        FloatVector c = fold(a, b, FLIP_QUARTER, UPPER_QUARTER);
        if (L == 16) {
            c = c.add(c.rearrange(FLIP_2));
        }
        if (L >= 8) {
            c = c.add(c.rearrange(FLIP_1));
        }
        return c;
    }

    /** Whether {@link #sum8} can fold this width (16 lanes, 512-bit vectors). */
    static final boolean SUM16 = L == 16;
    private static final VectorMask<Float> UPPER_2 = laneBit(2);

    /** The first eight lanes, where {@link #sum8} leaves its sums. */
    static final VectorMask<Float> LOW8 = S.indexInRange(0, 8);
    /** Lane i takes lane 2i (i < 8): the even lanes to the low half. */
    private static final VectorShuffle<Float> EVEN_TO_LOW = evenToLow();

    /**
     * The lane sums of eight vectors (16 lanes only, {@link #SUM16}), sum r in lane r of the first eight: {@link
     * #sum4}'s fold at distances 8, 4 and 2 over pairs {@code (v_r, v_{r+4})}, {@code (r, r+2)}, {@code (r, r+1)}
     * leaves row r's partial sums in lanes 2r and 2r + 1; one more addition at distance 1 and a lane move put them
     * in order. Seven folds for eight sums and no lane extraction.
     */
    static FloatVector sum8(FloatVector v0, FloatVector v1, FloatVector v2, FloatVector v3, FloatVector v4,
                            FloatVector v5, FloatVector v6, FloatVector v7) {
        FloatVector a0 = fold(v0, v4, FLIP_HALF, UPPER_HALF), a1 = fold(v1, v5, FLIP_HALF, UPPER_HALF),
                a2 = fold(v2, v6, FLIP_HALF, UPPER_HALF), a3 = fold(v3, v7, FLIP_HALF, UPPER_HALF);
        FloatVector b0 = fold(a0, a2, FLIP_QUARTER, UPPER_QUARTER), b1 = fold(a1, a3, FLIP_QUARTER, UPPER_QUARTER);
        FloatVector c = fold(b0, b1, FLIP_2, UPPER_2);
        return c.add(c.rearrange(FLIP_1)).rearrange(EVEN_TO_LOW);
    }

    private static VectorShuffle<Float> evenToLow() {
        int[] idx = new int[L];
        for (int i = 0; i < L; i++) {
            idx[i] = (2 * i) % L;
        }
        return VectorShuffle.fromArray(S, idx, 0);
    }

    private static FloatVector fold(FloatVector a, FloatVector b, VectorShuffle<Float> flip, VectorMask<Float> upper) {
        return a.blend(b, upper).add(b.blend(a, upper).rearrange(flip));
    }

    /** Lane i takes lane {@code i ^ h} (identity where that is out of range, for widths sum4 does not fold). */
    private static VectorShuffle<Float> flip(int h) {
        int[] idx = new int[L];
        for (int i = 0; i < L; i++) {
            idx[i] = h > 0 && (i ^ h) < L ? i ^ h : i;
        }
        return VectorShuffle.fromArray(S, idx, 0);
    }

    /** Lanes whose index has bit {@code h} set. */
    private static VectorMask<Float> laneBit(int h) {
        boolean[] bits = new boolean[L];
        for (int i = 0; i < L; i++) {
            bits[i] = (i & h) != 0;
        }
        return VectorMask.fromArray(S, bits, 0);
    }
}
