package dev.rlhf4j.feedback.quality;

import java.util.List;

/** Scores prompt/response pairs with a reward model (higher is better). */
public interface RewardScorer {
    /** One score per response, for one prompt (text, or a conversation's display text). */
    float[] score(String prompt, List<String> responses);
}
