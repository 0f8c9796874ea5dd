package dev.rlhf4j.tensor;

/**
 * Rotary position embeddings (Su et al. 2021) applied in place to the query and key heads of a packed
 * {@code [q heads | k heads | v heads]} row. Two conventions pair the head dimensions differently:
 * <ul>
 *   <li>{@link Style#INTERLEAVED}: pairs {@code (x[2i], x[2i+1])}, as in Meta's Llama code, llama2.c and GGUF;</li>
 *   <li>{@link Style#ROTATE_HALF}: pairs {@code (x[i], x[i + d/2])}, as HF transformers' {@code rotate_half}.</li>
 * </ul>
 * Pair i turns by {@code pos · invFreq[i]} with {@code invFreq[i] = theta^(-2i/d)}. The backward applies the
 * transposed rotation (the same angle, negated) to the gradient.
 */
public final class Rope {

    public enum Style { INTERLEAVED, ROTATE_HALF }

    private final int headDim;
    private final int half;
    private final int maxPositions;
    private final Style style;
    private final float[] cos;
    private final float[] sin;

    /** Standard frequencies {@code theta^(-2i/headDim)}. */
    public Rope(int headDim, int maxPositions, double theta, Style style) {
        this(headDim, maxPositions, inverseFrequencies(headDim, theta), style);
    }

    /** Given frequencies (for scaled variants such as Llama 3's), one per pair. */
    public Rope(int headDim, int maxPositions, float[] invFreq, Style style) {
        if (headDim <= 0 || headDim % 2 != 0) {
            throw new IllegalArgumentException("rope: head dimension must be positive and even, got " + headDim);
        }
        if (invFreq.length != headDim / 2) {
            throw new IllegalArgumentException("rope: " + invFreq.length + " frequencies for head dimension "
                    + headDim);
        }
        this.headDim = headDim;
        this.half = headDim / 2;
        this.maxPositions = maxPositions;
        this.style = style;
        this.cos = new float[maxPositions * half];
        this.sin = new float[maxPositions * half];
        for (int p = 0; p < maxPositions; p++) {
            for (int i = 0; i < half; i++) {
                float angle = (float) p * invFreq[i]; // float32 product, as HF computes it
                cos[p * half + i] = (float) StrictMath.cos(angle);
                sin[p * half + i] = (float) StrictMath.sin(angle);
            }
        }
    }

    /** {@code 1 / theta^(2i/d)} for each pair, rounded to float. */
    public static float[] inverseFrequencies(int headDim, double theta) {
        float[] f = new float[headDim / 2];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) (1.0 / StrictMath.pow(theta, (2.0 * i) / headDim));
        }
        return f;
    }

    public Style style() {
        return style;
    }

    public int headDim() {
        return headDim;
    }

    /** Rotates heads {@code [0, heads)} of every row of {@code x} ({@code [rows, >= heads*headDim]}) in place. */
    public void forward(Tensor x, int[] positions, int heads) {
        apply(x, positions, heads, false);
    }

    /** Backward: rotates the gradient of those heads back, in place. */
    public void backward(Tensor dx, int[] positions, int heads) {
        apply(dx, positions, heads, true);
    }

    private void apply(Tensor x, int[] positions, int heads, boolean inverse) {
        int rows = x.rows(), width = x.cols();
        if (heads * headDim > width) {
            throw new IllegalArgumentException("rope: " + heads + " heads of " + headDim + " do not fit rows of "
                    + x.shapeString());
        }
        if (positions.length < rows) {
            throw new IllegalArgumentException("rope: " + positions.length + " positions for " + rows + " rows");
        }
        float[] d = x.data();
        int off = x.offset();
        float sign = inverse ? -1f : 1f;
        boolean interleaved = style == Style.INTERLEAVED;
        Parallel.global().forRange(rows, 6 * heads * headDim, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int pos = positions[r];
                if (pos < 0 || pos >= maxPositions) {
                    throw new IllegalArgumentException("rope: position " + pos + " at row " + r + " is outside [0, "
                            + maxPositions + ")");
                }
                int table = pos * half;
                for (int h = 0; h < heads; h++) {
                    int base = off + r * width + h * headDim;
                    for (int i = 0; i < half; i++) {
                        int i0 = interleaved ? base + 2 * i : base + i;
                        int i1 = interleaved ? i0 + 1 : i0 + half;
                        float c = cos[table + i], s = sign * sin[table + i];
                        float x0 = d[i0], x1 = d[i1];
                        d[i0] = x0 * c - x1 * s;
                        d[i1] = x0 * s + x1 * c;
                    }
                }
            }
        });
    }
}
