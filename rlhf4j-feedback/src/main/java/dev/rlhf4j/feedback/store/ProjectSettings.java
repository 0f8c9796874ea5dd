package dev.rlhf4j.feedback.store;

/**
 * What an admin sets on a project: its task and guidelines (Markdown), K responses per item (2 for comparisons,
 * 2..9 for rankings, 0 for demonstrations), the share of items labelled by {@code overlapAnnotators} people for
 * agreement, how responses are sampled and from which checkpoint, and the reward model whose agreement with the
 * people is reported (both paths may be null).
 */
public record ProjectSettings(String name, TaskType taskType, String guidelines, int responsesPerItem, double overlap,
                              int overlapAnnotators, Sampling sampling, String policyModel, String rewardModel) {
    public static final int MAX_NAME = 100;
    public static final int MAX_GUIDELINES = 100_000;

    public ProjectSettings {
        if (name == null || name.isBlank() || name.length() > MAX_NAME) {
            throw new IllegalArgumentException("name must be 1.." + MAX_NAME + " characters");
        }
        if (taskType == null) {
            throw new IllegalArgumentException("task_type is required");
        }
        guidelines = guidelines == null ? "" : guidelines;
        if (guidelines.length() > MAX_GUIDELINES) {
            throw new IllegalArgumentException("guidelines are longer than " + MAX_GUIDELINES + " characters");
        }
        switch (taskType) {
            case COMPARISON -> {
                if (responsesPerItem != 2) {
                    throw new IllegalArgumentException("a comparison project has 2 responses per item, got "
                            + responsesPerItem);
                }
            }
            case RANKING -> {
                if (responsesPerItem < 2 || responsesPerItem > 9) {
                    throw new IllegalArgumentException("a ranking project has 2..9 responses per item, got "
                            + responsesPerItem);
                }
            }
            case DEMONSTRATION -> {
                if (responsesPerItem != 0) {
                    throw new IllegalArgumentException("a demonstration project has no responses per item, got "
                            + responsesPerItem);
                }
            }
        }
        if (!(overlap >= 0 && overlap <= 1)) {
            throw new IllegalArgumentException("overlap must be in [0, 1], got " + overlap);
        }
        if (overlapAnnotators < 2 || overlapAnnotators > 10) {
            throw new IllegalArgumentException("overlap_annotators must be in [2, 10], got " + overlapAnnotators);
        }
        if (sampling == null) {
            sampling = Sampling.DEFAULTS;
        }
        policyModel = blankToNull(policyModel);
        rewardModel = blankToNull(rewardModel);
    }

    private static String blankToNull(String s) {
        return s == null || s.isBlank() ? null : s.strip();
    }

    /** A project of {@code type} with the defaults: K = 2 (0 for demonstrations), 10% overlap by 2 people. */
    public static ProjectSettings of(String name, TaskType type, String guidelines) {
        int k = switch (type) {
            case COMPARISON, RANKING -> 2;
            case DEMONSTRATION -> 0;
        };
        return new ProjectSettings(name, type, guidelines, k, 0.1, 2, Sampling.DEFAULTS, null, null);
    }
}
