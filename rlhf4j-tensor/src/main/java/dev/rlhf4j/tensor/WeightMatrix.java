package dev.rlhf4j.tensor;

/**
 * A weight matrix {@code W[out, in]} (PyTorch's {@code nn.Linear.weight} layout) in one of several storage types,
 * one final class each: {@link F32Matrix} (a float32 {@link Tensor} view, trainable), {@link Bf16Matrix} (bfloat16,
 * half the bytes) and {@link Q8Matrix} (GGUF's Q8_0, a little over a quarter). The packed types are for frozen
 * weights and generation, where reading the weights is the cost: a decoding step reads every matrix once for a few
 * tokens.
 *
 * <p>Arithmetic is float32 whatever the storage: the packed types widen weights to float32 on the fly. For a few
 * rows of input ({@code n <= }{@value #SMALL_ROWS}, token-by-token generation) a vectorised kernel streams each
 * packed row once for all rows of x, in parallel over fixed blocks of output rows, so its results do not depend on
 * the thread count or on scheduling. For more rows (a prefill, a training forward or backward through a frozen
 * base) W is widened whole into a per-thread scratch and multiplied by one GEMM, as a float32 matrix is; a W too
 * large for that scratch is widened in fixed tiles (of rows, or of input columns for {@link #backwardInput}), each
 * multiplied on one thread.
 */
public abstract sealed class WeightMatrix permits F32Matrix, Bf16Matrix, Q8Matrix {
    /** At most this many rows of x take the streaming kernel; more take widened tiles and GEMM. */
    public static final int SMALL_ROWS = SmallGemm.MAX_ROWS;
    /** Output rows per task of the streaming kernel. */
    private static final int ROW_BLOCK = 64;
    /** About this many floats of W are widened per tile (1 MiB of scratch per thread). */
    private static final int TILE_FLOATS = 1 << 18;
    /** Below this many weights the streaming kernel runs on the calling thread. */
    private static final long PARALLEL_WEIGHTS = 1L << 16;
    /**
     * A product with more than {@value #SMALL_ROWS} rows of x widens a W of at most this many elements whole (32 MiB
     * of scratch per calling thread) and runs one GEMM over all threads, as a float32 matrix does: per-thread GEMMs
     * over tiles of W re-pack x for every tile, and the input gradient's strips of a few columns of W are too
     * narrow for a GEMM kernel (a LoRA update through a bf16 base ran 12% slower that way). Larger matrices (an LM
     * head) take the tiles.
     */
    private static final long WHOLE_FLOATS = 1L << 23;
    /** The whole widened W of each calling thread, grown as needed and reused. */
    private static final ThreadLocal<float[]> WHOLE = ThreadLocal.withInitial(() -> new float[0]);
    /** The widened tile of each thread, grown as needed and reused across calls and matrices. */
    private static final ThreadLocal<float[]> SCRATCH = ThreadLocal.withInitial(() -> new float[0]);

    final int rows;
    final int cols;

    WeightMatrix(int rows, int cols) {
        if (rows < 1 || cols < 1) {
            throw new IllegalArgumentException("weight matrix must be at least [1, 1], got [" + rows + ", " + cols
                    + "]");
        }
        this.rows = rows;
        this.cols = cols;
    }

    /** Output features: the first dimension of W. */
    public final int rows() {
        return rows;
    }

    /** Input features: the second dimension of W. */
    public final int cols() {
        return cols;
    }

    /** "f32", "bf16" or "q8_0". */
    public abstract String dtype();

    /** Bytes held by the weights. */
    public abstract long bytes();

    /**
     * Widens elements {@code [c0, c1)} of row {@code r} to float32 into {@code dst[off, off + c1 − c0)}: exactly the
     * values every kernel of this matrix multiplies by.
     */
    abstract void decode(int r, int c0, int c1, float[] dst, int off);

    /**
     * {@code y[i, j] = Σ_p x[i, p]·W[j, p]} for rows {@code i < n} of x and output rows {@code j ∈ [j0, j1)}: the
     * streaming kernel, with {@code n <= SMALL_ROWS}.
     */
    abstract void streamRows(float[] x, int xo, int n, float[] y, int yo, int j0, int j1);

    /** Whether {@link #streamRows} runs at this vector width; when not, every product takes widened tiles and GEMM. */
    boolean streams() {
        return true;
    }

