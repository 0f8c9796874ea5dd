package dev.rlhf4j.train.data;

import dev.rlhf4j.model.TokenBatch;
import dev.rlhf4j.tensor.CrossEntropy;

/**
 * A collated micro-batch: the tokens the model reads, and for each of its rows the token it should predict (the
 * next one) or {@link CrossEntropy#IGNORE_INDEX}. {@code lossTokens} counts the targets that are not ignored (the
 * loss normaliser), {@code realTokens} the tokens that are not padding (for tokens/s).
 */
public record CollatedBatch(TokenBatch batch, int[] targets, int lossTokens, int realTokens) {

    public CollatedBatch {
        if (targets.length != batch.rows()) {
            throw new IllegalArgumentException("collated batch: " + targets.length + " targets for "
                    + batch.rows() + " tokens");
        }
    }
}
