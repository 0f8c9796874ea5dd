package dev.rlhf4j.spark.ppo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.LoraConfig;
import dev.rlhf4j.spark.SparkSessions;
import dev.rlhf4j.train.ppo.PpoConfig;
import dev.rlhf4j.train.ppo.PpoCritic;
import dev.rlhf4j.train.ppo.PpoTrainer;
import dev.rlhf4j.train.run.PpoRun;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * PPO with its rollouts on Spark ({@code local[2,3]}: two executor threads, a task may fail twice and is retried)
 * against the single-process trainer: same inputs and seed, so the same episodes, scores and training, step by step.
 */
class SparkRolloutEngineTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path shared;
    private static TinyPpoWorld world;
    private static SparkSession spark;

    @BeforeAll
    static void tinyWorld() throws IOException {
        world = TinyPpoWorld.create(shared);
        spark = SparkSessions.open("local[2,3]", "rollouts-test");
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    static PpoConfig config(Path out, int steps) {
        PpoConfig.Builder c = PpoConfig.builder(out);
        c.perDeviceTrainBatchSize(4);
        c.gradientAccumulationSteps(1);
        c.numMiniBatches(3);
        c.numPpoEpochs(2);
        c.localRolloutForwardBatchSize(5); // chunks of 5 + 5 + 2 episodes: three tasks a step
        c.responseLength(10);
        c.learningRate(1e-3);
        c.maxSteps(steps);
        c.saveSteps(1);
        c.sampleSteps(1);
        c.numSampleGenerations(12);
        c.seed(11);
        return c.build();
    }

    private static PpoRun.Inputs inputs(boolean labReward) {
        return world.inputs(labReward);
    }

    private static PpoTrainer run(PpoConfig cfg, PpoRun.Inputs in, boolean onSpark,
                                  SparkRolloutEngine.TaskHook hook, boolean resume) throws IOException {
        return run(onSpark ? spark : null, cfg, in, hook, resume);
    }

    /** Trains {@code cfg}'s run with its rollouts on {@code session} (null: in this process). */
    static PpoTrainer run(SparkSession session, PpoConfig cfg, PpoRun.Inputs in, SparkRolloutEngine.TaskHook hook,
                          boolean resume) throws IOException {
        PpoRun r = PpoRun.fromPaths(cfg, in, new PrintWriter(new StringWriter()));
        if (session != null) {
            r.trainer().rolloutEngine(new SparkRolloutEngine(session, r.trainer(), cfg, in, false, hook));
        }
        r.trainer().train(resume);
        return r.trainer();
    }

    private static List<JsonNode> metrics(Path out) throws IOException {
        List<JsonNode> l = new ArrayList<>();
        for (String s : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            l.add(JSON.readTree(s));
        }
        return l;
    }

    /** Every metric but the clocks equal (to rounding at most), and the same sampled responses and scores. */
    static void assertSameRun(Path a, Path b, int steps) throws IOException {
        List<JsonNode> ma = metrics(a), mb = metrics(b);
        assertEquals(steps, ma.size());
        assertEquals(steps, mb.size());
        for (int i = 0; i < steps; i++) {
            for (var it = ma.get(i).fields(); it.hasNext(); ) {
                var e = it.next();
                if (e.getKey().startsWith("time/") || e.getKey().endsWith("tokens_per_s")
                        || !e.getValue().isNumber()) {
                    continue;
                }
                double x = e.getValue().asDouble(), y = mb.get(i).get(e.getKey()).asDouble();
                assertEquals(x, y, 1e-6 * Math.max(1, Math.abs(x)), "step " + (i + 1) + " " + e.getKey());
            }
        }
        assertEquals(Files.readAllLines(a.resolve("samples.jsonl")), Files.readAllLines(b.resolve("samples.jsonl")),
                "the same responses and scores");
    }

    @Test
    void rolloutsOnSparkGiveTheSingleProcessEpisodesAndTraining(@TempDir Path tmp) throws IOException {
        PpoRun.Inputs in = inputs(false);
        run(config(tmp.resolve("alone"), 2), in, false, null, false);
        int before = SparkRolloutEngine.workersBuiltInThisJvm();
        run(config(tmp.resolve("spark"), 2), in, true, null, false);
        assertSameRun(tmp.resolve("alone"), tmp.resolve("spark"), 2);
        int built = SparkRolloutEngine.workersBuiltInThisJvm() - before;
        assertTrue(built >= 1 && built <= 2, "one copy of the models per task slot, kept across steps: " + built);
        assertTrue(Files.exists(tmp.resolve("spark/model.safetensors")), "the driver writes the trained policy");
    }

    @Test
    void aFailedTaskIsRetriedWithTheSameResult(@TempDir Path tmp) throws IOException {
        PpoRun.Inputs in = inputs(true);
        run(config(tmp.resolve("alone"), 2), in, false, null, false);
        // the first attempt of every step's second chunk fails (as a lost executor's would): Spark runs it again
        run(config(tmp.resolve("spark"), 2), in, true, (step, chunk) -> {
            if (chunk == 1 && TaskContext.get().attemptNumber() == 0) {
                throw new IllegalStateException("injected failure of step " + step + " chunk 1");
            }
        }, false);
        assertSameRun(tmp.resolve("alone"), tmp.resolve("spark"), 2);
    }

    @Test
    void aResumedDistributedRunContinuesAsTheUninterruptedOne(@TempDir Path tmp) throws IOException {
        PpoRun.Inputs in = inputs(true);
        run(config(tmp.resolve("alone"), 3), in, false, null, false);
        run(config(tmp.resolve("spark"), 1), in, true, null, false);
        run(config(tmp.resolve("spark"), 3), in, true, null, true);
        assertSameRun(tmp.resolve("alone"), tmp.resolve("spark"), 3);
    }

    @Test
    void underLoraOnlyTheAdaptersAndTheValueHeadAreBroadcast(@TempDir Path tmp) throws IOException {
        LoraConfig lora = new LoraConfig(4, 8, 0, List.of("all-linear"), false);
        PpoRun.Inputs in = inputs(false).with(lora, PpoCritic.VALUE_HEAD);
        run(config(tmp.resolve("alone"), 2), in, false, null, false);
        PpoConfig cfg = config(tmp.resolve("spark"), 2);
        PpoRun r = PpoRun.fromPaths(cfg, in, new PrintWriter(new StringWriter()));
        SparkRolloutEngine engine = new SparkRolloutEngine(spark, r.trainer(), cfg, in, false, null);
        r.trainer().rolloutEngine(engine).train(false);
        assertSameRun(tmp.resolve("alone"), tmp.resolve("spark"), 2);
        long perStep = 4L * r.policy().trainableCount();
        assertEquals(2 * perStep, engine.bytesBroadcast(), "two steps of the adapters and the value head, in fp32");
        assertTrue(r.policy().trainableCount() < r.policy().parameterCount() / 4,
                r.policy().trainableCount() + " of " + r.policy().parameterCount());
    }

    @Test
    void bf16BroadcastsHalfTheBytesAndTheExecutorsSampleFromTheRoundedPolicy(@TempDir Path tmp) throws IOException {
        PpoRun.Inputs in = inputs(true);
        PpoConfig cfg = config(tmp.resolve("bf16"), 2);
        PpoRun r = PpoRun.fromPaths(cfg, in, new PrintWriter(new StringWriter()));
        SparkRolloutEngine engine = new SparkRolloutEngine(spark, r.trainer(), cfg, in, true, null);
        r.trainer().rolloutEngine(engine).train(false);
        long trained = r.policy().trainableCount() + r.critic().trainableCount();
        assertEquals(2 * 2L * trained, engine.bytesBroadcast(), "two steps of the policy and the critic, 2 bytes each");
        // step 1: the executors' policy is the starting policy rounded to bf16 (8 significant bits), the reference
        // is it unrounded: a small KL, not 0 (the driver's own rollouts would give 0 here)
        JsonNode first = metrics(tmp.resolve("bf16")).get(0);
        double kl = first.get("objective/kl").asDouble();
        assertTrue(kl != 0 && Math.abs(kl) < 0.1, "KL of the bf16-rounded policy to the reference: " + kl);
        assertEquals(2, metrics(tmp.resolve("bf16")).size());
    }
}
