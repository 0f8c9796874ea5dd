package dev.rlhf4j.model;

/**
 * Which output heads sit on the final hidden states (not the attention heads of {@code ModelConfig.heads()}): the
 * LM head (policies, reference models), a scalar head (reward models and critics: one number per position,
 * {@code score.weight} as HF's {@code *ForSequenceClassification}), or both.
 */
public enum OutputHeads {
    LM, SCALAR, BOTH;

    public boolean lm() {
        return this != SCALAR;
    }

    public boolean scalar() {
        return this != LM;
    }
}
