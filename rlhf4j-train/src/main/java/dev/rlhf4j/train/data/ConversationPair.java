package dev.rlhf4j.train.data;

import dev.rlhf4j.model.chat.ChatTemplate.Message;
import dev.rlhf4j.tensor.UserError;

import java.util.List;

/**
 * One comparison in TRL's conversational format: the conversation so far ({@code prompt}, possibly empty when two
 * conversations share no message) and the two continuations, usually one assistant message each. The model reads
 * the chat template's rendering of {@code prompt + chosen} and of {@code prompt + rejected}.
 *
 * @param margin and {@code group} as in {@link PreferencePair}
 */
public record ConversationPair(List<Message> prompt, List<Message> chosen, List<Message> rejected, double margin,
                               int group) {

    public ConversationPair {
        if (chosen.isEmpty() || rejected.isEmpty()) {
            throw new UserError("a conversational pair needs at least one chosen and one rejected "
                    + "message");
        }
        PreferencePair.requireValid(margin, group);
        prompt = List.copyOf(prompt);
        chosen = List.copyOf(chosen);
        rejected = List.copyOf(rejected);
    }

    /** A plain pair: no margin, no ranking. */
    public ConversationPair(List<Message> prompt, List<Message> chosen, List<Message> rejected) {
        this(prompt, chosen, rejected, 0, -1);
    }
}
