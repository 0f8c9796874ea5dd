package dev.rlhf4j.spark.dp;

import org.apache.spark.BarrierTaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

import java.io.Serializable;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;

/**
 * Times the two gradient reducers on one Spark cluster: a barrier stage of N tasks sums an array of L floats
 * {@code repeats} times (after {@code warmup} untimed sums); every sum starts at a barrier, so a replica's time is
 * the sum's own, not another's lateness. Reported as replica 0 measured them.
 */
public final class AllReduceBenchmark {

    /**
     * One measurement.
     *
     * @param medianSeconds   the median time of one sum
     * @param minSeconds      the fastest sum
     * @param bytesSentPerSum bytes replica 0 sent per sum (payload)
     */
    public record Measurement(DataParallelTraining.Reduction reduction, int replicas, int floats, int repeats,
                              double medianSeconds, double minSeconds, long bytesSentPerSum) implements Serializable {
        /** Gradient bytes summed per second: 4·L / median time. */
        public double bytesPerSecond() {
            return 4.0 * floats / medianSeconds;
        }

        @Override
        public String toString() {
            return String.format("%-10s N=%d L=%,11d floats: median %8.1f ms, min %8.1f ms, %,13d bytes sent per sum "
                            + "by replica 0, %7.1f MB/s of gradient", reduction, replicas, floats, 1e3 * medianSeconds,
                    1e3 * minSeconds, bytesSentPerSum, bytesPerSecond() / 1e6);
        }
    }

    private AllReduceBenchmark() {
    }

    /** Measures {@code reduction} over {@code replicas} tasks summing {@code floats} floats. */
    public static Measurement measure(SparkSession spark, DataParallelTraining.Reduction reduction, int replicas,
                                      int floats, int warmup, int repeats) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        List<Measurement> out = BarrierStage.run(sc, replicas, Measurement.class, task -> {
            try (BarrierReducer reducer = open(reduction, task)) {
                float[] x = new float[floats];
                Arrays.fill(x, 1e-3f * (task.partitionId() + 1));
                for (int i = 0; i < warmup; i++) {
                    task.barrier();
                    reducer.sum(x, 0, floats);
                }
                long bytes0 = reducer.bytesSent();
                double[] seconds = new double[repeats];
                for (int i = 0; i < repeats; i++) {
                    task.barrier();
                    long t0 = System.nanoTime();
                    reducer.sum(x, 0, floats);
                    seconds[i] = (System.nanoTime() - t0) / 1e9;
                }
                Arrays.sort(seconds);
                return task.partitionId() != 0 ? null : new Measurement(reduction, replicas, floats, repeats,
                        seconds[repeats / 2], seconds[0], (reducer.bytesSent() - bytes0) / repeats);
            }
        });
        return out.getFirst();
    }

    private static BarrierReducer open(DataParallelTraining.Reduction reduction, BarrierTaskContext task)
            throws java.io.IOException {
        return reduction == DataParallelTraining.Reduction.RING ? RingAllReduce.open(task, Duration.ofMinutes(5))
                : new AllGatherReducer(task);
    }
}
