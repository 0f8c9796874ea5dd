package dev.rlhf4j.train.ppo;

/**
 * A prompt for PPO: plain text (encoded with the tokenizer's special tokens, e.g. BOS) or a conversation already
 * rendered with the chat template ({@code chat}: encoded as it is, since the template wrote the special tokens).
 */
public record Prompt(String text, boolean chat) {
    public Prompt {
        if (text == null || text.isEmpty()) {
            throw new IllegalArgumentException("a prompt must not be empty");
        }
    }

    public static Prompt plain(String text) {
        return new Prompt(text, false);
    }
}
