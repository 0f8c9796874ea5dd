package dev.rlhf4j.feedback.store;

/** How a project's responses are sampled from its policy model. */
public record Sampling(double temperature, double topP, int maxNewTokens) {
    public static final Sampling DEFAULTS = new Sampling(1.0, 0.95, 128);

    public Sampling {
        if (!(temperature >= 0) || temperature > 10) {
            throw new IllegalArgumentException("temperature must be in [0, 10], got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        }
        if (maxNewTokens < 1 || maxNewTokens > 4096) {
            throw new IllegalArgumentException("max_new_tokens must be in [1, 4096], got " + maxNewTokens);
        }
    }
}
