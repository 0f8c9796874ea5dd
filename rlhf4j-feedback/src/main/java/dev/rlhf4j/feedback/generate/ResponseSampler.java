package dev.rlhf4j.feedback.generate;

import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.GenerationJob;

/**
 * Samples the missing responses of a project's items from its policy checkpoint, in the background (one worker
 * thread, jobs queued; web threads never wait for it), with the project's temperature, top-p and max tokens and the
 * batched generator. Progress is in the job's row; a failure marks the job failed with its message.
 */
public final class ResponseSampler implements AutoCloseable {
    private final FeedbackStore store;

    public ResponseSampler(FeedbackStore store) {
        this.store = store;
    }

    /** Queues a job for the items of project {@code projectId} that lack responses; returns it at once. */
    public GenerationJob start(long projectId, Long userId) {
        throw new UnsupportedOperationException("not yet written (issue 12)");
    }

    /** Stops the worker; a running job is marked cancelled. */
    @Override
    public void close() {
    }
}
