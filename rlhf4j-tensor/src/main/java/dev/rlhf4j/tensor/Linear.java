package dev.rlhf4j.tensor;

/**
 * Fully connected layer {@code y = x · Wᵀ + b} (PyTorch's {@code F.linear}), W stored {@code [out, in]} as in
 * PyTorch and HF checkpoints. Forward and backward are GEMMs; the bias gradient is a column sum.
 */
public final class Linear {
    /** Columns per task of the bias-gradient column sum. */
    private static final int COL_BLOCK = 64;

    private Linear() {
    }

    /** {@code y[n, out] = x[n, in] · w[out, in]ᵀ + b[out]}; {@code b} may be null. */
    public static void forward(Tensor x, Tensor w, Tensor b, Tensor y) {
        int in = x.cols(), n = x.rows(), out = w.dim(0);
        if (w.rank() != 2 || w.dim(1) != in) {
            throw new IllegalArgumentException("linear: input " + x.shapeString() + " does not match weight "
                    + w.shapeString() + " (expected [out, " + in + "])");
        }
        if (y.cols() != out || y.rows() != n) {
            throw new IllegalArgumentException("linear: output " + y.shapeString() + " should be [" + n + ", " + out
                    + "] for input " + x.shapeString() + " and weight " + w.shapeString());
        }
        if (b != null && b.size() != out) {
            throw new IllegalArgumentException("linear: bias " + b.shapeString() + " should have " + out + " elements");
        }
        float[] yd = y.data();
        int yo = y.offset();
        float beta = 0f;
        if (b != null) {
            float[] bd = b.data();
            int bo = b.offset();
            Parallel.global().forRange(n, out, (lo, hi) -> {
                for (int r = lo; r < hi; r++) {
                    System.arraycopy(bd, bo, yd, yo + r * out, out);
                }
            });
            beta = 1f;
        }
        Gemm.sgemm(false, true, n, out, in, 1f, x.data(), x.offset(), in, w.data(), w.offset(), in, beta,
                yd, yo, out);
    }

    /**
     * Backward of {@link #forward}: {@code dx = dy · W} (overwritten, or added when {@code accumulateDx}),
     * {@code dw += dyᵀ · x}, {@code db += Σ_rows dy}. Any of {@code dx, dw, db} may be null to skip it.
     */
    public static void backward(Tensor dy, Tensor x, Tensor w, Tensor dx, boolean accumulateDx, Tensor dw, Tensor db) {
        int in = x.cols(), n = x.rows(), out = w.dim(0);
        if (dy.cols() != out || dy.rows() != n) {
            throw new IllegalArgumentException("linear backward: dy " + dy.shapeString() + " should be [" + n + ", "
                    + out + "]");
        }
        if (dx != null) {
            if (dx.cols() != in || dx.rows() != n) {
                throw new IllegalArgumentException("linear backward: dx " + dx.shapeString() + " should match x "
                        + x.shapeString());
            }
            Gemm.sgemm(false, false, n, in, out, 1f, dy.data(), dy.offset(), out, w.data(), w.offset(), in,
                    accumulateDx ? 1f : 0f, dx.data(), dx.offset(), in);
        }
        if (dw != null) {
            Tensor.requireShape("linear backward: dw", dw, out, in);
            Gemm.sgemm(true, false, out, in, n, 1f, dy.data(), dy.offset(), out, x.data(), x.offset(), in, 1f,
                    dw.data(), dw.offset(), in);
        }
        if (db != null) {
            if (db.size() != out) {
                throw new IllegalArgumentException("linear backward: db " + db.shapeString() + " should have " + out
                        + " elements");
            }
            columnSums(dy.data(), dy.offset(), n, out, db.data(), db.offset());
        }
    }

    /** {@code acc[j] += Σ_r m[r, j]} summed in row order for every column, parallel over column blocks. */
    static void columnSums(float[] m, int mo, int rows, int cols, float[] acc, int ao) {
        Parallel.global().forBlocks(cols, COL_BLOCK, (block, worker) -> {
            int c0 = block * COL_BLOCK, c1 = Math.min(cols, c0 + COL_BLOCK);
            for (int r = 0; r < rows; r++) {
                int base = mo + r * cols;
                for (int c = c0; c < c1; c++) {
                    acc[ao + c] += m[base + c];
                }
            }
        });
    }
}
