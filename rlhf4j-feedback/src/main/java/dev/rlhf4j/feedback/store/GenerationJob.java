package dev.rlhf4j.feedback.store;

/** Sampling of a project's missing responses in the background: {@code done} of {@code total} items. */
public record GenerationJob(long id, long projectId, String model, Status status, int done, int total, String error,
                            long createdAt, Long finishedAt) {
    public enum Status {
        QUEUED, RUNNING, DONE, FAILED, CANCELLED;

        public String wireName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        public static Status parse(String s) {
            return valueOf(s.toUpperCase(java.util.Locale.ROOT));
        }

        public boolean finished() {
            return this == DONE || this == FAILED || this == CANCELLED;
        }
    }
}
