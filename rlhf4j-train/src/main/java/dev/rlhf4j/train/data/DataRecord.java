package dev.rlhf4j.train.data;

import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.tensor.UserError;

import java.util.List;

/**
 * One record of a dataset file, in the formats TRL's trainers take: language modelling ({@code {"text"}} or a
 * plain-text document), prompt–completion ({@code {"prompt", "completion"}}) and conversational
 * ({@code {"messages": [{"role", "content"}]}}).
 */
public sealed interface DataRecord permits DataRecord.Text, DataRecord.PromptCompletion, DataRecord.Conversation {

    /** {@code {"text": ...}} or a plain-text document: every token is trained on. */
    record Text(String text) implements DataRecord {
    }

    /** {@code {"prompt": ..., "completion": ...}}: the model learns to continue the prompt with the completion. */
    record PromptCompletion(String prompt, String completion) implements DataRecord {
    }

    /** {@code {"messages": [...]}}: the last message is the answer the model learns to give. */
    record Conversation(List<ChatTemplate.Message> messages) implements DataRecord {
        public Conversation {
            if (messages.isEmpty()) {
                throw new UserError("a conversation needs at least one message");
            }
            messages = List.copyOf(messages);
        }
    }
}
