package dev.rlhf4j.feedback.quality;

import dev.rlhf4j.feedback.importer.ItemImport;
import dev.rlhf4j.model.chat.ChatTemplate;

import java.util.List;

/** Scores prompt/response pairs with a reward model (higher is better). */
public interface RewardScorer {
    /** One score per response, for one prompt (text, or a conversation's display text). */
    float[] score(String prompt, List<String> responses);

    /**
     * One score per response, each the assistant's answer to {@code conversation}. By default the conversation's
     * display text is scored as a text prompt; a scorer with a chat template renders it instead.
     */
    default float[] score(List<ChatTemplate.Message> conversation, List<String> responses) {
        return score(ItemImport.displayText(conversation), responses);
    }
}
