package dev.rlhf4j.train.data;

/**
 * One training sequence: its tokens, and for each token whether predicting it counts in the loss (TRL's
 * {@code completion_mask}, shifted so that flag {@code i} belongs to token {@code i} rather than to its prediction).
 */
public record Example(int[] tokens, boolean[] trainable) {

    public Example {
        if (tokens.length == 0) {
            throw new IllegalArgumentException("an example needs at least one token");
        }
        if (tokens.length != trainable.length) {
            throw new IllegalArgumentException("example of " + tokens.length + " tokens has " + trainable.length
                    + " trainable flags");
        }
    }

    public int length() {
        return tokens.length;
    }

    /** How many tokens count in the loss. */
    public int trainableCount() {
        int n = 0;
        for (boolean t : trainable) {
            if (t) {
                n++;
            }
        }
        return n;
    }
}
