package dev.rlhf4j.spark.dp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.model.tokenizer.BpeTrainer;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.spark.SparkSessions;
import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.TrainingConfig;
import dev.rlhf4j.train.lab.LabData;
import dev.rlhf4j.train.lab.LabDataset;
import dev.rlhf4j.train.lab.LabWorld;
import org.apache.spark.BarrierTaskContext;
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
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Data-parallel SFT on Spark ({@code local[2,3]}: two task slots, a task may fail twice) against single-process SFT
 * with the whole batch: the same loss curve and weights to float rounding; a failed task's stage is retried with
 * the same result; a resumed run continues as the uninterrupted one.
 */
class DataParallelSftTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int STEPS = 4;
    @TempDir
    static Path shared;
    private static Path model, data;
    private static SparkSession spark;
    private final PrintWriter quiet = new PrintWriter(new StringWriter());

    @BeforeAll
    static void tinyModelAndData() throws IOException {
        LabWorld w = new LabWorld(0);
        Tokenizer tok = new BpeTrainer(300, List.of(LabDataset.EOS, LabDataset.PAD),
                Map.of("bos_token", LabDataset.EOS, "eos_token", LabDataset.EOS,
                        "pad_token", LabDataset.PAD)).train(LabData.corpus(w, 150, 50));
        ModelConfig cfg = ModelConfig.llama(tok.vocabSize(), 32, 2, 4, 2, 64, 96, 1e-5f, 10000.0,
                Rope.Style.ROTATE_HALF, true, false);
        model = shared.resolve("model");
        HfCheckpoint.save(Transformer.create(cfg, OutputHeads.LM, 1), model,
                HfCheckpoint.SaveOptions.of(Safetensors.DType.F32).withTokenizer(tok));
        data = shared.resolve("sft.jsonl");
        StringBuilder lines = new StringBuilder();
        for (String[] d : LabData.demonstrations(w, 40, 5)) {
            lines.append(JSON.writeValueAsString(Map.of("prompt", d[0], "completion", d[1]))).append('\n');
        }
        Files.writeString(data, lines);
        spark = SparkSessions.open("local[2,3]", "data-parallel-test");
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    /** Each replica's settings: micro-batches of 3, {@code accumulation} of them per replica and step. */
    private static TrainingConfig config(Path out, int steps, int accumulation) {
        return TrainingConfig.builder(out).learningRate(3e-3).lrSchedulerType("constant").maxSteps(steps)
                .perDeviceTrainBatchSize(3).gradientAccumulationSteps(accumulation).perDeviceEvalBatchSize(4)
                .evalSteps(2).saveSteps(1).saveTotalLimit(2).loggingSteps(1000).seed(5).maxLength(96).build();
    }

    private static DataParallelSft job(Path out, int steps, int replicas, int accumulation) {
        return DataParallelSft.of(config(out, steps, accumulation), replicas, model, null, data, null, 0.15,
                Safetensors.DType.F32);
    }

    /** SFT in this process, with {@code accumulation} micro-batches a step: the reference. */
    private void alone(Path out, int steps, int accumulation) throws IOException {
        job(out, steps, 1, accumulation).trainer(quiet).train(false);
    }

    private DataParallelTraining.Outcome onSpark(Path out, int steps, DataParallelTraining.Options options)
            throws IOException {
        return DataParallelTraining.run(spark, job(out, steps, 2, 2), options, quiet);
    }

    static float[] weights(Path dir) throws IOException {
        ParamArena p = Pretrained.open(dir, null).model().trainable();
        float[] all = new float[(int) p.size()];
        int at = 0;
        for (int c = 0; c < p.chunkCount(); c++) {
            float[] chunk = p.chunk(c);
            System.arraycopy(chunk, 0, all, at, chunk.length);
            at += chunk.length;
        }
        return all;
    }

    static List<JsonNode> metrics(Path out) throws IOException {
        List<JsonNode> l = new ArrayList<>();
        for (String s : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            l.add(JSON.readTree(s));
        }
        return l;
    }

    @Test
    void twoReplicasTrainAsOneProcessWithTwiceTheBatch(@TempDir Path tmp) throws IOException {
        alone(tmp.resolve("alone"), STEPS, 4);
        DataParallelTraining.Outcome o = onSpark(tmp.resolve("dp"), STEPS, DataParallelTraining.Options.defaults());
        assertEquals(STEPS, o.steps());
        assertEquals(0, o.stageAttempt());
        assertEquals(STEPS, o.gradientSums(), "one parameter chunk: one sum a step");

        // the loss curve: the first step's loss differs only in the order its double sums are added; later ones
        // by the weights' rounding differences below
        List<JsonNode> a = metrics(tmp.resolve("alone")), b = metrics(tmp.resolve("dp"));
        assertEquals(STEPS, b.size());
        for (int i = 0; i < STEPS; i++) {
            for (String k : List.of("loss", "grad_norm", "eval_loss")) {
                if (a.get(i).has(k)) {
                    double x = a.get(i).get(k).asDouble(), y = b.get(i).get(k).asDouble();
                    assertEquals(x, y, 1e-5 * Math.abs(x), "step " + (i + 1) + " " + k);
                }
            }
            for (String k : List.of("step", "epoch", "learning_rate", "num_tokens")) {
                assertEquals(a.get(i).get(k).asDouble(), b.get(i).get(k).asDouble(), "step " + (i + 1) + " " + k);
            }
            assertTrue(b.get(i).has("allreduce_s"));
        }
        assertTrue(b.get(1).has("eval_loss"), "replica 0 evaluates as the single process does");

        // the weights: the gradients differ only in the order the micro-batches' contributions are added, within
        // 1e-4 relative (what TrainerTest allows between accumulation orders); AdamW's update m̂/(√v̂ + ε) turns a
        // relative gradient difference δ into at most ~2δ·lr per step where |g| ≫ ε: 4 steps · 2e-4 · 3e-3 = 2.4e-6
        float[] wa = weights(tmp.resolve("alone")), wb = weights(tmp.resolve("dp"));
        double max = 0;
        int differ = 0;
        for (int i = 0; i < wa.length; i++) {
            max = Math.max(max, Math.abs(wa[i] - wb[i]));
            differ += wa[i] != wb[i] ? 1 : 0;
        }
        System.out.printf("2 replicas on Spark vs 1 process, %d steps: largest weight difference %.3g (%d of %d "
                + "weights differ)%n", STEPS, max, differ, wa.length);
        assertTrue(max <= STEPS * 2e-4 * 3e-3, "largest weight difference " + max + " (" + differ + " of "
                + wa.length + ")");
        assertFalse(Files.exists(tmp.resolve("dp").resolve("checkpoint-2")), "save_total_limit 2");
        assertTrue(Files.exists(tmp.resolve("dp").resolve("checkpoint-4")));
    }

    @Test
    void theAllGatherReducerTrainsTheSameModel(@TempDir Path tmp) throws IOException {
        onSpark(tmp.resolve("ring"), 2, DataParallelTraining.Options.defaults());
        DataParallelTraining.Outcome o = onSpark(tmp.resolve("gather"), 2, DataParallelTraining.Options.defaults()
                .with(DataParallelTraining.Reduction.ALL_GATHER));
        assertEquals(2, o.steps());
        // for two replicas both reducers compute fl(g0 + g1) once: the same bits
        assertArrayEquals(weights(tmp.resolve("ring")), weights(tmp.resolve("gather")));
    }

    @Test
    void aFailedTaskIsRetriedByRerunningTheStageFromTheLastCheckpoint(@TempDir Path tmp) throws IOException {
        onSpark(tmp.resolve("unfailed"), STEPS, DataParallelTraining.Options.defaults());
        // replica 1's first attempt fails before its third gradient sum, as a lost executor's would: Spark kills
        // replica 0 and reruns both, which continue from checkpoint-2
        DataParallelTraining.Outcome o = onSpark(tmp.resolve("failed"), STEPS, DataParallelTraining.Options
                .defaults().with((replica, sums) -> {
                    if (replica == 1 && sums == 3 && BarrierTaskContext.get().stageAttemptNumber() == 0) {
                        throw new IllegalStateException("injected failure of replica 1 at step 3");
                    }
                }));
        assertTrue(o.stageAttempt() >= 1, "the stage ran again: attempt " + o.stageAttempt());
        assertArrayEquals(weights(tmp.resolve("unfailed")), weights(tmp.resolve("failed")),
                "a checkpoint holds all a step depends on: the same bits");
        List<JsonNode> a = metrics(tmp.resolve("unfailed")), b = metrics(tmp.resolve("failed"));
        assertEquals(STEPS, b.size());
        for (int i = 0; i < STEPS; i++) {
            assertEquals(a.get(i).get("loss").asDouble(), b.get(i).get("loss").asDouble(), "step " + (i + 1));
        }
    }

    @Test
    void aResumedRunStartsEveryReplicaFromReplicaZerosCheckpoint(@TempDir Path tmp) throws IOException {
        onSpark(tmp.resolve("whole"), STEPS, DataParallelTraining.Options.defaults());
        onSpark(tmp.resolve("resumed"), 2, DataParallelTraining.Options.defaults());
        // a new run may not reuse the directory; --resume continues it on both replicas
        assertThrows(IllegalStateException.class, () -> onSpark(tmp.resolve("resumed"), STEPS,
                DataParallelTraining.Options.defaults()));
        DataParallelTraining.Outcome o = onSpark(tmp.resolve("resumed"), STEPS, DataParallelTraining.Options
                .defaults().with(RunDirectory.Start.RESUME));
        assertEquals(STEPS, o.steps());
        assertEquals(2, o.gradientSums(), "steps 3 and 4 only");
        assertArrayEquals(weights(tmp.resolve("whole")), weights(tmp.resolve("resumed")));
        assertEquals(STEPS, metrics(tmp.resolve("resumed")).size());
        // the checkpoints are the single-process run's: one process with the whole batch continues them as
        // rlhf4j sft --resume would (same kind, same fingerprint)
        onSpark(tmp.resolve("handoff"), 2, DataParallelTraining.Options.defaults());
        DataParallelSft single = job(tmp.resolve("handoff"), STEPS, 1, 4);
        assertEquals(single.fingerprint().toJson(), job(tmp.resolve("handoff"), STEPS, 2, 2).fingerprint().toJson());
        try (RunDirectory run = RunDirectory.open(tmp.resolve("handoff"), single.kind(), RunDirectory.Start.RESUME,
                quiet)) {
            run.verify(single.fingerprint(), false);
            assertEquals(STEPS, single.trainer(quiet).train(run).steps());
        }
        float[] wa = weights(tmp.resolve("whole")), wb = weights(tmp.resolve("handoff"));
        for (int i = 0; i < wa.length; i++) {
            assertEquals(wa[i], wb[i], STEPS * 2e-4 * 3e-3, "weight " + i);
        }
        assertEquals(STEPS, metrics(tmp.resolve("handoff")).size());
    }

    @Test
    void aBadInputIsOneUserErrorAndNothingIsTrained(@TempDir Path tmp) {
        DataParallelSft bad = DataParallelSft.of(config(tmp.resolve("out"), 2, 1), 2, model, null,
                tmp.resolve("missing.jsonl"), null, 0, Safetensors.DType.F32);
        UserError e = assertThrows(UserError.class, () -> DataParallelTraining.run(spark, bad,
                DataParallelTraining.Options.defaults(), quiet));
        assertTrue(e.getMessage().contains("missing.jsonl"), e.getMessage());
    }
}
