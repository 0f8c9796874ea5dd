package dev.rlhf4j.train;

/**
 * The replicas of a data-parallel run as the training loop sees them: N copies of one model, each computing the
 * gradient of its share of every optimizer step's batch ({@link Objective.Shard}), summed here after the
 * micro-batches are accumulated and before clipping, so that every replica takes the step a single process takes
 * with N times the batch (PyTorch's {@code DistributedDataParallel}, whose all-reduce averages where this sums:
 * an rlhf4j objective already divides each share by the whole step's loss tokens).
 *
 * <p>Every replica must end with the same bits (each element summed once, in one order, and that result handed to
 * all), or the replicas' weights drift apart. Replica 0 writes the run directory; the others write nothing.
 */
public interface GradientReducer {

    /** This replica's index, 0 to {@link #replicas()} − 1. */
    int replica();

    /** How many replicas train the model. */
    int replicas();

    /** Replaces {@code data[from, from + length)} with its element-wise sum over the replicas. */
    void sum(float[] data, int from, int length);

    /** The element-wise sum of {@code values} over the replicas (a step's loss and token counts). */
    double[] sum(double[] values);
}
