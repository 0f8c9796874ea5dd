package dev.rlhf4j.tensor;

/**
 * Global-norm gradient clipping (PyTorch's {@code clip_grad_norm_}): the L2 norm over all gradients together,
 * and when it exceeds {@code maxNorm} every gradient is scaled by {@code maxNorm / (norm + 1e-6)}. The norm is
 * accumulated in double over fixed blocks combined in order, so it is the same on any thread count.
 */
public final class GradClip {
    private static final int BLOCK = 1 << 16;

    private GradClip() {
    }

    /** The global L2 norm of all values in the arena. */
    public static double globalNorm(ParamArena grads) {
        double total = 0;
        for (int c = 0; c < grads.chunkCount(); c++) {
            float[] g = grads.chunk(c);
            int blocks = (g.length + BLOCK - 1) / BLOCK;
            double[] partial = new double[blocks];
            Parallel.global().forBlocks(g.length, BLOCK, (block, worker) -> {
                int lo = block * BLOCK, hi = Math.min(g.length, lo + BLOCK);
                double s = 0;
                for (int i = lo; i < hi; i++) {
                    s += (double) g[i] * g[i];
                }
                partial[block] = s;
            });
            for (double s : partial) {
                total += s;
            }
        }
        return Math.sqrt(total);
    }

    /**
     * Scales the gradients down when their global norm exceeds {@code maxNorm} and returns the norm measured
     * before clipping (possibly NaN or infinite: the caller's guard decides what to do then).
     */
    public static double clip(ParamArena grads, double maxNorm) {
        return clip(java.util.List.of(grads), maxNorm);
    }

    /**
     * Clipping over several arenas together (PPO's policy and value model, as one optimizer over both would clip):
     * the norm is over all their values, and all are scaled by the same factor.
     */
    public static double clip(java.util.List<ParamArena> arenas, double maxNorm) {
        double sq = 0;
        for (ParamArena a : arenas) {
            double n = globalNorm(a);
            sq += n * n;
        }
        double norm = Math.sqrt(sq);
        if (maxNorm > 0 && Double.isFinite(norm) && norm > maxNorm) {
            float f = (float) (maxNorm / (norm + 1e-6));
            for (ParamArena grads : arenas) {
                scale(grads, f);
            }
        }
        return norm;
    }

    /** Multiplies every value in the arena by {@code f}. */
    public static void scale(ParamArena grads, float f) {
        for (int c = 0; c < grads.chunkCount(); c++) {
            float[] g = grads.chunk(c);
            Parallel.global().forBlocks(g.length, BLOCK, (block, worker) -> {
                int lo = block * BLOCK, hi = Math.min(g.length, lo + BLOCK);
                for (int i = lo; i < hi; i++) {
                    g[i] *= f;
                }
            });
        }
    }
}
