package dev.rlhf4j.train.data;

import dev.rlhf4j.model.TokenBatch;

/**
 * A batch of comparisons for a reward model, laid out so that one forward pass scores both sides: rows
 * {@code 0..pairs−1} of {@code batch} are the chosen sequences and rows {@code pairs..2·pairs−1} the rejected ones,
 * pair {@code p} being rows {@code p} and {@code pairs + p}; {@code lastIndex[r]} is the position in row {@code r} of
 * its last real token, where the reward is read (TRL reads it at the last non-padding token too), and
 * {@code margins[p]} pair {@code p}'s margin.
 */
public record PairBatch(TokenBatch batch, int pairs, int[] lastIndex, double[] margins) {

    public PairBatch {
        if (pairs <= 0 || batch.batch() != 2 * pairs || lastIndex.length != 2 * pairs || margins.length != pairs) {
            throw new IllegalArgumentException("pair batch of " + pairs + " pairs needs 2·" + pairs + " rows and last "
                    + "indices and " + pairs + " margins, got " + batch.batch() + ", " + lastIndex.length + " and "
                    + margins.length);
        }
    }
}
