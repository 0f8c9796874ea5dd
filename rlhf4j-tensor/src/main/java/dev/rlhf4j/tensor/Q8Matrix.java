package dev.rlhf4j.tensor;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A weight matrix {@code [out, in]} in GGUF's Q8_0 quantisation, kept quantised: each row is cut into blocks of
 * {@value #BLOCK} elements, and a block stores 32 int8 {@code q} and one scale {@code d} (float16 in the file), with
 * {@code W = d·q} (ggml's {@code block_q8_0}). Here the int8s are one {@code byte[]} and the scales, widened
 * exactly, a {@code float[]}: {@code in + in/8} bytes per row against {@code 4·in} for float32.
 *
 * <p>The streaming kernel widens each vector of int8 to float32 and sums {@code q·x} over a block before
 * multiplying by the block's scale: {@code y = Σ_blocks d_b · Σ_{p ∈ b} q_p·x_p}, all in float32.
 */
public final class Q8Matrix extends WeightMatrix {
    /** Elements per Q8_0 block. */
    public static final int BLOCK = 32;
    /** Bytes per block in a GGUF file: a float16 scale, then 32 int8. */
    public static final int GGUF_BLOCK_BYTES = 2 + BLOCK;
    private static final VectorSpecies<Float> S = Simd.F;
    private static final int L = Simd.L;
    /** int8 lanes per load: one per float lane, but at least the 8 of the smallest byte vector. */
    private static final VectorSpecies<Byte> B = L >= 16 ? ByteVector.SPECIES_128 : ByteVector.SPECIES_64;
    private static final int BL = B.length();
    /** Float vectors widened from one byte load. */
    private static final int PARTS = BL / L;
    /** Lane of the second of {@link VMath#sum4}'s four sums. */
    private static final int Q = VMath.SUM4_STRIDE;
    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final byte[] q;
    private final float[] d;
    private final int blocksPerRow;

    private Q8Matrix(byte[] q, float[] d, int rows, int cols) {
        super(rows, cols);
        this.q = q;
        this.d = d;
        this.blocksPerRow = cols / BLOCK;
    }

    private static void requireBlocks(int rows, int cols) {
        if (cols % BLOCK != 0) {
            throw new IllegalArgumentException("Q8_0 matrix [" + rows + ", " + cols + "]: the row length must be a "
                    + "multiple of " + BLOCK);
        }
    }

    /**
     * Reads {@code rows·cols/32} GGUF {@code block_q8_0}s (little-endian float16 scale, 32 int8) from {@code seg}
     * at byte {@code at}.
     */
    public static Q8Matrix fromGguf(MemorySegment seg, long at, int rows, int cols) {
        requireBlocks(rows, cols);
        int blocks = (int) ((long) rows * cols / BLOCK);
        byte[] q = new byte[rows * cols];
        float[] d = new float[blocks];
        for (int b = 0; b < blocks; b++) {
            long blk = at + (long) GGUF_BLOCK_BYTES * b;
            d[b] = Float.float16ToFloat(seg.get(F16, blk));
            MemorySegment.copy(seg, ValueLayout.JAVA_BYTE, blk + 2, q, b * BLOCK, BLOCK);
        }
        return new Q8Matrix(q, d, rows, cols);
    }

    /**
     * Quantises a float32 matrix as ggml's {@code quantize_row_q8_0_ref} does: per block, {@code d = max|w| / 127}
     * rounded to float16, {@code q = round(w / d)} (half away from zero, computed with the unrounded d).
     */
    public static Q8Matrix quantize(Tensor w) {
        if (w.rank() != 2) {
            throw new IllegalArgumentException("weight matrix must be [out, in], got " + w.shapeString());
        }
        int rows = w.dim(0), cols = w.dim(1);
        requireBlocks(rows, cols);
        float[] src = w.data();
        int o = w.offset();
        byte[] q = new byte[rows * cols];
        float[] d = new float[rows * cols / BLOCK];
        for (int b = 0; b < d.length; b++) {
            int at = b * BLOCK;
            float amax = 0f;
            for (int i = 0; i < BLOCK; i++) {
                amax = Math.max(amax, Math.abs(src[o + at + i]));
            }
            float scale = amax / 127f;
            float inv = scale != 0f ? 1f / scale : 0f;
            for (int i = 0; i < BLOCK; i++) {
                float v = src[o + at + i] * inv;
                q[at + i] = (byte) (Math.signum(v) * Math.floor(Math.abs(v) + 0.5f));
            }
            d[b] = Float.float16ToFloat(Float.floatToFloat16(scale));
        }
        return new Q8Matrix(q, d, rows, cols);
    }

    /**
     * The rows of {@code parts} one after another, as one matrix (a fused projection from separate GGUF tensors:
     * q, k and v; gate and up). Blocks lie within rows, so this concatenates the blocks.
     */
    public static Q8Matrix stackRows(Q8Matrix... parts) {
        int cols = parts[0].cols, rows = 0;
        for (Q8Matrix p : parts) {
            if (p.cols != cols) {
                throw new IllegalArgumentException("Q8_0 stack: rows of " + p.cols + " and " + cols + " columns");
            }
            rows += p.rows;
        }
        byte[] q = new byte[rows * cols];
        float[] d = new float[rows * cols / BLOCK];
        int qAt = 0, dAt = 0;
        for (Q8Matrix p : parts) {
            System.arraycopy(p.q, 0, q, qAt, p.q.length);
            System.arraycopy(p.d, 0, d, dAt, p.d.length);
            qAt += p.q.length;
            dAt += p.d.length;
        }
        return new Q8Matrix(q, d, rows, cols);
    }

    /** The matrix as GGUF {@code block_q8_0}s, row-major: what {@link #fromGguf} reads. */
    public byte[] toGgufBlocks() {
        byte[] out = new byte[d.length * GGUF_BLOCK_BYTES];
        MemorySegment seg = MemorySegment.ofArray(out);
        for (int b = 0; b < d.length; b++) {
            long blk = (long) GGUF_BLOCK_BYTES * b;
            seg.set(F16, blk, Float.floatToFloat16(d[b]));
            MemorySegment.copy(q, b * BLOCK, seg, ValueLayout.JAVA_BYTE, blk + 2, BLOCK);
        }
        return out;
    }

    @Override
    public String dtype() {
        return "q8_0";
    }

    @Override
    public long bytes() {
        return q.length + 4L * d.length;
    }

    @Override
    void decode(int r, int c0, int c1, float[] dst, int off) {
        int at = r * cols, sb = r * blocksPerRow;
        for (int c = c0; c < c1; c++) {
            dst[off + c - c0] = d[sb + c / BLOCK] * q[at + c];
        }
    }

    @Override
    void streamRows(float[] x, int xo, int n, float[] y, int yo, int j0, int j1) {
        int j = j0;
        if (n == 1) {
            for (; j + 4 <= j1; j += 4) {
                oneInputRow(x, xo, j, y, yo);
            }
        }
        for (int i0 = 0; i0 < n; i0 += 4) {
            int count = Math.min(4, n - i0);
            // unused rows repeat the last real row: same loads, results discarded
            int r1 = i0 + Math.min(1, count - 1), r2 = i0 + Math.min(2, count - 1), r3 = i0 + Math.min(3, count - 1);
            for (int jj = j; jj < j1; jj++) {
                fourInputRows(x, xo, jj, i0, r1, r2, r3, count, y, yo);
            }
        }
    }

    /** Row j of W against rows {@code i0, r1, r2, r3} of x; stores the first {@code count} results. */
    private void fourInputRows(float[] x, int xo, int j, int i0, int r1, int r2, int r3, int count, float[] y,
                               int yo) {
        int x0 = xo + i0 * cols, x1 = xo + r1 * cols, x2 = xo + r2 * cols, x3 = xo + r3 * cols;
        int wj = j * cols, sj = j * blocksPerRow;
        FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                a3 = FloatVector.zero(S);
        for (int b = 0; b < blocksPerRow; b++) {
            FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S), s2 = FloatVector.zero(S),
                    s3 = FloatVector.zero(S);
            int p0 = b * BLOCK;
            for (int c = 0; c < BLOCK; c += BL) {
                ByteVector qv = ByteVector.fromArray(B, q, wj + p0 + c);
                for (int part = 0; part < PARTS; part++) {
                    FloatVector wv = (FloatVector) qv.convertShape(VectorOperators.B2F, S, part);
                    int p = p0 + c + part * L;
                    s0 = wv.fma(FloatVector.fromArray(S, x, x0 + p), s0);
                    s1 = wv.fma(FloatVector.fromArray(S, x, x1 + p), s1);
                    s2 = wv.fma(FloatVector.fromArray(S, x, x2 + p), s2);
                    s3 = wv.fma(FloatVector.fromArray(S, x, x3 + p), s3);
                }
            }
            FloatVector dv = FloatVector.broadcast(S, d[sj + b]);
            a0 = s0.fma(dv, a0);
            a1 = s1.fma(dv, a1);
            a2 = s2.fma(dv, a2);
            a3 = s3.fma(dv, a3);
        }
        float d0, d1, d2, d3;
        if (VMath.SUM4) {
            // one tree fold for the four lane sums: four lane-by-lane sums cost as much as the dot products
            FloatVector r = VMath.sum4(a0, a1, a2, a3);
            d0 = r.lane(0);
            d1 = r.lane(Q);
            d2 = r.lane(2 * Q);
            d3 = r.lane(3 * Q);
        } else {
            d0 = VMath.sum(a0);
            d1 = VMath.sum(a1);
            d2 = VMath.sum(a2);
            d3 = VMath.sum(a3);
        }
        y[yo + i0 * rows + j] = d0;
        if (count > 1) {
            y[yo + r1 * rows + j] = d1;
        }
        if (count > 2) {
            y[yo + r2 * rows + j] = d2;
        }
        if (count > 3) {
            y[yo + r3 * rows + j] = d3;
        }
    }

    /** One row of x against rows {@code j … j+3} of W: four independent accumulators, x's chunk loaded once. */
    private void oneInputRow(float[] x, int xo, int j, float[] y, int yo) {
        int w0 = j * cols, w1 = w0 + cols, w2 = w1 + cols, w3 = w2 + cols, sj = j * blocksPerRow;
        FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                a3 = FloatVector.zero(S);
        for (int b = 0; b < blocksPerRow; b++) {
            FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S), s2 = FloatVector.zero(S),
                    s3 = FloatVector.zero(S);
            int p0 = b * BLOCK;
            for (int c = 0; c < BLOCK; c += BL) {
                ByteVector q0 = ByteVector.fromArray(B, q, w0 + p0 + c), q1 = ByteVector.fromArray(B, q, w1 + p0 + c),
                        q2 = ByteVector.fromArray(B, q, w2 + p0 + c), q3 = ByteVector.fromArray(B, q, w3 + p0 + c);
                for (int part = 0; part < PARTS; part++) {
                    FloatVector xv = FloatVector.fromArray(S, x, xo + p0 + c + part * L);
                    s0 = ((FloatVector) q0.convertShape(VectorOperators.B2F, S, part)).fma(xv, s0);
                    s1 = ((FloatVector) q1.convertShape(VectorOperators.B2F, S, part)).fma(xv, s1);
                    s2 = ((FloatVector) q2.convertShape(VectorOperators.B2F, S, part)).fma(xv, s2);
                    s3 = ((FloatVector) q3.convertShape(VectorOperators.B2F, S, part)).fma(xv, s3);
                }
            }
            a0 = s0.fma(FloatVector.broadcast(S, d[sj + b]), a0);
            a1 = s1.fma(FloatVector.broadcast(S, d[sj + blocksPerRow + b]), a1);
            a2 = s2.fma(FloatVector.broadcast(S, d[sj + 2 * blocksPerRow + b]), a2);
            a3 = s3.fma(FloatVector.broadcast(S, d[sj + 3 * blocksPerRow + b]), a3);
        }
        if (VMath.SUM4) {
            FloatVector r = VMath.sum4(a0, a1, a2, a3);
            y[yo + j] = r.lane(0);
            y[yo + j + 1] = r.lane(Q);
            y[yo + j + 2] = r.lane(2 * Q);
            y[yo + j + 3] = r.lane(3 * Q);
        } else {
            y[yo + j] = VMath.sum(a0);
            y[yo + j + 1] = VMath.sum(a1);
            y[yo + j + 2] = VMath.sum(a2);
            y[yo + j + 3] = VMath.sum(a3);
        }
    }
}
