package dev.rlhf4j.train.ppo;

import dev.rlhf4j.tensor.UserError;

/**
 * A prompt for PPO: plain text (encoded with the tokenizer's special tokens, e.g. BOS) or a conversation already
 * rendered with the chat template ({@code chat}: encoded as it is, since the template wrote the special tokens).
 * {@code source} names where it came from ({@code FILE:LINE}) for messages, or is null.
 */
public record Prompt(String text, boolean chat, String source) {
    public Prompt {
        if (text == null || text.isEmpty()) {
            throw new UserError((source == null ? "" : source + ": ") + "a prompt must not be empty");
        }
    }

    public Prompt(String text, boolean chat) {
        this(text, chat, null);
    }

    public static Prompt plain(String text) {
        return new Prompt(text, false, null);
    }
}
