package dev.rlhf4j.train.data;

import java.util.List;

/**
 * The examples of a tokenized dataset with its counts. {@code truncated} examples were cut to the maximum length,
 * those then left with no token to train on included (they were dropped); in all,
 * {@code records − examples().size()} records were dropped for having no token to train on. {@code tokens} and
 * {@code trainableTokens} sum over the examples kept.
 */
public record TokenizedDataset(List<Example> examples, int truncated, long tokens, long trainableTokens) {

    public TokenizedDataset {
        examples = List.copyOf(examples);
    }
}
