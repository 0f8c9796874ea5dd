package dev.rlhf4j.tensor;

/**
 * Softmax cross-entropy over the last dimension of a logits matrix, fused with its backward: in one pass per row
 * it computes {@code loss_i = logsumexp(z_i) − z_i[y_i]} and, when asked, overwrites the row with
 * {@code ∂L/∂z_i = scale · w_i · (softmax(z_i) − onehot(y_i))}, so no separate softmax or gradient buffer exists.
 *
 * <p>Rows whose target is {@link #IGNORE_INDEX} (PyTorch's default) or whose weight is 0 contribute nothing and get
 * a zero gradient (a weight-0 row still reports its loss in {@code perRow}). The returned value is {@code Σ_i w_i ·
 * loss_i}; the caller divides by whatever normaliser makes
 * gradient accumulation equal one large batch (total weight over all micro-batches, say) and passes the same
 * factor as {@code scale}.
 */
public final class CrossEntropy {
    public static final int IGNORE_INDEX = -100;

    private CrossEntropy() {
    }

    /**
     * @param logits    {@code [n, V]}; overwritten with the gradient when {@code writeGrad}
     * @param targets   n class indices (or {@link #IGNORE_INDEX})
     * @param weights   n per-row weights, or null for all ones
     * @param scale     factor applied to the gradient (e.g. 1 / total weight)
     * @param writeGrad whether to replace the logits with the gradient
     * @param perRow    if not null, receives each row's unweighted loss (0 for ignored rows)
     * @return the weighted loss sum {@code Σ w_i loss_i}
     */
    public static double forward(Tensor logits, int[] targets, float[] weights, float scale, boolean writeGrad,
                                 float[] perRow) {
        int n = logits.rows(), vocab = logits.cols();
        if (targets.length < n) {
            throw new IllegalArgumentException("cross-entropy: " + targets.length + " targets for logits "
                    + logits.shapeString());
        }
        if (weights != null && weights.length < n) {
            throw new IllegalArgumentException("cross-entropy: " + weights.length + " weights for logits "
                    + logits.shapeString());
        }
        if (perRow != null && perRow.length < n) {
            throw new IllegalArgumentException("cross-entropy: per-row output holds " + perRow.length + " of " + n
                    + " rows");
        }
        for (int i = 0; i < n; i++) {
            int y = targets[i];
            if (y != IGNORE_INDEX && (y < 0 || y >= vocab)) {
                throw new IllegalArgumentException("cross-entropy: target " + y + " at row " + i + " is outside [0, "
                        + vocab + ")");
            }
        }
        float[] z = logits.data();
        int zo = logits.offset();
        float[] losses = perRow != null ? perRow : new float[n];
        Parallel.global().forRange(n, 8 * vocab, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                int row = zo + i * vocab;
                int y = targets[i];
                float w = weights == null ? 1f : weights[i];
                if (y == IGNORE_INDEX) {
                    losses[i] = 0f;
                    if (writeGrad) {
                        java.util.Arrays.fill(z, row, row + vocab, 0f);
                    }
                    continue;
                }
                float target = z[row + y];
                float max = VecOps.max(z, row, vocab);
                if (writeGrad && w == 0f) {
                    losses[i] = (float) (logSumExp(z, row, vocab, max) - target);
                    java.util.Arrays.fill(z, row, row + vocab, 0f);
                } else if (writeGrad) {
                    float sum = VecOps.expShiftSum(z, row, vocab, max); // z now holds exp(z - max)
                    losses[i] = (float) (StrictMath.log(sum) + max - target);
                    float g = scale * w;
                    VecOps.scale(z, row, vocab, g / sum);
                    z[row + y] -= g;
                } else {
                    losses[i] = (float) (logSumExp(z, row, vocab, max) - target);
                }
            }
        });
        double total = 0;
        for (int i = 0; i < n; i++) {
            total += (double) (weights == null ? 1f : weights[i]) * losses[i];
        }
        return total;
    }

    private static double logSumExp(float[] z, int row, int vocab, float max) {
        return StrictMath.log(VecOps.expShiftSumNoStore(z, row, vocab, max)) + max;
    }
}
