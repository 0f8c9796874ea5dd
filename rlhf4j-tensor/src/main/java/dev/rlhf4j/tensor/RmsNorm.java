package dev.rlhf4j.tensor;

/**
 * Root-mean-square normalisation (Zhang and Sennrich 2019; HF {@code LlamaRMSNorm}):
 * {@code y = x / sqrt(mean(x²) + eps) * w}. The forward saves each row's 1/rms for the backward.
 */
public final class RmsNorm {
    private static final int COL_BLOCK = 64;

    private RmsNorm() {
    }

    public static void forward(Tensor x, Tensor w, Tensor out, float[] rstd, float eps) {
        int n = x.rows(), d = x.cols();
        if (w.size() != d) {
            throw new IllegalArgumentException("rmsnorm: weight " + w.shapeString() + " must have " + d
                    + " elements for input " + x.shapeString());
        }
        Tensor.requireSameRows("rmsnorm: output vs input", out, x);
        Tensor.requireCols("rmsnorm: output", out, d);
        if (rstd.length < n) {
            throw new IllegalArgumentException("rmsnorm: statistics array holds fewer than " + n + " rows");
        }
        float[] xd = x.data(), od = out.data(), wd = w.data();
        int xo = x.offset(), oo = out.offset(), wo = w.offset();
        Parallel.global().forRange(n, 4 * d, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int xr = xo + r * d, or = oo + r * d;
                float ms = VecOps.dot(xd, xr, xd, xr, d) / d;
                float s = (float) (1.0 / Math.sqrt(ms + eps));
                for (int c = 0; c < d; c++) {
                    od[or + c] = xd[xr + c] * s * wd[wo + c];
                }
                rstd[r] = s;
            }
        });
    }

    /** {@code dx += ∂L/∂x}, {@code dw += Σ dy·x̂}; {@code dw} may be null for a frozen layer. */
    public static void backward(Tensor dy, Tensor x, Tensor w, float[] rstd, Tensor dx, Tensor dw) {
        int n = x.rows(), d = x.cols();
        Tensor.requireSameRows("rmsnorm backward: dy vs x", dy, x);
        Tensor.requireCols("rmsnorm backward: dy", dy, d);
        Tensor.requireSameRows("rmsnorm backward: dx vs x", dx, x);
        Tensor.requireCols("rmsnorm backward: dx", dx, d);
        float[] gy = dy.data(), xd = x.data(), wd = w.data(), gx = dx.data();
        int gyo = dy.offset(), xo = x.offset(), wo = w.offset(), gxo = dx.offset();
        Parallel.global().forRange(n, 4 * d, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int yr = gyo + r * d, xr = xo + r * d, dr = gxo + r * d;
                float s = rstd[r];
                float sumGN = 0f;
                for (int c = 0; c < d; c++) {
                    sumGN += gy[yr + c] * wd[wo + c] * xd[xr + c] * s;
                }
                float meanGN = sumGN / d;
                for (int c = 0; c < d; c++) {
                    float xn = xd[xr + c] * s;
                    gx[dr + c] += (gy[yr + c] * wd[wo + c] - xn * meanGN) * s;
                }
            }
        });
        if (dw == null) {
            return;
        }
        float[] gw = dw.data();
        int gwo = dw.offset();
        Parallel.global().forBlocks(d, COL_BLOCK, (block, worker) -> {
            int c0 = block * COL_BLOCK, c1 = Math.min(d, c0 + COL_BLOCK);
            for (int r = 0; r < n; r++) {
                int yr = gyo + r * d, xr = xo + r * d;
                float s = rstd[r];
                for (int c = c0; c < c1; c++) {
                    gw[gwo + c] += gy[yr + c] * xd[xr + c] * s;
                }
            }
        });
    }
}
