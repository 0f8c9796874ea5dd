package dev.rlhf4j.train.dpo;

import dev.rlhf4j.train.data.PairExample;

import java.util.Arrays;

/**
 * A tokenized comparison for DPO: the prompt's tokens, shared by both sides, and each completion's tokens, encoded
 * apart from the prompt (TRL's {@code prompt_input_ids}, {@code chosen_input_ids}, {@code rejected_input_ids}), so
 * that the completions' log-probabilities are those of exactly these tokens after exactly that prompt.
 *
 * @param group the ranking the pair came from, −1 for none (pairs of one ranking share a batch)
 */
public record DpoExample(int[] prompt, int[] chosen, int[] rejected, int group) {

    public DpoExample {
        if (prompt.length == 0 || chosen.length == 0 || rejected.length == 0) {
            throw new IllegalArgumentException("a DPO example needs at least one token in the prompt and in each "
                    + "completion, got " + prompt.length + ", " + chosen.length + " and " + rejected.length);
        }
    }

    /** The whole sequences, for batching by {@link dev.rlhf4j.train.data.PairCollator}'s group rules. */
    public PairExample asPair() {
        return new PairExample(join(prompt, chosen), join(prompt, rejected), 0, group);
    }

    /** Tokens of prompt and longer completion. */
    int length() {
        return prompt.length + Math.max(chosen.length, rejected.length);
    }

    private static int[] join(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
