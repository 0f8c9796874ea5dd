package dev.rlhf4j.feedback.store;

import dev.rlhf4j.model.chat.ChatTemplate;

import java.util.List;

/**
 * One prompt to label: plain {@code prompt} text, or a conversation ({@code messages}, with {@code prompt} its
 * text for display). {@code replicas} people label it; {@code externalId} is the caller's id (null if none).
 */
public record Item(long id, long projectId, String prompt, List<ChatTemplate.Message> messages, String externalId,
                   int replicas, long createdAt) {
    public boolean isChat() {
        return messages != null;
    }
}
