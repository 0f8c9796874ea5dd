package dev.rlhf4j.train.data;

import java.util.List;

/**
 * The pairs of a tokenized preference dataset with its counts: {@code truncated} pairs had a side cut to the maximum
 * length (those then dropped included), and {@code dropped} pairs were left out because their two sides were the
 * same tokens, from the start or after the cut, and so carry no preference.
 */
public record TokenizedPairs(List<PairExample> pairs, int truncated, int dropped) {

    public TokenizedPairs {
        pairs = List.copyOf(pairs);
    }
}
