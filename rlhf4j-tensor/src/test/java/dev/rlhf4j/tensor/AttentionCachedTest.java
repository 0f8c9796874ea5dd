package dev.rlhf4j.tensor;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Attention over the generation cache ({@link Attention#appendToCache}, {@link Attention#forwardCached}) against
 * causal attention computed in double straight from the formula, {@code out_t = Σ_{s≤t, kept} softmax_s(q_t·k_s/√d)
 * v_s}, over whole sequences fed as a prefill and then one token per call: shapes where the query heads of a
 * key/value group pair up (2 and 4 per group), where one is left over (3 per group) and plain multi-head attention
 * (1 per group); head sizes that are and are not multiples of 4; sequences that cross several vector-sized tiles of
 * the cache; left padding; and a cache whose unused slots hold NaN (as a stale cache may hold anything).
 *
 * <p>Tolerance, from a first-order bound of float32 arithmetic (unit roundoff u = 2⁻²⁴, γ_k = k·u): a score
 * {@code q·k/√d} of hd products and the scaling carries at most {@code ε = γ_(hd+1)·Σ_d|q_d k_d|/√d}; a softmax
 * weight {@code e^(score − max)/Σ} then carries a relative error of at most 4ε (its score, the maximum's, and the
 * rounding of the difference, at most {@code u·|score − max|} ≤ 2ε), plus 2 ulp = 4u from the exponential,
 * γ_n from the sum of n weights and a few single roundings (the reciprocal of the sum, the final product): 4u;
 * the weighted sum of n values adds γ_n relative to {@code Σ_s p_s|v_s|}. The tolerance is that relative error
 * times {@code Σ_s p_s|v_s|}, doubled for the second-order terms.
 */
class AttentionCachedTest {
    private static final double U = Math.ulp(1.0f) / 2;

    private record Shape(int batch, int heads, int kvHeads, int headDim, int seq, int prompt) {
    }

    @Test
    void prefillThenOneTokenAtATimeMatchesDirectAttentionInDouble() {
        Shape[] shapes = {
            new Shape(1, 8, 4, 8, 40, 1),   // stories260K: two query heads per key/value head
            new Shape(3, 8, 2, 8, 37, 5),   // four per group
            new Shape(2, 6, 2, 12, 35, 7),  // three per group: a pair and one left over
            new Shape(2, 4, 4, 5, 19, 3),   // multi-head, a head size that is not a multiple of 4
            new Shape(1, 2, 1, 16, 70, 33), // a long prefill
        };
        long seed = 1;
        for (Shape sh : shapes) {
            for (boolean padFirst : new boolean[] {false, true}) {
                check(sh, padFirst, seed++);
            }
        }
    }

    private static void check(Shape sh, boolean padFirst, long seed) {
        int B = sh.batch(), T = sh.seq(), H = sh.heads(), Hkv = sh.kvHeads(), hd = sh.headDim();
        Attention.Dims whole = new Attention.Dims(B, T, H, Hkv, hd);
        int W = whole.qkvWidth(), OW = whole.outWidth();
        Rng rng = new Rng(seed);
        float[] qkv = new float[B * T * W];
        for (int i = 0; i < qkv.length; i++) {
            qkv[i] = (float) (2 * rng.nextDouble() - 1);
        }
        // sequence 0 is left-padded by 2 slots when asked (its first real token is slot 2)
        int[] mask = new int[B * T];
        Arrays.fill(mask, 1);
        if (padFirst) {
            mask[0] = 0;
            mask[1] = 0;
        }
        int cap = (T + Attention.cacheAlign() - 1) / Attention.cacheAlign() * Attention.cacheAlign();
        float[] kc = new float[B * Hkv * hd * cap], vc = new float[kc.length];
        Arrays.fill(kc, Float.NaN);
        Arrays.fill(vc, Float.NaN);
        int[] slotMask = new int[B * cap];
        Attention.Scratch scratch = new Attention.Scratch();
        String what = sh + (padFirst ? " padded" : "");
        int start = 0;
        while (start < T) {
            int n = start == 0 ? sh.prompt() : 1;
            Attention.Dims dims = new Attention.Dims(B, n, H, Hkv, hd);
            float[] rows = new float[B * n * W];
            for (int b = 0; b < B; b++) {
                System.arraycopy(qkv, (b * T + start) * W, rows, b * n * W, n * W);
                for (int t = 0; t < n; t++) {
                    slotMask[b * cap + start + t] = mask[b * T + start + t];
                }
            }
            Tensor in = Tensor.view(rows, 0, B * n, W);
            float[] out = new float[B * n * OW];
            Arrays.fill(out, Float.NaN);
            Attention.appendToCache(dims, in, kc, vc, cap, start);
            Attention.forwardCached(dims, in, kc, vc, cap, start, slotMask, Tensor.view(out, 0, B * n, OW), scratch);
            for (int b = 0; b < B; b++) {
                for (int t = 0; t < n; t++) {
                    for (int h = 0; h < H; h++) {
                        double[][] ref = reference(qkv, mask, whole, b, start + t, h);
                        for (int d = 0; d < hd; d++) {
                            float got = out[(b * n + t) * OW + h * hd + d];
                            double tol = ref[1][d];
                            if (!(Math.abs(got - ref[0][d]) <= tol)) {
                                fail(what + ": b" + b + " slot " + (start + t) + " head " + h + " dim " + d
                                        + ": expected " + ref[0][d] + " got " + got + " (tolerance " + tol + ")");
                            }
                        }
                    }
                }
            }
            start += n;
        }
    }

    /**
     * Row {@code [0]}: the output of query head h at slot t of sequence b, in double; row {@code [1]}: its tolerance.
     * A query that sees no real key has a zero output.
     */
    private static double[][] reference(float[] qkv, int[] mask, Attention.Dims dims, int b, int t, int h) {
        int T = dims.seq(), H = dims.heads(), Hkv = dims.kvHeads(), hd = dims.headDim(), W = dims.qkvWidth();
        int g = h / (H / Hkv);
        double scale = 1.0 / Math.sqrt(hd);
        int q = (b * T + t) * W + h * hd;
        double[] score = new double[t + 1];
        double max = Double.NEGATIVE_INFINITY, scoreErr = 0;
        for (int s = 0; s <= t; s++) {
            if (mask[b * T + s] == 0) {
                continue;
            }
            int k = (b * T + s) * W + (H + g) * hd;
            double dot = 0, abs = 0;
            for (int d = 0; d < hd; d++) {
                dot += (double) qkv[q + d] * qkv[k + d];
                abs += Math.abs((double) qkv[q + d] * qkv[k + d]);
            }
            score[s] = dot * scale;
            max = Math.max(max, score[s]);
            scoreErr = Math.max(scoreErr, (hd + 1) * U * abs * scale);
        }
        double[] out = new double[hd], tol = new double[hd];
        if (max == Double.NEGATIVE_INFINITY) {
            Arrays.fill(tol, 0.0);
            return new double[][] {out, tol};
        }
        double sum = 0;
        double[] p = new double[t + 1];
        for (int s = 0; s <= t; s++) {
            p[s] = mask[b * T + s] == 0 ? 0 : Math.exp(score[s] - max);
            sum += p[s];
        }
        int n = t + 1;
        double rel = 4 * scoreErr + 4 * U + n * U + 4 * U + n * U;
        for (int d = 0; d < hd; d++) {
            double acc = 0, absAcc = 0;
            for (int s = 0; s <= t; s++) {
                double v = qkv[(b * T + s) * W + (H + Hkv + g) * hd + d];
                acc += p[s] / sum * v;
                absAcc += p[s] / sum * Math.abs(v);
            }
            out[d] = acc;
            tol[d] = 2 * rel * absAcc + Float.MIN_NORMAL;
        }
        return new double[][] {out, tol};
    }

    @Test
    void theCacheOfOneSequenceIsOneContiguousRunPerKeyValueHead() {
        // appendToCache's layout: tiles of L slots, each transposed; a head's slots [0, n) fill the first n·hd floats
        int L = Attention.cacheAlign(), hd = 3, cap = 2 * L, T = cap;
        Attention.Dims dims = new Attention.Dims(1, T, 1, 1, hd);
        float[] qkv = new float[T * dims.qkvWidth()];
        for (int t = 0; t < T; t++) {
            for (int d = 0; d < hd; d++) {
                qkv[t * dims.qkvWidth() + hd + d] = 1000 * t + d; // key
                qkv[t * dims.qkvWidth() + 2 * hd + d] = -(1000 * t + d); // value
            }
        }
        float[] kc = new float[hd * cap], vc = new float[hd * cap];
        Attention.appendToCache(dims, Tensor.view(qkv, 0, T, dims.qkvWidth()), kc, vc, cap, 0);
        for (int s = 0; s < T; s++) {
            for (int d = 0; d < hd; d++) {
                int at = s / L * hd * L + d * L + s % L;
                assertEquals(1000 * s + d, kc[at], "key slot " + s + " dim " + d);
                assertEquals(-(1000 * s + d), vc[at], "value slot " + s + " dim " + d);
            }
        }
        assertTrue(cap % L == 0);
    }
}
