package dev.rlhf4j.model.io;

import dev.rlhf4j.tensor.Tensor;

import java.io.IOException;
import java.util.Arrays;
import java.util.Locale;

/**
 * The check every loader runs on each tensor as it converts it: a NaN or infinite weight (a diverged training run, a
 * broken conversion) is refused at load, naming the file, the tensor and its first bad element, instead of
 * surfacing later as NaN log-probabilities or a stream of token 0s.
 */
final class FiniteWeights {
    private FiniteWeights() {
    }

    /**
     * Refuses {@code data[offset, offset + n)}, the tensor {@code tensor} of {@code shape} in {@code file}, if it holds
     * a NaN or an infinity.
     */
    static void require(float[] data, int offset, int n, int[] shape, Object file, String tensor) throws IOException {
        int i = Tensor.firstNonFinite(data, offset, n);
        if (i >= 0) {
            float v = data[offset + i];
            throw new IOException(file + ": tensor '" + tensor + "' " + Arrays.toString(shape) + " holds "
                    + (Float.isNaN(v) ? "NaN" : v > 0 ? "+Infinity" : "-Infinity") + " at " + index(i, shape)
                    + String.format(Locale.ROOT, " (element %,d of %,d)", i, n)
                    + "; the weights are damaged (a diverged run or a broken conversion) and are not loaded");
        }
    }

    /** The row-major multi-index of flat element {@code i} of {@code shape}, e.g. [3, 17]. */
    static String index(long i, int[] shape) {
        long[] at = new long[shape.length];
        for (int d = shape.length - 1; d >= 0; d--) {
            int size = Math.max(shape[d], 1);
            at[d] = i % size;
            i /= size;
        }
        return Arrays.toString(at);
    }
}
