package dev.rlhf4j.train.data;

import java.util.List;

/**
 * The pairs of a tokenized preference dataset with its counts: {@code truncated} pairs had a side cut to the maximum
 * length (those then dropped included); {@code identical} pairs were left out because their two sides were the same
 * tokens from the start (chosen == rejected: no preference at all), and {@code equalAfterCut} because the cut left
 * the same tokens on both sides (the sides differed only past the maximum length).
 */
public record TokenizedPairs(List<PairExample> pairs, int truncated, int identical, int equalAfterCut) {

    public TokenizedPairs {
        pairs = List.copyOf(pairs);
    }

    /** Pairs left out: {@code identical + equalAfterCut}. */
    public int dropped() {
        return identical + equalAfterCut;
    }

    /**
     * What was cut and dropped, for the line a command prints, e.g. "3 truncated to max_length 512 (1 of them
     * dropped: equal after the cut), 2 dropped as identical (chosen == rejected)".
     */
    public String describe(int maxLength) {
        return truncated + " truncated to max_length " + maxLength + (equalAfterCut == 0 ? ""
                : " (" + equalAfterCut + " of them dropped: equal after the cut)") + ", " + identical
                + " dropped as identical (chosen == rejected)";
    }
}
