package dev.rlhf4j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Per-token log-probabilities of given tokens and per-token entropies straight from hidden states and the LM head,
 * computed in chunks over the vocabulary so that no {@code [rows, vocab]} logits matrix ever exists (PPO and DPO
 * need only these two numbers per token).
 *
 * <p>With {@code z = h·Wᵀ / temperature}, a streaming (online) log-sum-exp over vocabulary chunks keeps, per row,
 * the running maximum m, {@code Σ e^(z−m)} and {@code Σ e^(z−m)·z}; at the end {@code log Z}, {@code E_p[z]},
 * {@code log p(y) = z_y − log Z} and {@code H = log Z − E_p[z]}. The backward recomputes each chunk's logits and
 * uses
 * <pre>
 *   ∂ log p(y)/∂z_k = 1[k = y] − p_k        ∂H/∂z_k = −p_k (z_k − E_p[z])
 * </pre>
 * then {@code dh += dz·W / temperature} and {@code dW += dzᵀ·h / temperature}.
 *
 * <p>A frozen head (LoRA, packed weights) needs no {@code dW}, and without an entropy gradient
 * {@code dh_i = dlogp_i·(W_{y_i} − u_i) / temperature} with {@code u_i = Σ_k p_ik·W_k}, the head's rows averaged under
 * the row's distribution. A forward asked to {@code keepExpected} accumulates {@code u} beside the log-sum-exp, the way
 * flash attention accumulates its output (rescaled whenever the running maximum grows), so that the backward needs
 * neither the logits again nor the {@code dz·W} product: one pass over the head instead of three.
 */
public final class TokenLogProbs {
    private static final VectorSpecies<Float> S = Simd.F;
    private static final int L = Simd.L;
    static final int ROW_BLOCK = 256;
    static final int VOCAB_CHUNK = 2048;

    /**
     * Statistics the forward keeps for the backward: {@code log Z} and {@code E_p[z]} per row, and, when the forward
     * was asked to keep it, {@code u = E_p[W_k]} per row ({@code [n, D]}, else null).
     */
    public record Saved(float[] logZ, float[] meanLogit, float[] expected) {
    }

    private TokenLogProbs() {
    }

    /**
     * @param hidden      {@code [n, D]} final hidden states
     * @param w           {@code [V, D]} LM head (or tied embedding) weights
     * @param tokens      the n tokens whose log-probabilities are wanted
     * @param temperature logits are divided by it (1 for none)
     * @param logp        receives n log-probabilities
     * @param entropy     receives n entropies, or null
     * @return what the backward needs
     */
    public static Saved forward(Tensor hidden, Tensor w, int[] tokens, float temperature, float[] logp,
            float[] entropy) {
        return forward(hidden, new F32Matrix(w), tokens, temperature, logp, entropy, ROW_BLOCK, VOCAB_CHUNK);
    }

    /** As {@link #forward(Tensor, Tensor, int[], float, float[], float[])} with a head in any storage type. */
    public static Saved forward(Tensor hidden, WeightMatrix w, int[] tokens, float temperature, float[] logp,
            float[] entropy) {
        return forward(hidden, w, tokens, temperature, logp, entropy, false, ROW_BLOCK, VOCAB_CHUNK);
    }

    /**
     * As {@link #forward(Tensor, WeightMatrix, int[], float, float[], float[])}, also keeping, when
     * {@code keepExpected}, each row's {@code u = E_p[W_k]} for a backward through a frozen head without an entropy
     * gradient (costs one more product with the head here and saves two there).
     */
    public static Saved forward(Tensor hidden, WeightMatrix w, int[] tokens, float temperature, float[] logp,
            float[] entropy, boolean keepExpected) {
        return forward(hidden, w, tokens, temperature, logp, entropy, keepExpected, ROW_BLOCK, VOCAB_CHUNK);
    }

    static Saved forward(Tensor hidden, Tensor w, int[] tokens, float temperature, float[] logp, float[] entropy,
                         int rowBlock, int vocabChunk) {
        return forward(hidden, new F32Matrix(w), tokens, temperature, logp, entropy, rowBlock, vocabChunk);
    }

    static Saved forward(Tensor hidden, WeightMatrix w, int[] tokens, float temperature, float[] logp,
                         float[] entropy, int rowBlock, int vocabChunk) {
        return forward(hidden, w, tokens, temperature, logp, entropy, false, rowBlock, vocabChunk);
    }

