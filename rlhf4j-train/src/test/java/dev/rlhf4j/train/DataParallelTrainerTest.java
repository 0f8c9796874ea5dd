package dev.rlhf4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.data.Example;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The training loop's data-parallel hook without a cluster: two replicas on two threads of this JVM, their gradients
 * summed through shared memory in replica order, against one process with the whole batch.
 */
class DataParallelTrainerTest {
    private static final ModelConfig TINY = ModelConfig.llama(32, 32, 2, 4, 2, 48, 32, 1e-5f, 10000.0,
            Rope.Style.ROTATE_HALF, true, false);
    private final PrintWriter quiet = new PrintWriter(new StringWriter());

    /** N replicas as threads: each sum posts a copy, waits for all, adds them in replica order. */
    static final class ThreadReplicas {
        private final int n;
        private final CyclicBarrier barrier;
        private final Object[] posted;

        ThreadReplicas(int n) {
            this.n = n;
            this.barrier = new CyclicBarrier(n);
            this.posted = new Object[n];
        }

        GradientReducer replica(int r) {
            return new GradientReducer() {
                @Override
                public int replica() {
                    return r;
                }

                @Override
                public int replicas() {
                    return n;
                }

                @Override
                public void sum(float[] data, int from, int length) {
                    float[] mine = new float[length];
                    System.arraycopy(data, from, mine, 0, length);
                    posted[r] = mine;
                    await();
                    float[] sum = new float[length];
                    for (Object o : posted) {
                        float[] x = (float[]) o;
                        for (int i = 0; i < length; i++) {
                            sum[i] += x[i];
                        }
                    }
                    await(); // nobody posts the next array before all have read this one
                    System.arraycopy(sum, 0, data, from, length);
                }

                @Override
                public double[] sum(double[] values) {
                    posted[r] = values.clone();
                    await();
                    double[] sum = new double[values.length];
                    for (Object o : posted) {
                        double[] x = (double[]) o;
                        for (int i = 0; i < sum.length; i++) {
                            sum[i] += x[i];
                        }
                    }
                    await();
                    return sum;
                }
            };
        }

        private void await() {
            try {
                barrier.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException | BrokenBarrierException | TimeoutException e) {
                throw new IllegalStateException("replicas out of step", e);
            }
        }
    }

