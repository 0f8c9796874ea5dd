package dev.rlhf4j.feedback.store;

/**
 * The task of a project. A comparison shows two responses side by side; a ranking orders K = 2..9 responses; a
 * demonstration asks for the ideal response to be written (InstructGPT's three kinds of labeler work).
 */
public enum TaskType {
    COMPARISON, RANKING, DEMONSTRATION;

    public String wireName() {
        return WireNames.of(this);
    }

    public static TaskType parse(String s) {
        return WireNames.parse(TaskType.class, s, "task type");
    }
}
