package dev.rlhf4j.train.lab;

/**
 * The seed streams of the lab's datasets: each dataset draws from {@code Rng(seed * 31 + stream)} of its own, so
 * adding or resizing one leaves the others as they were. The numbers are part of the data sets' identity (a run of
 * {@code rlhf4j lab generate} with the same seed writes the same files), so they never change.
 */
public enum LabStream {
    /** The pretraining corpus: dialogues and facts, shuffled together. */
    CORPUS(1),
    /** SFT demonstrations. */
    SFT(2),
    /** Held-out SFT demonstrations. */
    SFT_EVAL(3),
    /** Prompts for RL. */
    PROMPTS(4),
    /** Held-out evaluation prompts. */
    EVAL_PROMPTS(5),
    /** The demonstrators' two responses per prompt when pairs are not sampled from a model. */
    DEMONSTRATOR_PAIRS(6),
    /** The prompts of the training preference pairs. */
    PAIR_PROMPTS(7),
    /** The prompts of the held-out preference pairs. */
    EVAL_PAIR_PROMPTS(8),
    /** The annotators' choices on the training pairs. */
    LABELS(9),
    /** The annotators' choices on the held-out pairs. */
    EVAL_LABELS(10);

    private final long id;

    LabStream(long id) {
        this.id = id;
    }

    /** The stream number added to {@code seed * 31}. */
    public long id() {
        return id;
    }
}