    static Saved forward(Tensor hidden, WeightMatrix w, int[] tokens, float temperature, float[] logp,
                         float[] entropy, boolean keepExpected, int rowBlock, int vocabChunk) {
        int n = hidden.rows(), dim = hidden.cols(), vocab = w.rows();
        check(hidden, w, tokens, temperature);
        HeadChunk head = new HeadChunk(w, vocabChunk);
        if (logp.length < n || (entropy != null && entropy.length < n)) {
            throw new IllegalArgumentException("token log-probs: output arrays hold fewer than " + n + " rows");
        }
        float[] logZ = new float[n], meanZ = new float[n];
        float[] chunk = new float[rowBlock * vocabChunk];
        float[] max = new float[rowBlock], target = new float[rowBlock];
        double[] sum = new double[rowBlock], zsum = new double[rowBlock];
        float[] u = keepExpected ? new float[n * dim] : null;
        float invT = 1f / temperature;
        for (int r0 = 0; r0 < n; r0 += rowBlock) {
            int rows = Math.min(rowBlock, n - r0);
            java.util.Arrays.fill(max, Float.NEGATIVE_INFINITY);
            java.util.Arrays.fill(sum, 0);
            java.util.Arrays.fill(zsum, 0);
            for (int v0 = 0; v0 < vocab; v0 += vocabChunk) {
                int vc = Math.min(vocabChunk, vocab - v0);
                head.load(v0, vc);
                Gemm.sgemm(false, true, rows, vc, dim, invT, hidden.data(), hidden.offset() + r0 * dim, dim,
                        head.data, head.offset, dim, 0f, chunk, 0, vc);
                int base = r0, from = v0;
                Parallel.global().forRange(rows, 8 * vc, (lo, hi) -> {
                    for (int r = lo; r < hi; r++) {
                        int at = r * vc;
                        int tok = tokens[base + r];
                        if (tok >= from && tok < from + vc) {
                            target[r] = chunk[at + tok - from];
                        }
                        float cm = Math.max(max[r], VecOps.max(chunk, at, vc));
                        if (cm > max[r]) {
                            double rescale = max[r] == Float.NEGATIVE_INFINITY ? 0 : StrictMath.exp(max[r] - cm);
                            sum[r] *= rescale;
                            zsum[r] *= rescale;
                            max[r] = cm;
                            if (u != null) {
                                VecOps.scale(u, (base + r) * dim, dim, (float) rescale);
                            }
                        }
                        float[] s2 = expStats(chunk, at, vc, cm, u != null);
                        sum[r] += s2[0];
                        zsum[r] += s2[1];
                    }
                });
                if (u != null) {
                    // u += e^(z − m)·W over the chunk (the chunk now holds e^(z − m))
                    Gemm.sgemm(false, false, rows, dim, vc, 1f, chunk, 0, vc, head.data, head.offset, dim, 1f, u,
                            r0 * dim, dim);
                }
            }
            for (int r = 0; r < rows; r++) {
                float lz = (float) (max[r] + StrictMath.log(sum[r]));
                float ez = (float) (zsum[r] / sum[r]);
                logZ[r0 + r] = lz;
                meanZ[r0 + r] = ez;
                logp[r0 + r] = target[r] - lz;
                if (entropy != null) {
                    entropy[r0 + r] = lz - ez;
                }
                if (u != null) {
                    VecOps.scale(u, (r0 + r) * dim, dim, (float) (1.0 / sum[r]));
                }
            }
        }
        return new Saved(logZ, meanZ, u);
    }

    /**
     * Adds to {@code dhidden} (and {@code dw} unless null) the gradient of {@code Σ dlogp_i·log p_i + Σ
     * dentropy_i·H_i}.
     * {@code dentropy} may be null.
     */
    public static void backward(Tensor hidden, Tensor w, int[] tokens, float temperature, Saved saved,
                                float[] dlogp, float[] dentropy, Tensor dhidden, Tensor dw) {
        backward(hidden, new F32Matrix(w), tokens, temperature, saved, dlogp, dentropy, dhidden, dw, ROW_BLOCK,
                VOCAB_CHUNK);
    }

