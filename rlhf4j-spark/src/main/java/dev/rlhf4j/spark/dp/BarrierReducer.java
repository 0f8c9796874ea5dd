package dev.rlhf4j.spark.dp;

import dev.rlhf4j.train.GradientReducer;

/**
 * A {@link GradientReducer} between the tasks of a Spark barrier stage (one replica per task, the replica's index
 * its partition's), counting what it did: the float sums, their seconds, and the bytes this replica sent.
 */
public abstract sealed class BarrierReducer implements GradientReducer, AutoCloseable
        permits RingAllReduce, AllGatherReducer {
    private final int replica;
    private final int replicas;
    private long sums;
    private double seconds;
    long bytesSent;

    BarrierReducer(int replica, int replicas) {
        this.replica = replica;
        this.replicas = replicas;
    }

    @Override
    public final int replica() {
        return replica;
    }

    @Override
    public final int replicas() {
        return replicas;
    }

    @Override
    public final void sum(float[] data, int from, int length) {
        if (from < 0 || length < 0 || from + length > data.length) {
            throw new IndexOutOfBoundsException("[" + from + ", " + (from + length) + ") of " + data.length);
        }
        long t0 = System.nanoTime();
        if (replicas > 1 && length > 0) {
            sumFloats(data, from, length);
        }
        seconds += (System.nanoTime() - t0) / 1e9;
        sums++;
    }

    @Override
    public final double[] sum(double[] values) {
        return replicas == 1 ? values.clone() : sumDoubles(values);
    }

    abstract void sumFloats(float[] data, int from, int length);

    abstract double[] sumDoubles(double[] values);

    /** Float arrays summed so far. */
    public long sums() {
        return sums;
    }

    /** Seconds spent in float sums so far (waiting for the slowest replica included). */
    public double seconds() {
        return seconds;
    }

    /** Bytes this replica has sent so far (payload: encoding included, framing and Spark's RPC envelope not). */
    public long bytesSent() {
        return bytesSent;
    }

    /** Releases sockets and threads; also called when the task ends. */
    @Override
    public abstract void close();
}
