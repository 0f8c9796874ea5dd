package dev.rlhf4j.spark.dp;

import dev.rlhf4j.spark.SparkSessions;
import dev.rlhf4j.tensor.Rng;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.Serializable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The two gradient reducers in a barrier stage of {@code local[3]}: each replica sums seeded random arrays; the
 * result is the sum computed in double to float rounding, and every replica holds the same bits.
 */
class AllReduceTest {
    private static SparkSession spark;

    @BeforeAll
    static void start() {
        spark = SparkSessions.open("local[3]", "all-reduce-test");
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    /** Replica r's array: seeded by r, values of mixed sign and magnitude. */
    static float[] values(int replica, int length) {
        Rng rng = new Rng(1000 + replica);
        float[] x = new float[length];
        for (int i = 0; i < length; i++) {
            x[i] = (float) ((rng.nextFloat() - 0.5) * Math.pow(10, rng.nextInt(5) - 2));
        }
        return x;
    }

    /** What a replica returns: its index, its summed floats (the middle of a larger array) and doubles. */
    record Summed(int replica, float[] floats, double[] doubles, long bytesSent) implements Serializable {
    }

    private static List<Summed> run(DataParallelTraining.Reduction reduction, int replicas, int length) {
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        List<Summed> out = new ArrayList<>(BarrierStage.run(sc, replicas, Summed.class, task -> {
            int r = task.partitionId();
            try (BarrierReducer reducer = reduction == DataParallelTraining.Reduction.RING
                    ? RingAllReduce.open(task, Duration.ofSeconds(60)) : new AllGatherReducer(task)) {
                // the sum covers [3, 3 + length) of a longer array: the rest must stay as it was
                float[] padded = new float[length + 5];
                System.arraycopy(values(r, length), 0, padded, 3, length);
                padded[0] = -7;
                padded[length + 4] = 9;
                reducer.sum(padded, 3, length);
                assertEquals(-7f, padded[0]);
                assertEquals(9f, padded[length + 4]);
                float[] sum = new float[length];
                System.arraycopy(padded, 3, sum, 0, length);
                double[] d = reducer.sum(new double[] {r + 0.1, 1e-17 * (r + 1), r});
                return new Summed(r, sum, d, reducer.bytesSent());
            }
        }));
        out.sort(Comparator.comparingInt(Summed::replica));
        return out;
    }

    private static void assertSums(DataParallelTraining.Reduction reduction, int replicas, int length) {
        List<Summed> out = run(reduction, replicas, length);
        assertEquals(replicas, out.size());
        double[] exact = new double[length], magnitude = new double[length];
        for (int r = 0; r < replicas; r++) {
            float[] x = values(r, length);
            for (int i = 0; i < length; i++) {
                exact[i] += x[i];
                magnitude[i] += Math.abs(x[i]);
            }
        }
        float[] first = out.getFirst().floats();
        for (int i = 0; i < length; i++) {
            // N − 1 float additions in some order: |error| ≤ (N − 1)·u·Σ|x| with u = 2^-24 (Higham, eq. 4.4)
            double bound = 1.01 * (replicas - 1) * 0x1p-24 * magnitude[i];
            assertTrue(Math.abs(first[i] - exact[i]) <= bound, reduction + " element " + i + ": " + first[i]
                    + " vs " + exact[i]);
        }
        for (Summed s : out) {
            assertArrayEquals(first, s.floats(), "replica " + s.replica() + " holds the same bits as replica 0");
            double sumR = 0;
            for (int r = 0; r < replicas; r++) {
                sumR += r;
            }
            assertEquals(sumR + 0.1 * replicas, s.doubles()[0], 1e-12);
            assertEquals(0, Double.compare(out.getFirst().doubles()[1], s.doubles()[1]), "same bits");
            assertEquals(sumR, s.doubles()[2]);
        }
        if (reduction == DataParallelTraining.Reduction.RING) {
            // 2(N − 1) chunks of L/N floats each (the doubles' exchange aside)
            long floats = 4L * 2 * (replicas - 1) * length / replicas;
            assertEquals(floats, out.getFirst().bytesSent(), 40.0 * replicas);
        }
    }

    @Test
    void ringAllReduceOfTwoReplicasIsTheSumOnEveryReplicaBitForBit() {
        assertSums(DataParallelTraining.Reduction.RING, 2, 300_001);
    }

    @Test
    void ringAllReduceOfThreeReplicasIsTheSumOnEveryReplicaBitForBit() {
        // chunks of unequal lengths, longer than one 1 MiB block
        assertSums(DataParallelTraining.Reduction.RING, 3, 1_000_003);
    }

    @Test
    void allGatherReducerIsTheSumOnEveryReplicaBitForBit() {
        assertSums(DataParallelTraining.Reduction.ALL_GATHER, 2, 300_001);
        assertSums(DataParallelTraining.Reduction.ALL_GATHER, 3, 100_003);
    }
}
