package dev.rlhf4j.feedback.store;

import dev.rlhf4j.model.chat.ChatTemplate;

import java.util.List;

/**
 * An item to add: a prompt (text, or a conversation with its display text), the caller's id (may be null), and
 * responses already written (empty when the server samples them).
 */
public record NewItem(String prompt, List<ChatTemplate.Message> messages, String externalId, List<String> responses) {
    public NewItem {
        if (prompt == null || prompt.isEmpty()) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        messages = messages == null ? null : List.copyOf(messages);
        responses = responses == null ? List.of() : List.copyOf(responses);
    }

    public static NewItem of(String prompt, String... responses) {
        return new NewItem(prompt, null, null, List.of(responses));
    }
}