    /**
     * As {@link #backward(Tensor, Tensor, int[], float, Saved, float[], float[], Tensor, Tensor)} with a head in any
     * storage type; a packed head is frozen, so {@code dw} must then be null.
     */
    public static void backward(Tensor hidden, WeightMatrix w, int[] tokens, float temperature, Saved saved,
                                float[] dlogp, float[] dentropy, Tensor dhidden, Tensor dw) {
        backward(hidden, w, tokens, temperature, saved, dlogp, dentropy, dhidden, dw, ROW_BLOCK, VOCAB_CHUNK);
    }

    static void backward(Tensor hidden, Tensor w, int[] tokens, float temperature, Saved saved, float[] dlogp,
                         float[] dentropy, Tensor dhidden, Tensor dw, int rowBlock, int vocabChunk) {
        backward(hidden, new F32Matrix(w), tokens, temperature, saved, dlogp, dentropy, dhidden, dw, rowBlock,
                vocabChunk);
    }

    static void backward(Tensor hidden, WeightMatrix w, int[] tokens, float temperature, Saved saved, float[] dlogp,
                         float[] dentropy, Tensor dhidden, Tensor dw, int rowBlock, int vocabChunk) {
        int n = hidden.rows(), dim = hidden.cols(), vocab = w.rows();
        check(hidden, w, tokens, temperature);
        if (dw != null && !(w instanceof F32Matrix)) {
            throw new IllegalArgumentException("token log-probs backward: a " + w.dtype() + " head is frozen and "
                    + "has no weight gradient");
        }
        HeadChunk head = new HeadChunk(w, vocabChunk);
        if (dhidden.rows() != n || dhidden.cols() != dim) {
            throw new IllegalArgumentException("token log-probs backward: dhidden " + dhidden.shapeString()
                    + " must match hidden " + hidden.shapeString());
        }
        if (dw != null && (dw.dim(0) != vocab || dw.cols() != dim)) {
            throw new IllegalArgumentException("token log-probs backward: dw " + dw.shapeString() + " must match w "
                    + w);
        }
        float invT = 1f / temperature;
        if (saved.expected() != null && dw == null && dentropy == null) {
            backwardFromExpected(w, tokens, invT, saved.expected(), dlogp, dhidden);
            return;
        }
        float[] chunk = new float[rowBlock * vocabChunk];
        for (int r0 = 0; r0 < n; r0 += rowBlock) {
            int rows = Math.min(rowBlock, n - r0);
            for (int v0 = 0; v0 < vocab; v0 += vocabChunk) {
                int vc = Math.min(vocabChunk, vocab - v0);
                head.load(v0, vc);
                Gemm.sgemm(false, true, rows, vc, dim, invT, hidden.data(), hidden.offset() + r0 * dim, dim,
                        head.data, head.offset, dim, 0f, chunk, 0, vc);
                int base = r0, from = v0;
                Parallel.global().forRange(rows, 8 * vc, (lo, hi) -> {
                    for (int r = lo; r < hi; r++) {
                        int i = base + r, at = r * vc;
                        float gl = dlogp[i], gh = dentropy == null ? 0f : dentropy[i];
                        float lz = saved.logZ()[i], ez = saved.meanLogit()[i];
                        dlogits(chunk, at, vc, lz, ez, gl, gh, invT);
                        int tok = tokens[i];
                        if (tok >= from && tok < from + vc) {
                            chunk[at + tok - from] += gl * invT;
                        }
                    }
                });
                Gemm.sgemm(false, false, rows, dim, vc, 1f, chunk, 0, vc, head.data, head.offset, dim, 1f,
                        dhidden.data(), dhidden.offset() + r0 * dim, dim);
                if (dw != null) {
                    Gemm.sgemm(true, false, vc, dim, rows, 1f, chunk, 0, vc, hidden.data(), hidden.offset() + r0 * dim,
                            dim, 1f, dw.data(), dw.offset() + v0 * dim, dim);
                }
            }
        }
    }

    /** {@code dh_i += dlogp_i·(W_{y_i} − u_i) / T}: the backward through a frozen head from the forward's u. */
    private static void backwardFromExpected(WeightMatrix w, int[] tokens, float invT, float[] u, float[] dlogp,
                                             Tensor dhidden) {
        int n = dhidden.rows(), dim = dhidden.cols();
        float[] dh = dhidden.data();
        int dOff = dhidden.offset();
        Parallel.global().forRange(n, 4 * dim, (lo, hi) -> {
            float[] row = new float[dim];
            for (int i = lo; i < hi; i++) {
                float g = dlogp[i] * invT;
                if (g == 0f) {
                    continue;
                }
                w.decode(tokens[i], 0, dim, row, 0);
                int at = dOff + i * dim, ui = i * dim;
                for (int k = 0; k < dim; k++) {
                    dh[at + k] += g * (row[k] - u[ui + k]);
                }
            }
        });
    }

