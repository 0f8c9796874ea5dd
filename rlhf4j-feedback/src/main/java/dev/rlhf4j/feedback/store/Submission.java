package dev.rlhf4j.feedback.store;

/** A stored label, and whether this submit repeated an earlier one with the same request id (stored once). */
public record Submission(Label label, boolean repeated) {
}
