package dev.rlhf4j.train;

/**
 * Where the next training example comes from: the epoch (which fixes the data order, see the objective) and the
 * position in that epoch's order. Saved in every checkpoint so that a resumed run reads the same data next.
 */
public final class DataCursor {
    private int epoch;
    private int position;

    public DataCursor(int epoch, int position) {
        this.epoch = epoch;
        this.position = position;
    }

    public int epoch() {
        return epoch;
    }

    public int position() {
        return position;
    }

    public void advance(int examples) {
        position += examples;
    }

    /** Moves to the start of the next epoch. */
    public void nextEpoch() {
        epoch++;
        position = 0;
    }
}
