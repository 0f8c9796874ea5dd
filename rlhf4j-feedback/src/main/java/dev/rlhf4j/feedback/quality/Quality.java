package dev.rlhf4j.feedback.quality;

import dev.rlhf4j.feedback.store.FeedbackStore;

/** Computes a project's {@link QualityReport} from its stored labels. */
public final class Quality {
    private Quality() {
    }

    /**
     * The report of project {@code projectId}, with the agreement of the project's reward model (its
     * {@code reward_model} checkpoint, opened once and kept) when it has one.
     */
    public static QualityReport report(FeedbackStore store, long projectId) {
        throw new UnsupportedOperationException("not yet written (issue 12)");
    }

    /**
     * The report of project {@code projectId}; {@code rewardModel} scores responses for the reward-model
     * agreement (null: not reported).
     */
    public static QualityReport report(FeedbackStore store, long projectId, RewardScorer rewardModel) {
        throw new UnsupportedOperationException("not yet written (issue 12)");
    }
}