    private static List<Example> sftExamples(int count, long seed) {
        Rng rng = new Rng(seed);
        List<Example> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int promptLen = 3 + rng.nextInt(4), len = promptLen + 4 + rng.nextInt(6);
            int[] tokens = new int[len];
            boolean[] trainable = new boolean[len];
            for (int t = 0; t < len; t++) {
                tokens[t] = 1 + rng.nextInt(TINY.vocabSize() - 1);
                trainable[t] = t >= promptLen;
            }
            out.add(new Example(tokens, trainable));
        }
        return out;
    }

    /** Micro-batches of 2, {@code accumulation} of them a step (over all replicas). */
    private static TrainingConfig config(Path out, int steps, int accumulation) {
        return TrainingConfig.builder(out).learningRate(1e-3).lrSchedulerType("constant").maxSteps(steps)
                .perDeviceTrainBatchSize(2).gradientAccumulationSteps(accumulation).saveSteps(0).loggingSteps(1000)
                .seed(7).maxLength(32).build();
    }

    private static List<JsonNode> metrics(Path out) throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<JsonNode> lines = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            lines.add(json.readTree(l));
        }
        return lines;
    }

    private LmObjective objective(Transformer m, List<Example> data, TrainingConfig cfg) {
        return new LmObjective(m, data, List.of(), cfg, 0, (model, dir) -> { });
    }

    @Test
    void twoReplicasTakeTheStepsOfOneProcessWithTheWholeBatch(@TempDir Path tmp) throws Exception {
        List<Example> data = sftExamples(13, 11); // 7 micro-batches an epoch: steps cross the epoch's end
        int steps = 3;
        Transformer alone = Transformer.create(TINY, OutputHeads.LM, 9);
        TrainingConfig one = config(tmp.resolve("alone"), steps, 4);
        new Trainer(one, objective(alone, data, one), quiet).train(false);

        ThreadReplicas replicas = new ThreadReplicas(2);
        Transformer m0 = Transformer.create(TINY, OutputHeads.LM, 9), m1 = Transformer.create(TINY, OutputHeads.LM, 9);
        TrainingConfig c0 = config(tmp.resolve("dp"), steps, 4), c1 = config(tmp.resolve("never"), steps, 4);
        CompletableFuture<Trainer.Result> follower = CompletableFuture.supplyAsync(() -> {
            try {
                return new Trainer(c1, objective(m1, data, c1), quiet).dataParallel(replicas.replica(1)).follow();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        new Trainer(c0, objective(m0, data, c0), quiet).dataParallel(replicas.replica(0)).train(false);
        follower.get(60, TimeUnit.SECONDS);

        assertArrayEquals(m0.params().chunk(0), m1.params().chunk(0), "the replicas hold the same bits");
        assertFalse(Files.exists(tmp.resolve("never")), "replica 1 writes nothing");
        List<JsonNode> a = metrics(tmp.resolve("alone")), b = metrics(tmp.resolve("dp"));
        assertEquals(steps, b.size());
        for (int i = 0; i < steps; i++) {
            double x = a.get(i).get("loss").asDouble(), y = b.get(i).get("loss").asDouble();
            // step 1: the same terms, summed in another order (double); later steps: the weights' differences
            assertEquals(x, y, (i == 0 ? 1e-12 : 1e-6) * x, "step " + (i + 1) + " loss");
            assertEquals(a.get(i).get("grad_norm").asDouble(), b.get(i).get("grad_norm").asDouble(),
                    1e-5 * a.get(i).get("grad_norm").asDouble(), "step " + (i + 1) + " grad_norm");
            assertEquals(a.get(i).get("num_tokens").asLong(), b.get(i).get("num_tokens").asLong());
            assertEquals(a.get(i).get("epoch").asDouble(), b.get(i).get("epoch").asDouble());
        }
        // the gradients differ by float rounding in the order the micro-batches are added (TrainerTest allows
        // 1e-4 relative between accumulation orders); AdamW turns a relative gradient difference δ into at most
        // ~2δ·lr per step where |g| ≫ ε: 3 steps · 2e-4 · 1e-3 ≈ 6e-7
        float[] pa = alone.params().chunk(0), pb = m0.params().chunk(0);
        double max = 0;
        for (int i = 0; i < pa.length; i++) {
            max = Math.max(max, Math.abs(pa[i] - pb[i]));
        }
        System.out.printf("2 replicas vs 1 process, %d steps: largest weight difference %.3g%n", steps, max);
        assertTrue(max <= steps * 2e-4 * 1e-3, "largest weight difference " + max);
    }

    @Test
    void withoutAReducerNothingChanges(@TempDir Path tmp) throws IOException {
        // the default path is the one every other test runs; a shard of one is that path exactly
        List<Example> data = sftExamples(9, 3);
        TrainingConfig cfg = config(tmp, 1, 3);
        Transformer a = Transformer.create(TINY, OutputHeads.LM, 2), b = a.copy();
        a.zeroGrad();
        b.zeroGrad();
        Objective.StepResult ra = objective(a, data, cfg).trainStep(new DataCursor(0, 0));
        Objective.StepResult rb = objective(b, data, cfg).trainStep(new DataCursor(0, 0), Objective.Shard.WHOLE);
        assertEquals(ra, rb);
        assertArrayEquals(a.grads().chunk(0), b.grads().chunk(0));
    }

    @Test
    void aReplicaZeroThatCannotStartStopsTheOthers(@TempDir Path tmp) throws Exception {
        List<Example> data = sftExamples(8, 5);
        ThreadReplicas replicas = new ThreadReplicas(2);
        TrainingConfig cfg = config(tmp.resolve("run"), 2, 2);
        CompletableFuture<Trainer.Result> follower = CompletableFuture.supplyAsync(() -> {
            try {
                return new Trainer(cfg, objective(Transformer.create(TINY, OutputHeads.LM, 1), data, cfg), quiet)
                        .dataParallel(replicas.replica(1)).follow();
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        Trainer leader = new Trainer(cfg, objective(Transformer.create(TINY, OutputHeads.LM, 1), data, cfg), quiet)
                .dataParallel(replicas.replica(0));
        // the wrong directory: the loop refuses it before the first step, and tells replica 1
        try (RunDirectory wrong = RunDirectory.open(tmp.resolve("other"), Trainer.kind("sft"),
                RunDirectory.Start.NEW, quiet)) {
            assertThrows(UserError.class, () -> leader.train(wrong));
        }
        assertNull(follower.get(30, TimeUnit.SECONDS), "replica 1 stops without training");
    }

    @Test
    void aShardIsOneReplicaOfSeveral() {
        assertThrows(IllegalArgumentException.class, () -> new Objective.Shard(2, 2));
        Objective.Shard s = new Objective.Shard(1, 3);
        assertTrue(s.owns(1) && s.owns(4) && !s.owns(0) && !s.owns(2));
    }
}
