package dev.rlhf4j.feedback.store;

import java.util.Locale;

/**
 * The task of a project. A comparison shows two responses side by side; a ranking orders K = 2..9 responses; a
 * demonstration asks for the ideal response to be written (InstructGPT's three kinds of labeler work).
 */
public enum TaskType {
    COMPARISON, RANKING, DEMONSTRATION;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static TaskType parse(String s) {
        for (TaskType t : values()) {
            if (t.wireName().equals(s)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown task type \"" + s
                + "\" (expected comparison, ranking or demonstration)");
    }
}
