package dev.rlhf4j.feedback.store;

/** Sampling of a project's missing responses in the background: {@code done} of {@code total} items. */
public record GenerationJob(long id, long projectId, String model, Status status, int done, int total, String error,
                            long createdAt, Long finishedAt) {
    public enum Status {
        QUEUED, RUNNING, DONE, FAILED, CANCELLED;

        public String wireName() {
            return WireNames.of(this);
        }

        public static Status parse(String s) {
            return WireNames.parse(Status.class, s, "job status");
        }

        public boolean finished() {
            return this == DONE || this == FAILED || this == CANCELLED;
        }
    }
}
