package dev.rlhf4j.spark.ppo;

import dev.rlhf4j.spark.SparkSessions;
import dev.rlhf4j.train.ppo.PpoConfig;
import dev.rlhf4j.train.ppo.PpoTrainer;
import dev.rlhf4j.train.run.PpoRun;
import org.apache.spark.sql.SparkSession;

/**
 * A PPO run's rollouts on Spark, as {@code rlhf4j spark ppo} runs them: a Spark session on {@code master} and a
 * {@link SparkRolloutEngine} installed in the trainer; closing it stops the session.
 */
public final class SparkPpoRollouts implements AutoCloseable {
    private final SparkSession spark;
    private final SparkRolloutEngine engine;

    private SparkPpoRollouts(SparkSession spark, SparkRolloutEngine engine) {
        this.spark = spark;
        this.engine = engine;
    }

    /**
     * Opens a session on {@code master} (null: spark-submit's) and makes {@code trainer}, which the driver assembled
     * from {@code in} with {@code cfg}, roll out on it; {@code bf16} broadcasts the weights in bf16.
     */
    public static SparkPpoRollouts start(String master, PpoTrainer trainer, PpoConfig cfg, PpoRun.Inputs in,
                                         boolean bf16) {
        SparkSession spark = SparkSessions.open(master, "rlhf4j ppo");
        try {
            SparkRolloutEngine engine = new SparkRolloutEngine(spark, trainer, cfg, in, bf16, null);
            trainer.rolloutEngine(engine);
            return new SparkPpoRollouts(spark, engine);
        } catch (RuntimeException e) {
            spark.stop();
            throw e;
        }
    }

    /** The master and its default parallelism, for the console. */
    public String describe() {
        return spark.sparkContext().master() + ", " + spark.sparkContext().defaultParallelism()
                + "-way default parallelism";
    }

    /** The engine (bytes and seconds of broadcasting so far). */
    public SparkRolloutEngine engine() {
        return engine;
    }

    @Override
    public void close() {
        spark.stop();
    }
}
