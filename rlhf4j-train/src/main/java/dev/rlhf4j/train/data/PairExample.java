package dev.rlhf4j.train.data;

/**
 * A tokenized comparison for a reward model: the whole chosen and rejected sequences (prompt and response each),
 * whose rewards are read at their last tokens and compared. {@code margin} and {@code group} are the
 * {@link PreferencePair}'s.
 */
public record PairExample(int[] chosen, int[] rejected, double margin, int group) {

    public PairExample {
        if (chosen.length == 0 || rejected.length == 0) {
            throw new IllegalArgumentException("a pair example needs at least one token on each side, got "
                    + chosen.length + " chosen and " + rejected.length + " rejected");
        }
        PreferencePair.requireValid(margin, group);
    }
}
