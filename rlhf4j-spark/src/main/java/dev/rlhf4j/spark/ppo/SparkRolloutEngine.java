package dev.rlhf4j.spark.ppo;

import dev.rlhf4j.train.ppo.PpoConfig;
import dev.rlhf4j.train.ppo.PpoTrainer;
import dev.rlhf4j.train.ppo.RolloutChunk;
import dev.rlhf4j.train.ppo.RolloutEngine;
import dev.rlhf4j.train.run.PpoRun;
import dev.rlhf4j.tensor.UserError;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.api.java.function.Function;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * PPO rollouts on a Spark cluster. Before each step the driver broadcasts the weights training changed (the
 * policy's, or its adapters under LoRA, and the critic's; {@link RolloutWeights}, versioned by step); one task per
 * rollout chunk ({@code local_rollout_forward_batch_size} prompts) samples the chunk's responses and computes the
 * policy's and the reference's log-probabilities, the values and the rewards on its executor's own copy of the
 * models ({@link PpoWorkers}); the driver collects the chunks and runs the update itself.
 *
 * <p>Same episodes as the single-process trainer: a chunk's sampling seed is derived from the run's seed, the step
 * and the chunk's offset in the step's batch only (never from the executor, the task or its attempt), and a chunk
 * is computed as the single-process trainer computes it — one batch of the same prompts through the same models
 * with the same weights. A retried task (a lost executor) therefore returns the same chunk.
 */
public final class SparkRolloutEngine implements RolloutEngine {

    /** A hook run in each task before its chunk is computed (tests use it to fail a first attempt). */
    @FunctionalInterface
    public interface TaskHook extends Serializable {
        void beforeChunk(int step, int chunk);
    }

    /** One task's work: chunk {@code chunk} of step {@code step}, at offset {@code from}, over {@code prompts}. */
    private record ChunkTask(int step, int chunk, int from, int[] prompts) implements Serializable {
    }

    /** A task's chunk, the time it took to receive the step's weights, and its whole time, in nanoseconds. */
    private record TaskResult(RolloutChunk chunk, long weightNanos, long taskNanos) implements Serializable {
    }

    private final JavaSparkContext sc;
    private final PpoTrainer trainer;
    private final PpoWorkerSpec spec;
    private final boolean bf16;
    private final TaskHook hook;
    private long bytesBroadcast;
    private Map<String, Double> last = Map.of();
    private double broadcastSeconds;

    /**
     * An engine for {@code trainer}, which the driver assembled from {@code in} with {@code cfg}.
     *
     * @param bf16 broadcast the weights in bf16 (half the bytes; workers then sample from the policy rounded to
     *             bf16, so episodes are no longer the single-process trainer's)
     * @param hook run in every task first; null for none
     */
    public SparkRolloutEngine(SparkSession spark, PpoTrainer trainer, PpoConfig cfg, PpoRun.Inputs in, boolean bf16,
                              TaskHook hook) {
        this.sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        this.trainer = trainer;
        this.spec = PpoWorkerSpec.of(UUID.randomUUID().toString(), cfg, in);
        this.bf16 = bf16;
        this.hook = hook;
    }

    @Override
    public List<RolloutChunk> rollout(int step, List<int[]> chunks) {
        long t0 = System.nanoTime();
        RolloutWeights w = RolloutWeights.of(spec.runId(), step, trainer.rolloutWeights(), bf16);
        Broadcast<RolloutWeights> weights = sc.broadcast(w);
        broadcastSeconds += (System.nanoTime() - t0) / 1e9;
        bytesBroadcast += w.bytes();
        int fwd = spec.localRolloutForwardBatchSize();
        List<ChunkTask> tasks = new ArrayList<>(chunks.size());
        for (int c = 0; c < chunks.size(); c++) {
            tasks.add(new ChunkTask(step, c, c * fwd, chunks.get(c)));
        }
        PpoWorkerSpec s = spec;
        TaskHook h = hook;
        Function<ChunkTask, TaskResult> compute = t -> {
            long start = System.nanoTime();
            if (h != null) {
                h.beforeChunk(t.step(), t.chunk());
            }
            // the weights are fetched once per executor (then read from its block manager) and written into the
            // executor's copy of the models once per step, after the copy is built (not to hold both at once)
            long[] nanos = new long[1];
            RolloutChunk chunk = PpoWorkers.compute(s, () -> {
                long f0 = System.nanoTime();
                RolloutWeights value = weights.value();
                nanos[0] += System.nanoTime() - f0;
                return value;
            }, t.step(), t.from(), t.prompts(), nanos);
            return new TaskResult(chunk, nanos[0], System.nanoTime() - start);
        };
        try {
            sc.setJobDescription("PPO step " + step + " rollout: " + chunks.size() + " chunks");
            long t1 = System.nanoTime();
            List<TaskResult> results = sc.parallelize(tasks, tasks.size()).map(compute).collect();
            double wall = (System.nanoTime() - t1) / 1e9;
            List<RolloutChunk> out = new ArrayList<>(results.size());
            long weightNanos = 0, taskNanos = 0;
            for (TaskResult r : results) {
                out.add(r.chunk());
                weightNanos += r.weightNanos();
                taskNanos += r.taskNanos();
            }
            out.sort(Comparator.comparingInt(RolloutChunk::from));
            double broadcast = (t1 - t0) / 1e9;
            last = Map.of("spark/broadcast_s", broadcast, "spark/broadcast_mb", w.bytes() / 1e6,
                    "spark/weights_apply_s", weightNanos / 1e9, "spark/tasks_s", taskNanos / 1e9,
                    "spark/job_s", wall);
            return out;
        } catch (Exception e) { // Spark throws its (checked) SparkException undeclared
            // a user's error on an executor (a path it cannot read, a bad prompt) is reported as such, in one line
            for (Throwable c = e; c != null; c = c.getCause()) {
                if (c instanceof UserError u) {
                    throw new UserError("on a Spark executor: " + u.getMessage());
                }
            }
            String m = String.valueOf(e.getMessage());
            if (m.contains("OutOfMemoryError") || m.contains("exited with code 52")) {
                // Spark's executors exit with code 52 when their heap runs out: say so, not the driver's heap
                throw new UserError("PPO step " + step + ": a Spark executor ran out of memory holding its copy of "
                        + "the models (policy, reference, critic) and the " + String.format("%.0f", w.bytes() / 1e6)
                        + " MB of broadcast weights; give executors more (spark.executor.memory), or hold less: "
                        + "--frozen-dtype bf16, --critic value-head, --broadcast-dtype bf16, LoRA");
            }
            throw new IllegalStateException("PPO step " + step + ": the rollout job failed: " + e.getMessage(), e);
        } finally {
            weights.destroy();
        }
    }

    @Override
    public Map<String, Double> lastMetrics() {
        return last;
    }

    /** Bytes of weights broadcast so far (once per step; each executor fetches them once). */
    public long bytesBroadcast() {
        return bytesBroadcast;
    }

    /** Seconds the driver spent copying and broadcasting weights so far. */
    public double broadcastSeconds() {
        return broadcastSeconds;
    }

    /** How many copies of a run's models this JVM has built as a worker (local mode: the executors' copies). */
    public static int workersBuiltInThisJvm() {
        return PpoWorkers.built();
    }
}
