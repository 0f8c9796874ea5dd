package dev.rlhf4j.train.data;

import dev.rlhf4j.model.TokenBatch;
import dev.rlhf4j.tensor.CrossEntropy;

import java.util.Arrays;
import java.util.List;

/**
 * Examples into micro-batches, either one example per right-padded row ({@link #pad}) or several examples per
 * row ({@link #pack}, as TRL's packing with position ids that restart at every sequence: the model sees each
 * example exactly as if it were alone, without spending compute on padding).
 *
 * <p>Targets are the inputs shifted by one, as HF's causal-LM loss: row i predicts token i + 1 of the same example
 * when that token is trainable; the last token of an example and every padding token predict nothing.
 */
public final class Collator {
    private Collator() {
    }

    /** A packed micro-batch and how many examples, from {@code from} on, it holds. */
    public record Packed(CollatedBatch batch, int consumed) {
    }

    /**
     * One example per row, right-padded to the longest of them (at most {@code seqLen}): mask 1 on real tokens,
     * {@code padId} on padding, positions {@code 0..len−1} (0 on padding, which the mask hides),
     * {@code targets[i] = tokens[i+1]} where that token is trainable, else {@link CrossEntropy#IGNORE_INDEX}.
     */
    public static CollatedBatch pad(List<Example> examples, int seqLen, int padId) {
        if (examples.isEmpty()) {
            throw new IllegalArgumentException("pad: no examples");
        }
        int width = 0;
        for (int i = 0; i < examples.size(); i++) {
            width = Math.max(width, fitting(examples.get(i), i, seqLen, "pad").length());
        }
        Layout out = new Layout(examples.size() * width, padId);
        for (int r = 0; r < examples.size(); r++) {
            out.place(examples.get(r), r * width);
        }
        return out.batch(examples.size(), width, null);
    }

    /**
     * Packs examples, in order from {@code from}, into {@code rows} rows of exactly {@code seqLen} tokens: an example
     * goes whole into the current row when it fits, else the row is closed with padding and the next one started;
     * packing stops when the examples or the rows run out. Positions restart at 0 for every example and
     * {@code segmentStarts} mark where each begins, so attention never crosses examples and no target crosses a
     * boundary. The padding that closes a row is one more segment, which sees nothing (mask 0).
     *
     * @throws IllegalArgumentException for an example longer than {@code seqLen} (tokenization should have cut it)
     */
    public static Packed pack(List<Example> examples, int from, int rows, int seqLen, int padId) {
        if (rows <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException("pack: rows and sequence length must be positive, got " + rows + " x "
                    + seqLen);
        }
        if (from < 0 || from >= examples.size()) {
            throw new IllegalArgumentException("pack: start " + from + " is outside the " + examples.size()
                    + " examples");
        }
        Layout out = new Layout(rows * seqLen, padId);
        int[] segmentStarts = new int[rows * seqLen];
        int next = from, row = 0, used = 0;
        while (next < examples.size()) {
            Example e = fitting(examples.get(next), next, seqLen, "pack");
            if (used + e.length() > seqLen) {
                Arrays.fill(segmentStarts, row * seqLen + used, (row + 1) * seqLen, used);
                row++;
                used = 0;
                if (row == rows) {
                    break;
                }
            }
            int at = row * seqLen + used;
            out.place(e, at);
            Arrays.fill(segmentStarts, at, at + e.length(), used);
            used += e.length();
            next++;
        }
        if (row < rows) {
            Arrays.fill(segmentStarts, row * seqLen + used, (row + 1) * seqLen, used);
        }
        return new Packed(out.batch(rows, seqLen, segmentStarts), next - from);
    }

    private static Example fitting(Example e, int index, int seqLen, String what) {
        if (e.length() > seqLen) {
            throw new IllegalArgumentException(what + ": example " + index + " has " + e.length()
                    + " tokens, more than the sequence length of " + seqLen + " (truncate when tokenizing)");
        }
        return e;
    }

    /** The arrays of a batch being filled: padding everywhere until examples are placed. */
    private static final class Layout {
        final int[] tokens, mask, positions, targets;
        int lossTokens, realTokens;

        Layout(int size, int padId) {
            tokens = new int[size];
            mask = new int[size];
            positions = new int[size];
            targets = new int[size];
            Arrays.fill(tokens, padId);
            Arrays.fill(targets, CrossEntropy.IGNORE_INDEX);
        }

        /** Writes {@code e} at flat index {@code at}, its positions counted from 0. */
        void place(Example e, int at) {
            int n = e.length();
            for (int k = 0; k < n; k++) {
                tokens[at + k] = e.tokens()[k];
                mask[at + k] = 1;
                positions[at + k] = k;
                if (k + 1 < n && e.trainable()[k + 1]) {
                    targets[at + k] = e.tokens()[k + 1];
                    lossTokens++;
                }
            }
            realTokens += n;
        }

        CollatedBatch batch(int rows, int seq, int[] segmentStarts) {
            return new CollatedBatch(new TokenBatch(rows, seq, tokens, mask, positions, segmentStarts), targets,
                    lossTokens, realTokens);
        }
    }
}
