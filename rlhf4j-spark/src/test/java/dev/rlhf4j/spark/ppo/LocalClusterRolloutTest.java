package dev.rlhf4j.spark.ppo;

import dev.rlhf4j.spark.SparkSessions;
import dev.rlhf4j.tensor.Parallel;
import dev.rlhf4j.train.run.PpoRun;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * PPO rollouts on executors in JVMs of their own ({@code local-cluster[2,1,1024]}: Spark's own master and workers
 * in this JVM start two executor processes), so everything a task needs really travels — the run's spec, the
 * broadcast weights, the chunks back — and the run still equals the single-process one. Spark's workers start
 * executors from {@code $SPARK_HOME} (set with {@code SPARK_SCALA_VERSION} by surefire, see the pom); the executors
 * get this JVM's class path and Java. Where the executors cannot start within a minute, the test is skipped saying so.
 */
class LocalClusterRolloutTest {

    @Test
    void rolloutsOnExecutorJvmsGiveTheSingleProcessEpisodesAndTraining(@TempDir Path tmp) throws Exception {
        String home = System.getenv("SPARK_HOME");
        assumeTrue(home != null && System.getenv("SPARK_SCALA_VERSION") != null,
                "SPARK_HOME and SPARK_SCALA_VERSION are not set: local-cluster cannot start executors");
        Files.createDirectories(Path.of(home, "jars"));
        TinyPpoWorld world = TinyPpoWorld.create(tmp.resolve("world"));
        PpoRun.Inputs in = world.inputs(false);
        // the executors' pools have one thread (one core each): so has the single-process run, for the kernels split
        // their work by the thread count, and the two runs then compute the same bits
        int threads = Parallel.global().threads();
        Parallel.setGlobalThreads(1);
        try {
            SparkRolloutEngineTest.run(null, SparkRolloutEngineTest.config(tmp.resolve("alone"), 2), in, null, false);
        } finally {
            Parallel.setGlobalThreads(threads);
        }
        int before = SparkRolloutEngine.workersBuiltInThisJvm();
        SparkSession spark = SparkSessions.open("local-cluster[2,1,1024]", "rlhf4j local-cluster test");
        try {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (spark.sparkContext().statusTracker().getExecutorInfos().length < 3
                    && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
            // the driver is listed too: two executors make three
            assumeTrue(spark.sparkContext().statusTracker().getExecutorInfos().length >= 3,
                    "local-cluster's two executor JVMs did not register within 60 s; see target/spark-home/work");
            SparkRolloutEngineTest.run(spark, SparkRolloutEngineTest.config(tmp.resolve("cluster"), 2), in, null,
                    false);
        } finally {
            spark.stop();
        }
        SparkRolloutEngineTest.assertSameRun(tmp.resolve("alone"), tmp.resolve("cluster"), 2);
        assertEquals(before, SparkRolloutEngine.workersBuiltInThisJvm(),
                "no copy of the models was built in this JVM: the chunks were computed in the executors' processes");
    }
}
