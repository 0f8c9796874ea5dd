package dev.rlhf4j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * AdamW (Loshchilov and Hutter 2019): Adam with bias correction and weight decay decoupled from the gradient,
 * applied only to the arena's decayed range (matrices; not norms or biases). The update follows PyTorch's
 * {@code torch.optim.AdamW} operation for operation so that runs can be compared step by step:
 * <pre>
 *   p ← p·(1 − lr·λ)                    (decayed tensors only)
 *   m ← m + (1 − β1)(g − m)             v ← β2·v + (1 − β2)·g²
 *   p ← p − lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + ε)
 * </pre>
 * Its state is two arenas (m, v) of the parameters' layout and the step count.
 */
public final class AdamW {
    private static final int BLOCK = 1 << 14;
    private static final VectorSpecies<Float> S = Simd.F;
    private static final int L = Simd.L;

    /** Hyper-parameters, PyTorch's names and defaults but for weight decay (set per run). */
    public record Config(float beta1, float beta2, float eps, float weightDecay) {
        public Config {
            if (!(beta1 >= 0f && beta1 < 1f) || !(beta2 >= 0f && beta2 < 1f)) {
                throw new UserError("AdamW betas must be in [0, 1): " + beta1 + ", " + beta2);
            }
            if (!(eps > 0f)) {
                throw new UserError("AdamW eps must be positive: " + eps);
            }
            if (!(weightDecay >= 0f)) {
                throw new UserError("AdamW weight decay must be non-negative: " + weightDecay);
            }
        }

        public static Config defaults(float weightDecay) {
            return new Config(0.9f, 0.999f, 1e-8f, weightDecay);
        }
    }

    private final Config config;
    private final ParamArena m;
    private final ParamArena v;
    private long step;

    public AdamW(Config config, ParamArena params) {
        this.config = config;
        this.m = params.zerosLike("AdamW's first moments");
        this.v = params.zerosLike("AdamW's second moments");
    }

    public Config config() {
        return config;
    }

    /** Number of updates taken so far. */
    public long step() {
        return step;
    }

    /** First-moment state (for checkpoints). */
    public ParamArena firstMoment() {
        return m;
    }

    /** Second-moment state (for checkpoints). */
    public ParamArena secondMoment() {
        return v;
    }

    /**
     * Restores the step count (the moments are restored through {@link #firstMoment()} and {@link #secondMoment()}).
     */
    public void setStep(long step) {
        this.step = step;
    }

    /** One update of {@code params} from {@code grads} with learning rate {@code lr}. */
    public void update(ParamArena params, ParamArena grads, float lr) {
        if (!params.sameLayout(grads) || !params.sameLayout(m)) {
            throw new IllegalArgumentException("AdamW: parameter, gradient and state arenas differ in layout");
        }
        step++;
        float b1 = config.beta1(), b2 = config.beta2(), eps = config.eps();
        float bc1 = 1f - (float) StrictMath.pow(b1, step);
        float bc2Sqrt = (float) Math.sqrt(1.0 - StrictMath.pow(b2, step));
        float stepSize = lr / bc1;
        float decay = 1f - lr * config.weightDecay();
        for (int c = 0; c < params.chunkCount(); c++) {
            float[] p = params.chunk(c), g = grads.chunk(c), mm = m.chunk(c), vv = v.chunk(c);
            int decayEnd = params.decayEnd(c);
            Parallel.global().forBlocks(p.length, BLOCK, (block, worker) -> {
                int lo = block * BLOCK, hi = Math.min(p.length, lo + BLOCK);
                int split = Math.max(lo, Math.min(hi, decayEnd));
                update(p, g, mm, vv, lo, split, decay, b1, b2, eps, stepSize, bc2Sqrt);
                update(p, g, mm, vv, split, hi, 1f, b1, b2, eps, stepSize, bc2Sqrt);
            });
        }
    }

    /** The update on {@code [lo, hi)}; the vector and scalar loops perform the same operations in the same order. */
    private static void update(float[] p, float[] g, float[] m, float[] v, int lo, int hi, float decay, float b1,
                               float b2, float eps, float stepSize, float bc2Sqrt) {
        int i = lo;
        FloatVector vDecay = FloatVector.broadcast(S, decay), vB2 = FloatVector.broadcast(S, b2);
        float c1 = 1f - b1, c2 = 1f - b2;
        for (; i + L <= hi; i += L) {
            FloatVector gi = FloatVector.fromArray(S, g, i);
            FloatVector mi = FloatVector.fromArray(S, m, i);
            FloatVector pi = FloatVector.fromArray(S, p, i).mul(vDecay);
            mi = mi.add(gi.sub(mi).mul(c1));
            FloatVector vi = vB2.mul(FloatVector.fromArray(S, v, i)).add(gi.mul(c2).mul(gi));
            mi.intoArray(m, i);
            vi.intoArray(v, i);
            FloatVector denom = vi.lanewise(VectorOperators.SQRT).div(bc2Sqrt).add(eps);
            pi.sub(mi.div(denom).mul(stepSize)).intoArray(p, i);
        }
        for (; i < hi; i++) {
            float gi = g[i];
            float pi = p[i] * decay;
            float mi = m[i] + (gi - m[i]) * c1;
            float vi = b2 * v[i] + gi * c2 * gi;
            m[i] = mi;
            v[i] = vi;
            p[i] = pi - mi / ((float) Math.sqrt(vi) / bc2Sqrt + eps) * stepSize;
        }
    }
}