    /** {@code z_k ← (−gl·p_k − gh·p_k·(z_k − E[z])) / T} with {@code p_k = e^(z_k − log Z)}, in place. */
    private static void dlogits(float[] z, int at, int n, float lz, float ez, float gl, float gh, float invT) {
        FloatVector lzv = FloatVector.broadcast(S, lz), ezv = FloatVector.broadcast(S, ez);
        int k = 0, bound = S.loopBound(n);
        for (; k < bound; k += L) {
            FloatVector zv = FloatVector.fromArray(S, z, at + k);
            FloatVector p = VMath.exp(zv.sub(lzv));
            FloatVector g = p.mul(-gl).sub(p.mul(gh).mul(zv.sub(ezv)));
            g.mul(invT).intoArray(z, at + k);
        }
        for (; k < n; k++) {
            float zk = z[at + k];
            float p = VMath.exp(zk - lz);
            z[at + k] = (p * -gl - p * gh * (zk - ez)) * invT;
        }
    }

    /** Σ exp(z − m) and Σ exp(z − m)·z over {@code n} values; with {@code store}, each z is replaced by exp(z − m). */
    private static float[] expStats(float[] z, int at, int n, float m, boolean store) {
        FloatVector mv = FloatVector.broadcast(S, m);
        FloatVector s = FloatVector.zero(S), t = FloatVector.zero(S);
        int k = 0, bound = S.loopBound(n);
        for (; k < bound; k += L) {
            FloatVector zv = FloatVector.fromArray(S, z, at + k);
            FloatVector e = VMath.exp(zv.sub(mv));
            s = s.add(e);
            t = e.fma(zv, t);
            if (store) {
                e.intoArray(z, at + k);
            }
        }
        float ss = VMath.sum(s), tt = VMath.sum(t);
        for (; k < n; k++) {
            float zk = z[at + k];
            float e = VMath.exp(zk - m);
            ss += e;
            tt += e * zk;
            if (store) {
                z[at + k] = e;
            }
        }
        return new float[] {ss, tt};
    }

    /**
     * Rows {@code [v0, v0 + vc)} of the head as float32: a view of a float32 head, or widened into a reused buffer
     * from a packed one (the rows then multiply a whole block of hidden states, so widening costs little).
     */
    private static final class HeadChunk {
        private final WeightMatrix w;
        private final float[] buffer;
        float[] data;
        int offset;

        HeadChunk(WeightMatrix w, int vocabChunk) {
            this.w = w;
            this.buffer = w instanceof F32Matrix ? null : new float[Math.min(vocabChunk, w.rows()) * w.cols()];
        }

        void load(int v0, int vc) {
            if (w instanceof F32Matrix f) {
                data = f.tensor().data();
                offset = f.tensor().offset() + v0 * w.cols();
                return;
            }
            int dim = w.cols();
            Parallel.global().forRange(vc, dim, (lo, hi) -> {
                for (int r = lo; r < hi; r++) {
                    w.decode(v0 + r, 0, dim, buffer, r * dim);
                }
            });
            data = buffer;
            offset = 0;
        }
    }

    private static void check(Tensor hidden, WeightMatrix w, int[] tokens, float temperature) {
        int n = hidden.rows(), vocab = w.rows();
        if (w.cols() != hidden.cols()) {
            throw new IllegalArgumentException("token log-probs: hidden " + hidden.shapeString()
                    + " does not match head weight " + w);
        }
        if (!(temperature > 0f)) {
            throw new IllegalArgumentException("token log-probs: temperature must be positive, got " + temperature);
        }
        if (tokens.length < n) {
            throw new IllegalArgumentException("token log-probs: " + tokens.length + " tokens for " + n + " rows");
        }
        for (int i = 0; i < n; i++) {
            if (tokens[i] < 0 || tokens[i] >= vocab) {
                throw new IllegalArgumentException("token log-probs: token " + tokens[i] + " at row " + i
                        + " is outside the vocabulary of " + vocab);
            }
        }
    }
}
