package dev.rlhf4j.tensor;

import org.junit.jupiter.api.Test;

import java.util.function.ToDoubleFunction;

import static dev.rlhf4j.tensor.Close.assertClose;
import static dev.rlhf4j.tensor.Close.toFloat;
import static dev.rlhf4j.tensor.FiniteDifference.dot;
import static dev.rlhf4j.tensor.FiniteDifference.gradient;

/**
 * Every kernel's backward (float32) against central finite differences of a float64 re-implementation of its
 * forward, contracted with a random upstream gradient R: {@code L(x) = Σ R ⊙ f(x)}, so {@code ∂L/∂x} is exactly what
 * the backward computes from {@code dy = R}. Tolerance: 5e-5 absolute plus 5e-4 relative (float32 rounding of the
 * analytic gradient; the float64 differences are accurate to about 1e-9).
 */
class KernelGradCheckTest {
    private static final double ATOL = 5e-5, RTOL = 5e-4;
    private final Rng rng = new Rng(42);

    private double[] rand(int n) {
        return FiniteDifference.random(rng, n, 1.0);
    }

    private static Tensor t(double[] x, int... shape) {
        return Tensor.of(toFloat(x), shape);
    }

    private static void check(String what, ToDoubleFunction<double[]> loss, double[] x, Tensor analytic) {
        assertClose(what, gradient(loss, x), analytic.toArray(), ATOL, RTOL);
    }

    // ---------------------------------------------------------------- linear, embedding, residual

    static double[] linearRef(double[] x, double[] w, double[] b, int n, int in, int out) {
        double[] y = new double[n * out];
        for (int r = 0; r < n; r++) {
            for (int o = 0; o < out; o++) {
                double s = b == null ? 0 : b[o];
                for (int i = 0; i < in; i++) {
                    s += x[r * in + i] * w[o * in + i];
                }
                y[r * out + o] = s;
            }
        }
        return y;
    }

    @Test
    void linearBackwardMatchesFiniteDifferences() {
        int n = 4, in = 5, out = 3;
        double[] x = rand(n * in), w = rand(out * in), b = rand(out), r = rand(n * out);
        Tensor dx = Tensor.zeros(n, in), dw = Tensor.zeros(out, in), db = Tensor.zeros(out);
        Linear.backward(t(r, n, out), t(x, n, in), t(w, out, in), dx, false, dw, db);
        check("linear dx", v -> dot(r, linearRef(v, w, b, n, in, out)), x, dx);
        check("linear dw", v -> dot(r, linearRef(x, v, b, n, in, out)), w, dw);
        check("linear db", v -> dot(r, linearRef(x, w, v, n, in, out)), b, db);
    }

    @Test
    void embeddingBackwardMatchesFiniteDifferences() {
        int vocab = 7, d = 5;
        int[] ids = {2, 6, 2, 0, 2, 4};
        double[] table = rand(vocab * d), r = rand(ids.length * d);
        Tensor dtable = Tensor.zeros(vocab, d);
        Embedding.backward(ids, t(r, ids.length, d), dtable);
        check("embedding dtable", v -> {
            double s = 0;
            for (int i = 0; i < ids.length; i++) {
                for (int c = 0; c < d; c++) {
                    s += r[i * d + c] * v[ids[i] * d + c];
                }
            }
            return s;
        }, table, dtable);
    }

    @Test
    void residualBackwardMatchesFiniteDifferences() {
        double[] a = rand(12), b = rand(12), r = rand(12);
        Tensor da = Tensor.zeros(12), db = Tensor.zeros(12);
        Residual.backward(t(r, 12), da, db);
        check("residual da", v -> dot(r, sum(v, b)), a, da);
        check("residual db", v -> dot(r, sum(a, v)), b, db);
    }

