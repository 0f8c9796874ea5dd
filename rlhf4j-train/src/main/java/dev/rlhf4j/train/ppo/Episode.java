package dev.rlhf4j.train.ppo;

/**
 * One rollout: the prompt (text and tokens) and the sampled response tokens, which end with the end-of-sequence
 * token when the policy emitted one ({@code eos}); {@code response} is their text without special tokens.
 */
public record Episode(String prompt, int[] promptTokens, int[] responseTokens, String response, boolean eos)
        implements java.io.Serializable {
    public Episode {
        if (promptTokens.length == 0) {
            throw new IllegalArgumentException("an episode needs at least one prompt token");
        }
        if (responseTokens.length == 0) {
            throw new IllegalArgumentException("an episode needs at least one response token");
        }
    }

    /** Prompt and response tokens together. */
    public int[] sequence() {
        int[] s = java.util.Arrays.copyOf(promptTokens, promptTokens.length + responseTokens.length);
        System.arraycopy(responseTokens, 0, s, promptTokens.length, responseTokens.length);
        return s;
    }

    public int length() {
        return promptTokens.length + responseTokens.length;
    }
}
