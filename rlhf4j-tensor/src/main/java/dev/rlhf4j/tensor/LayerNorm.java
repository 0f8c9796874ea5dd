package dev.rlhf4j.tensor;

/**
 * Layer normalisation over the last dimension ({@code nn.LayerNorm}, biased variance):
 * {@code y = (x - mean) / sqrt(var + eps) * w + b}. The forward saves each row's mean and 1/std for the backward.
 */
public final class LayerNorm {
    private static final int COL_BLOCK = 64;

    private LayerNorm() {
    }

    public static void forward(Tensor x, Tensor w, Tensor b, Tensor out, float[] mean, float[] rstd, float eps) {
        int n = x.rows(), d = x.cols();
        check(x, w, b, out, mean, rstd);
        float[] xd = x.data(), od = out.data(), wd = w.data(), bd = b.data();
        int xo = x.offset(), oo = out.offset(), wo = w.offset(), bo = b.offset();
        Parallel.global().forRange(n, 4 * d, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int xr = xo + r * d, or = oo + r * d;
                float m = VecOps.sum(xd, xr, d) / d;
                float var = VecOps.sumSquaredDiff(xd, xr, d, m) / d;
                float s = (float) (1.0 / Math.sqrt(var + eps));
                for (int c = 0; c < d; c++) {
                    od[or + c] = (xd[xr + c] - m) * s * wd[wo + c] + bd[bo + c];
                }
                mean[r] = m;
                rstd[r] = s;
            }
        });
    }

    /**
     * {@code dx += ∂L/∂x}, {@code dw += Σ dy·x̂}, {@code db += Σ dy} (x̂ the normalised input); {@code dw}/{@code db}
     * may be null for a frozen layer.
     */
    public static void backward(Tensor dy, Tensor x, Tensor w, float[] mean, float[] rstd, Tensor dx, Tensor dw,
                                Tensor db) {
        int n = x.rows(), d = x.cols();
        Tensor.requireSameRows("layernorm backward: dy vs x", dy, x);
        Tensor.requireCols("layernorm backward: dy", dy, d);
        Tensor.requireSameRows("layernorm backward: dx vs x", dx, x);
        Tensor.requireCols("layernorm backward: dx", dx, d);
        float[] gy = dy.data(), xd = x.data(), wd = w.data(), gx = dx.data();
        int gyo = dy.offset(), xo = x.offset(), wo = w.offset(), gxo = dx.offset();
        Parallel.global().forRange(n, 4 * d, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int yr = gyo + r * d, xr = xo + r * d, dr = gxo + r * d;
                float m = mean[r], s = rstd[r];
                float sumG = 0f, sumGN = 0f;
                for (int c = 0; c < d; c++) {
                    float g = gy[yr + c] * wd[wo + c];
                    sumG += g;
                    sumGN += g * (xd[xr + c] - m) * s;
                }
                float meanG = sumG / d, meanGN = sumGN / d;
                for (int c = 0; c < d; c++) {
                    float xn = (xd[xr + c] - m) * s;
                    float g = gy[yr + c] * wd[wo + c];
                    gx[dr + c] += (g - meanG - xn * meanGN) * s;
                }
            }
        });
        if (dw == null && db == null) {
            return;
        }
        float[] gw = dw == null ? null : dw.data(), gb = db == null ? null : db.data();
        int gwo = dw == null ? 0 : dw.offset(), gbo = db == null ? 0 : db.offset();
        Parallel.global().forBlocks(d, COL_BLOCK, (block, worker) -> {
            int c0 = block * COL_BLOCK, c1 = Math.min(d, c0 + COL_BLOCK);
            for (int r = 0; r < n; r++) {
                int yr = gyo + r * d, xr = xo + r * d;
                float m = mean[r], s = rstd[r];
                for (int c = c0; c < c1; c++) {
                    float g = gy[yr + c];
                    if (gw != null) {
                        gw[gwo + c] += g * (xd[xr + c] - m) * s;
                    }
                    if (gb != null) {
                        gb[gbo + c] += g;
                    }
                }
            }
        });
    }

    private static void check(Tensor x, Tensor w, Tensor b, Tensor out, float[] mean, float[] rstd) {
        int d = x.cols();
        if (w.size() != d || b.size() != d) {
            throw new IllegalArgumentException("layernorm: weight " + w.shapeString() + " and bias " + b.shapeString()
                    + " must have " + d + " elements for input " + x.shapeString());
        }
        Tensor.requireSameRows("layernorm: output vs input", out, x);
        Tensor.requireCols("layernorm: output", out, d);
        if (mean.length < x.rows() || rstd.length < x.rows()) {
            throw new IllegalArgumentException("layernorm: statistics arrays hold fewer than " + x.rows() + " rows");
        }
    }
}
