package dev.rlhf4j.train.claims;

/**
 * Perplexity of a language model on text, exp(Σ −log p(token) / tokens), and forgetting measured with it: the
 * relative increase of perplexity on held-out pretraining text after RLHF (Ouyang et al. 2022 measure the same
 * "alignment tax" as a loss of performance on public NLP datasets).
 */
public final class Perplexity {
    private Perplexity() {
    }

    /** exp(nll / tokens) for a summed negative log-likelihood over {@code tokens} tokens. */
    public static double of(double nll, long tokens) {
        if (tokens <= 0) {
            throw new IllegalArgumentException("perplexity of no tokens");
        }
        return Math.exp(nll / tokens);
    }

    /** after / before − 1: the relative increase (forgetting when positive). */
    public static double relativeIncrease(double before, double after) {
        return after / before - 1;
    }
}