    private static double[] sum(double[] a, double[] b) {
        double[] s = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            s[i] = a[i] + b[i];
        }
        return s;
    }

    // ---------------------------------------------------------------- norms

    static double[] layerNormRef(double[] x, double[] w, double[] b, int n, int d, double eps) {
        double[] y = new double[n * d];
        for (int r = 0; r < n; r++) {
            double m = 0, v = 0;
            for (int c = 0; c < d; c++) {
                m += x[r * d + c];
            }
            m /= d;
            for (int c = 0; c < d; c++) {
                v += (x[r * d + c] - m) * (x[r * d + c] - m);
            }
            v /= d;
            double s = 1 / Math.sqrt(v + eps);
            for (int c = 0; c < d; c++) {
                y[r * d + c] = (x[r * d + c] - m) * s * w[c] + (b == null ? 0 : b[c]);
            }
        }
        return y;
    }

    static double[] rmsNormRef(double[] x, double[] w, int n, int d, double eps) {
        double[] y = new double[n * d];
        for (int r = 0; r < n; r++) {
            double ms = 0;
            for (int c = 0; c < d; c++) {
                ms += x[r * d + c] * x[r * d + c];
            }
            double s = 1 / Math.sqrt(ms / d + eps);
            for (int c = 0; c < d; c++) {
                y[r * d + c] = x[r * d + c] * s * w[c];
            }
        }
        return y;
    }

    @Test
    void layerNormBackwardMatchesFiniteDifferences() {
        int n = 5, d = 11;
        double eps = 1e-5;
        double[] x = rand(n * d), w = rand(d), b = rand(d), r = rand(n * d);
        Tensor y = Tensor.zeros(n, d), dx = Tensor.zeros(n, d), dw = Tensor.zeros(d), db = Tensor.zeros(d);
        float[] mean = new float[n], rstd = new float[n];
        LayerNorm.forward(t(x, n, d), t(w, d), t(b, d), y, mean, rstd, (float) eps);
        assertClose("layernorm forward", layerNormRef(x, w, b, n, d, eps), y.toArray(), 1e-5, 1e-5);
        LayerNorm.backward(t(r, n, d), t(x, n, d), t(w, d), mean, rstd, dx, dw, db);
        check("layernorm dx", v -> dot(r, layerNormRef(v, w, b, n, d, eps)), x, dx);
        check("layernorm dw", v -> dot(r, layerNormRef(x, v, b, n, d, eps)), w, dw);
        check("layernorm db", v -> dot(r, layerNormRef(x, w, v, n, d, eps)), b, db);
    }

    @Test
    void rmsNormBackwardMatchesFiniteDifferences() {
        int n = 5, d = 11;
        double eps = 1e-6;
        double[] x = rand(n * d), w = rand(d), r = rand(n * d);
        Tensor y = Tensor.zeros(n, d), dx = Tensor.zeros(n, d), dw = Tensor.zeros(d);
        float[] rstd = new float[n];
        RmsNorm.forward(t(x, n, d), t(w, d), y, rstd, (float) eps);
        assertClose("rmsnorm forward", rmsNormRef(x, w, n, d, eps), y.toArray(), 1e-5, 1e-5);
        RmsNorm.backward(t(r, n, d), t(x, n, d), t(w, d), rstd, dx, dw);
        check("rmsnorm dx", v -> dot(r, rmsNormRef(v, w, n, d, eps)), x, dx);
        check("rmsnorm dw", v -> dot(r, rmsNormRef(x, v, n, d, eps)), w, dw);
    }

    // ---------------------------------------------------------------- activations

    static double geluRef(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    static double siluRef(double x) {
        return x / (1 + Math.exp(-x));
    }

    @Test
    void activationBackwardsMatchFiniteDifferences() {
        int n = 37; // not a multiple of the vector length: exercises the scalar tails
        double[] x = FiniteDifference.random(rng, n, 5.0), r = rand(n);
        Tensor dx = Tensor.zeros(n);
        Activations.geluBackward(t(x, n), t(r, n), dx);
        check("gelu dx", v -> {
            double s = 0;
            for (int i = 0; i < n; i++) {
                s += r[i] * geluRef(v[i]);
            }
            return s;
        }, x, dx);
        Activations.siluBackward(t(x, n), t(r, n), dx);
        check("silu dx", v -> {
            double s = 0;
            for (int i = 0; i < n; i++) {
                s += r[i] * siluRef(v[i]);
            }
            return s;
        }, x, dx);
        int rows = 3, h = 13;
        double[] gu = FiniteDifference.random(rng, rows * 2 * h, 3.0), ro = rand(rows * h);
        Tensor dgu = Tensor.zeros(rows, 2 * h);
        Activations.swigluBackward(t(gu, rows, 2 * h), t(ro, rows, h), dgu);
        check("swiglu dgu", v -> {
            double s = 0;
            for (int i = 0; i < rows; i++) {
                for (int j = 0; j < h; j++) {
                    s += ro[i * h + j] * siluRef(v[i * 2 * h + j]) * v[i * 2 * h + h + j];
                }
            }
            return s;
        }, gu, dgu);
    }

    // ---------------------------------------------------------------- rope

    static double[] ropeRef(double[] x, int[] pos, int rows, int width, int heads, int hd, double theta,
                            boolean interleaved) {
        double[] y = x.clone();
        int half = hd / 2;
        for (int r = 0; r < rows; r++) {
            for (int h = 0; h < heads; h++) {
                for (int i = 0; i < half; i++) {
                    float inv = (float) (1.0 / Math.pow(theta, 2.0 * i / hd));
                    double ang = (float) pos[r] * inv;
                    int i0 = r * width + h * hd + (interleaved ? 2 * i : i);
                    int i1 = interleaved ? i0 + 1 : i0 + half;
                    y[i0] = x[i0] * Math.cos(ang) - x[i1] * Math.sin(ang);
                    y[i1] = x[i0] * Math.sin(ang) + x[i1] * Math.cos(ang);
                }
            }
        }
        return y;
    }

    @Test
    void ropeBackwardMatchesFiniteDifferencesInBothConventions() {
        int rows = 6, hd = 6, heads = 3, width = 4 * hd;
        int[] pos = {0, 3, 7, 1, 1, 2};
        for (Rope.Style style : Rope.Style.values()) {
            boolean inter = style == Rope.Style.INTERLEAVED;
            double[] x = rand(rows * width), r = rand(rows * width);
            Rope rope = new Rope(hd, 8, 100.0, style);
            Tensor y = t(x, rows, width);
            rope.forward(y, pos, heads);
            assertClose("rope forward " + style, ropeRef(x, pos, rows, width, heads, hd, 100.0, inter), y.toArray(),
                    1e-6, 1e-5);
            Tensor dx = t(r, rows, width);
            rope.backward(dx, pos, heads);
            check("rope dx " + style, v -> dot(r, ropeRef(v, pos, rows, width, heads, hd, 100.0, inter)), x, dx);
        }
    }

    // ---------------------------------------------------------------- attention

    static double[] attentionRef(double[] qkv, int[] mask, int B, int T, int H, int Hkv, int hd) {
        return attentionRef(qkv, mask, null, B, T, H, Hkv, hd);
    }

    static double[] attentionRef(double[] qkv, int[] mask, int[] keyStart, int B, int T, int H, int Hkv, int hd) {
        int W = (H + 2 * Hkv) * hd, rep = H / Hkv;
        double[] out = new double[B * T * H * hd];
        double scale = 1 / Math.sqrt(hd);
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < H; h++) {
                int g = h / rep;
                for (int t = 0; t < T; t++) {
                    double[] s = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int k = 0; k <= t; k++) {
                        if ((mask != null && mask[b * T + k] == 0) || (keyStart != null && k < keyStart[b * T + t])) {
                            s[k] = Double.NEGATIVE_INFINITY;
                            continue;
                        }
                        double acc = 0;
                        for (int d = 0; d < hd; d++) {
                            acc += qkv[(b * T + t) * W + h * hd + d] * qkv[(b * T + k) * W + (H + g) * hd + d];
                        }
                        s[k] = acc * scale;
                        max = Math.max(max, s[k]);
                    }
                    if (max == Double.NEGATIVE_INFINITY) {
                        continue;
                    }
                    double z = 0;
                    for (int k = 0; k <= t; k++) {
                        s[k] = Math.exp(s[k] - max);
                        z += s[k];
                    }
                    for (int k = 0; k <= t; k++) {
                        for (int d = 0; d < hd; d++) {
                            out[(b * T + t) * H * hd + h * hd + d] += s[k] / z
                                    * qkv[(b * T + k) * W + (H + Hkv + g) * hd + d];
                        }
                    }
                }
            }
        }
        return out;
    }

    private void attentionCase(int B, int T, int H, int Hkv, int hd, int[] mask) {
        Attention.Dims dims = new Attention.Dims(B, T, H, Hkv, hd);
        int W = dims.qkvWidth(), OW = dims.outWidth();
        double[] qkv = FiniteDifference.random(rng, B * T * W, 1.5), r = rand(B * T * OW);
        Tensor out = Tensor.zeros(B * T, OW);
        float[] probs = new float[(int) dims.probsSize()];
        Attention.forward(dims, t(qkv, B * T, W), mask, out, probs, null);
        assertClose("attention forward " + dims, attentionRef(qkv, mask, B, T, H, Hkv, hd), out.toArray(), 1e-5, 1e-5);
        Tensor dqkv = Tensor.zeros(B * T, W);
        Attention.backward(dims, t(r, B * T, OW), t(qkv, B * T, W), probs, dqkv, null);
        check("attention dqkv " + dims, v -> dot(r, attentionRef(v, mask, B, T, H, Hkv, hd)), qkv, dqkv);
    }

    @Test
    void packedDocumentsDoNotAttendAcrossTheirBoundaries() {
        // row 0: documents at [0, 3) and [3, 7); row 1: one document, padded after position 5
        int B = 2, T = 7, H = 4, Hkv = 2, hd = 4;
        int[] keyStart = {0, 0, 0, 3, 3, 3, 3, 0, 0, 0, 0, 0, 0, 0};
        int[] mask = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
        Attention.Dims dims = new Attention.Dims(B, T, H, Hkv, hd);
        int W = dims.qkvWidth(), OW = dims.outWidth();
        double[] qkv = FiniteDifference.random(rng, B * T * W, 1.5), r = rand(B * T * OW);
        Tensor out = Tensor.zeros(B * T, OW);
        float[] probs = new float[(int) dims.probsSize()];
        Attention.forward(dims, t(qkv, B * T, W), mask, keyStart, out, probs, null);
        assertClose("packed attention forward", attentionRef(qkv, mask, keyStart, B, T, H, Hkv, hd), out.toArray(),
                1e-5, 1e-5);
        Tensor dqkv = Tensor.zeros(B * T, W);
        Attention.backward(dims, t(r, B * T, OW), t(qkv, B * T, W), probs, dqkv, null);
        check("packed attention dqkv", v -> dot(r, attentionRef(v, mask, keyStart, B, T, H, Hkv, hd)), qkv, dqkv);
    }

    @Test
    void attentionBackwardMatchesFiniteDifferencesWithMultiHeadAttention() {
        attentionCase(2, 5, 2, 2, 4, null);
    }

    @Test
    void attentionBackwardMatchesFiniteDifferencesWithGroupedQueriesAndPadding() {
        // batch 0 right-padded, batch 1 left-padded, batch 2 with a masked key in the middle
        int[] mask = {1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1};
        attentionCase(3, 6, 4, 2, 3, mask);
    }

    @Test
    void attentionBackwardMatchesFiniteDifferencesWithOneKeyValueHead() {
        attentionCase(1, 9, 3, 1, 10, new int[] {0, 1, 1, 1, 1, 1, 1, 1, 1});
    }

    // ---------------------------------------------------------------- losses

    static double ceRef(double[] z, int[] targets, double[] w, int n, int v, double scale) {
        double total = 0;
        for (int i = 0; i < n; i++) {
            if (targets[i] == CrossEntropy.IGNORE_INDEX) {
                continue;
            }
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < v; j++) {
                max = Math.max(max, z[i * v + j]);
            }
            double s = 0;
            for (int j = 0; j < v; j++) {
                s += Math.exp(z[i * v + j] - max);
            }
            total += w[i] * (Math.log(s) + max - z[i * v + targets[i]]);
        }
        return scale * total;
    }

    @Test
    void crossEntropyGradientMatchesFiniteDifferences() {
        int n = 5, v = 19;
        double[] z = FiniteDifference.random(rng, n * v, 4.0);
        int[] targets = {3, CrossEntropy.IGNORE_INDEX, 18, 0, 7};
        double[] w = {1, 1, 0.5, 2, 0.25};
        float scale = 0.3f;
        Tensor logits = t(z, n, v);
        double sum = CrossEntropy.forward(logits, targets, toFloat(w), scale, true, null);
        org.junit.jupiter.api.Assertions.assertEquals(ceRef(z, targets, w, n, v, 1.0), sum, 1e-5);
        check("cross-entropy dlogits", x -> ceRef(x, targets, w, n, v, scale), z, logits);
    }

    static double logProbsRef(double[] h, double[] w, int[] tokens, int n, int d, int v, double temp, double[] gl,
                              double[] ge) {
        double total = 0;
        for (int i = 0; i < n; i++) {
            double[] z = new double[v];
            double max = Double.NEGATIVE_INFINITY;
            for (int k = 0; k < v; k++) {
                double s = 0;
                for (int c = 0; c < d; c++) {
                    s += h[i * d + c] * w[k * d + c];
                }
                z[k] = s / temp;
                max = Math.max(max, z[k]);
            }
            double sum = 0;
            for (int k = 0; k < v; k++) {
                sum += Math.exp(z[k] - max);
            }
            double logZ = Math.log(sum) + max, ent = 0;
            for (int k = 0; k < v; k++) {
                double lp = z[k] - logZ;
                ent -= Math.exp(lp) * lp;
            }
            total += gl[i] * (z[tokens[i]] - logZ) + ge[i] * ent;
        }
        return total;
    }

    @Test
    void tokenLogProbsGradientMatchesFiniteDifferencesAcrossVocabularyChunks() {
        int n = 5, d = 6, v = 23;
        double temp = 0.8;
        double[] h = rand(n * d), w = rand(v * d), gl = rand(n), ge = rand(n);
        int[] tokens = {0, 22, 5, 5, 13};
        Tensor dh = Tensor.zeros(n, d), dw = Tensor.zeros(v, d);
        float[] logp = new float[n], ent = new float[n];
        TokenLogProbs.Saved saved = TokenLogProbs.forward(t(h, n, d), t(w, v, d), tokens, (float) temp, logp, ent, 2,
                8);
        TokenLogProbs.backward(t(h, n, d), t(w, v, d), tokens, (float) temp, saved, toFloat(gl), toFloat(ge), dh, dw,
                2, 8);
        check("logprobs dh", x -> logProbsRef(x, w, tokens, n, d, v, temp, gl, ge), h, dh);
        check("logprobs dw", x -> logProbsRef(h, x, tokens, n, d, v, temp, gl, ge), w, dw);
    }

    /**
     * A frozen head without an entropy gradient: the forward keeps u = E_p[W_k] (accumulated chunk by chunk with the
     * running maximum rescaled, so chunks of 8 over 37 words with rows of very different scale exercise the rescale)
     * and the backward uses it; against finite differences and against the backward that recomputes the logits.
     */
    @Test
    void frozenHeadBackwardFromTheForwardsExpectedRowMatchesFiniteDifferences() {
        int n = 7, d = 6, v = 37;
        double temp = 0.7;
        double[] h = rand(n * d), w = rand(v * d), gl = rand(n), ge = new double[n];
        for (int i = 0; i < d; i++) {
            h[3 * d + i] *= 12; // a peaked row: its maximum moves a lot between chunks
        }
        int[] tokens = {0, 36, 5, 5, 13, 8, 31};
        float[] logp = new float[n], ent = new float[n], logp2 = new float[n];
        TokenLogProbs.Saved kept = TokenLogProbs.forward(t(h, n, d), new F32Matrix(t(w, v, d)), tokens, (float) temp,
                logp, ent, true, 3, 8);
        org.junit.jupiter.api.Assertions.assertNotNull(kept.expected(), "the forward keeps u when asked");
        TokenLogProbs.Saved plain = TokenLogProbs.forward(t(h, n, d), new F32Matrix(t(w, v, d)), tokens,
                (float) temp, logp2, null, false, 3, 8);
        org.junit.jupiter.api.Assertions.assertNull(plain.expected());
        org.junit.jupiter.api.Assertions.assertArrayEquals(logp2, logp, "keeping u leaves the log-probs as they are");
        Tensor fused = Tensor.zeros(n, d), recomputed = Tensor.zeros(n, d);
        TokenLogProbs.backward(t(h, n, d), new F32Matrix(t(w, v, d)), tokens, (float) temp, kept, toFloat(gl), null,
                fused, null, 3, 8);
        TokenLogProbs.backward(t(h, n, d), new F32Matrix(t(w, v, d)), tokens, (float) temp, plain, toFloat(gl), null,
                recomputed, null, 3, 8);
        check("frozen-head dh from u", x -> logProbsRef(x, w, tokens, n, d, v, temp, gl, ge), h, fused);
        // both are float32 evaluations of the same sum: within a few ulps of the largest term, times the vocabulary
        assertClose("u path vs recompute path", recomputed.toArray(), fused.toArray(), 1e-5, 1e-4);
    }
}