    /** The weights widened to a float32 {@code [rows, cols]} tensor (a copy). */
    public Tensor toF32() {
        Tensor t = Tensor.zeros(rows, cols);
        float[] d = t.data();
        Parallel.global().forRange(rows, cols, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                decode(r, 0, cols, d, r * cols);
            }
        });
        return t;
    }

    /** {@code y[n, out] = x[n, in] · Wᵀ + b} (PyTorch's {@code F.linear(x, W, b)}); {@code b} may be null. */
    public void forward(Tensor x, Tensor b, Tensor y) {
        forward(x, b, y, WHOLE_FLOATS);
    }

    /** {@link #forward} widening W whole when it has at most {@code wholeFloats} elements (tests choose the path). */
    void forward(Tensor x, Tensor b, Tensor y, long wholeFloats) {
        checkForward(x, b, y);
        int n = x.rows();
        float[] xd = x.data(), yd = y.data();
        int xo = x.offset(), yo = y.offset();
        if (n <= SMALL_ROWS && streams()) {
            if ((long) rows * cols < PARALLEL_WEIGHTS) {
                streamRows(xd, xo, n, yd, yo, 0, rows);
            } else {
                Parallel.global().forBlocks(rows, ROW_BLOCK, (block, worker) -> {
                    int j0 = block * ROW_BLOCK;
                    streamRows(xd, xo, n, yd, yo, j0, Math.min(rows, j0 + ROW_BLOCK));
                });
            }
            if (b != null) {
                addBias(b, yd, yo, n);
            }
            return;
        }
        float beta = 0f;
        if (b != null) {
            float[] bd = b.data();
            int bo = b.offset();
            for (int r = 0; r < n; r++) {
                System.arraycopy(bd, bo, yd, yo + r * rows, rows);
            }
            beta = 1f;
        }
        if ((long) rows * cols <= wholeFloats) {
            Gemm.sgemm(false, true, n, rows, cols, 1f, xd, xo, cols, widenedWhole(), 0, cols, beta, yd, yo, rows);
            return;
        }
        // y[:, j0:j1] = x · W[j0:j1, :]ᵀ, one GEMM per tile of widened rows
        int tile = tileExtent(TILE_FLOATS / cols, 16, rows);
        float betaF = beta;
        Parallel.global().forBlocks(rows, tile, (block, worker) -> {
            int j0 = block * tile, j1 = Math.min(rows, j0 + tile);
            float[] w = scratch(tile * cols);
            for (int j = j0; j < j1; j++) {
                decode(j, 0, cols, w, (j - j0) * cols);
            }
            Gemm.sgemmOnThisThread(false, true, n, j1 - j0, cols, 1f, xd, xo, cols, w, 0, cols, betaF, yd,
                    yo + j0, rows);
        });
    }

    /**
     * Backward of {@link #forward} with respect to its input: {@code dx[n, in] = dy[n, out] · W} (overwritten, or
     * added when {@code accumulate}). A frozen matrix has no weight gradient, but layers below it (or a LoRA adapter
     * beside it) still need dx.
     */
    public void backwardInput(Tensor dy, Tensor dx, boolean accumulate) {
        backwardInput(dy, dx, accumulate, WHOLE_FLOATS);
    }

    /** {@link #backwardInput} widening W whole when it has at most {@code wholeFloats} elements. */
    void backwardInput(Tensor dy, Tensor dx, boolean accumulate, long wholeFloats) {
        int n = dy.rows();
        if (dy.cols() != rows) {
            throw new IllegalArgumentException("weight backward: dy " + dy.shapeString() + " should have " + rows
                    + " columns for weight [" + rows + ", " + cols + "]");
        }
        if (dx.cols() != cols || dx.rows() != n) {
            throw new IllegalArgumentException("weight backward: dx " + dx.shapeString() + " should be [" + n + ", "
                    + cols + "] for dy " + dy.shapeString());
        }
        float[] dyd = dy.data(), dxd = dx.data();
        int dyo = dy.offset(), dxo = dx.offset();
        float beta = accumulate ? 1f : 0f;
        if ((long) rows * cols <= wholeFloats) {
            Gemm.sgemm(false, false, n, cols, rows, 1f, dyd, dyo, rows, widenedWhole(), 0, cols, beta, dxd, dxo, cols);
            return;
        }
        // dx[:, c0:c1] = dy · W[:, c0:c1], one GEMM over all of W's rows per strip of widened columns (a multiple
        // of Q8_0's 32-element block, so a strip never splits a block)
        int strip = tileExtent(TILE_FLOATS / rows, 32, cols);
        Parallel.global().forBlocks(cols, strip, (block, worker) -> {
            int c0 = block * strip, c1 = Math.min(cols, c0 + strip), w = c1 - c0;
            float[] s = scratch(rows * w);
            for (int j = 0; j < rows; j++) {
                decode(j, c0, c1, s, j * w);
            }
            Gemm.sgemmOnThisThread(false, false, n, w, rows, 1f, dyd, dyo, rows, s, 0, w, beta, dxd, dxo + c0, cols);
        });
    }

    /**
     * Embedding lookup with this matrix as the table ({@code nn.Embedding}): {@code out[i, :] = W[ids[i], :]}, or
     * {@code +=} when {@code accumulate}.
     */
    public void gatherRows(int[] ids, Tensor out, boolean accumulate) {
        int n = out.rows();
        if (out.cols() != cols) {
            throw new IllegalArgumentException("embedding: output " + out.shapeString() + " does not match table ["
                    + rows + ", " + cols + "]");
        }
        if (ids.length < n) {
            throw new IllegalArgumentException("embedding: " + ids.length + " ids for " + n + " output rows");
        }
        for (int i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= rows) {
                throw new IllegalArgumentException("embedding: id " + ids[i] + " at position " + i
                        + " is outside the table's " + rows + " rows");
            }
        }
        float[] od = out.data();
        int oo = out.offset();
        Parallel.global().forRange(n, cols, (lo, hi) -> {
            float[] row = accumulate ? new float[cols] : null;
            for (int i = lo; i < hi; i++) {
                int dst = oo + i * cols;
                if (accumulate) {
                    decode(ids[i], 0, cols, row, 0);
                    for (int c = 0; c < cols; c++) {
                        od[dst + c] += row[c];
                    }
                } else {
                    decode(ids[i], 0, cols, od, dst);
                }
            }
        });
    }

    @Override
    public String toString() {
        return dtype() + "[" + rows + ", " + cols + "]";
    }

    final void checkForward(Tensor x, Tensor b, Tensor y) {
        int n = x.rows();
        if (x.cols() != cols) {
            throw new IllegalArgumentException("linear: input " + x.shapeString() + " does not match weight [" + rows
                    + ", " + cols + "] (expected [n, " + cols + "])");
        }
        if (y.cols() != rows || y.rows() != n) {
            throw new IllegalArgumentException("linear: output " + y.shapeString() + " should be [" + n + ", " + rows
                    + "] for input " + x.shapeString() + " and weight [" + rows + ", " + cols + "]");
        }
        if (b != null && b.size() != rows) {
            throw new IllegalArgumentException("linear: bias " + b.shapeString() + " should have " + rows
                    + " elements");
        }
    }

    private void addBias(Tensor b, float[] yd, int yo, int n) {
        float[] bd = b.data();
        int bo = b.offset();
        for (int r = 0; r < n; r++) {
            int at = yo + r * rows;
            for (int j = 0; j < rows; j++) {
                yd[at + j] += bd[bo + j];
            }
        }
    }

    /** {@code want} rounded down to a multiple of {@code align}, at least {@code align}, at most {@code limit}. */
    /**
     * All of W widened to float32 in the calling thread's {@link #WHOLE} scratch (rows in parallel), for one
     * multi-threaded GEMM.
     */
    private float[] widenedWhole() {
        float[] s = WHOLE.get();
        if (s.length < rows * cols) {
            s = new float[rows * cols];
            WHOLE.set(s);
        }
        float[] d = s;
        Parallel.global().forRange(rows, cols, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                decode(r, 0, cols, d, r * cols);
            }
        });
        return d;
    }

    private static int tileExtent(int want, int align, int limit) {
        return Math.min(limit, Math.max(align, want / align * align));
    }

    private static float[] scratch(int floats) {
        float[] s = SCRATCH.get();
        if (s.length < floats) {
            s = new float[floats];
            SCRATCH.set(s);
        }
        return s;
    }
}
