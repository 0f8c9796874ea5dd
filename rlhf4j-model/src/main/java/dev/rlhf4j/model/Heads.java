package dev.rlhf4j.model;

/**
 * Which heads sit on the final hidden states: the LM head (policies, reference models), a scalar head (reward
 * models and critics: one number per position, {@code score.weight} as HF's {@code *ForSequenceClassification}),
 * or both.
 */
public enum Heads {
    LM, SCALAR, BOTH;

    public boolean lm() {
        return this != SCALAR;
    }

    public boolean scalar() {
        return this != LM;
    }
}
