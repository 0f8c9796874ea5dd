package dev.rlhf4j.tensor;

/**
 * A float32 weight matrix: a view of a {@link Tensor} {@code [out, in]} (usually in a parameter arena, so it can be
 * trained), multiplied through {@link Linear}, {@link Gemm} and {@link Embedding} as before.
 */
public final class F32Matrix extends WeightMatrix {
    private final Tensor w;

    public F32Matrix(Tensor w) {
        super(requireMatrix(w).dim(0), w.dim(1));
        this.w = w;
    }

    static Tensor requireMatrix(Tensor w) {
        if (w.rank() != 2) {
            throw new IllegalArgumentException("weight matrix must be [out, in], got " + w.shapeString());
        }
        return w;
    }

    /** The wrapped tensor (not a copy). */
    public Tensor tensor() {
        return w;
    }

    @Override
    public String dtype() {
        return "f32";
    }

    @Override
    public long bytes() {
        return 4L * rows * cols;
    }

    @Override
    void decode(int r, int c0, int c1, float[] dst, int off) {
        System.arraycopy(w.data(), w.offset() + r * cols + c0, dst, off, c1 - c0);
    }

    @Override
    void streamRows(float[] x, int xo, int n, float[] y, int yo, int j0, int j1) {
        SmallGemm.sgemmNT(n, j1 - j0, cols, 1f, x, xo, cols, w.data(), w.offset() + j0 * cols, cols, 0f, y, yo + j0,
                rows);
    }

    @Override
    public Tensor toF32() {
        return w.copy();
    }

    @Override
    public void forward(Tensor x, Tensor b, Tensor y) {
        Linear.forward(x, w, b, y);
    }

    @Override
    public void backwardInput(Tensor dy, Tensor dx, boolean accumulate) {
        int n = dy.rows();
        if (dy.cols() != rows || dx.cols() != cols || dx.rows() != n) {
            throw new IllegalArgumentException("weight backward: dy " + dy.shapeString() + " and dx "
                    + dx.shapeString() + " do not fit weight [" + rows + ", " + cols + "]");
        }
        Gemm.sgemm(false, false, n, cols, rows, 1f, dy.data(), dy.offset(), rows, w.data(), w.offset(), cols,
                accumulate ? 1f : 0f, dx.data(), dx.offset(), cols);
    }

    @Override
    public void gatherRows(int[] ids, Tensor out, boolean accumulate) {
        Embedding.forward(ids, w, out, accumulate);
    }
}
