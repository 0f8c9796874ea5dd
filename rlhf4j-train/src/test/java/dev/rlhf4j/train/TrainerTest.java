package dev.rlhf4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.CrossEntropy;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.train.data.CollatedBatch;
import dev.rlhf4j.train.data.Collator;
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
import java.util.Map;

import static dev.rlhf4j.tensor.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainerTest {
    private static final ModelConfig TINY = ModelConfig.llama(32, 32, 2, 4, 2, 48, 32, 1e-5f, 10000.0,
            Rope.Style.ROTATE_HALF, true, false);
    private final PrintWriter quiet = new PrintWriter(new StringWriter());

    /** Prompt/completion examples of random tokens: the first {@code promptLen} tokens are not trainable. */
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

    private static TrainingConfig config(Path out, double lr, int steps, int batch, int accumulation) {
        return TrainingConfig.builder(out).learningRate(lr).lrSchedulerType("constant").numTrainEpochs(1.0)
                .maxSteps(steps).perDeviceTrainBatchSize(batch).gradientAccumulationSteps(accumulation)
                .saveSteps(0).loggingSteps(1000).seed(7).maxLength(32).maxConsecutiveNanSkips(3).build();
    }

    private static LmObjective objective(Transformer m, List<Example> train, TrainingConfig cfg) {
        return new LmObjective(m, train, List.of(), cfg, 0, (model, dir) -> { });
    }

    private static List<JsonNode> metrics(Path out) throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<JsonNode> lines = new ArrayList<>();
        for (String l : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            lines.add(json.readTree(l));
        }
        return lines;
    }

    @Test
    void overfittingAHandfulOfSftExamplesDrivesTheirLossNearZero(@TempDir Path tmp) throws IOException {
        Transformer m = Transformer.create(TINY, OutputHeads.LM, 1);
        List<Example> data = sftExamples(4, 3);
        TrainingConfig cfg = config(tmp, 1e-2, 200, 4, 1);
        Trainer.Result r = new Trainer(cfg, objective(m, data, cfg), quiet).train(false);
        List<JsonNode> lines = metrics(tmp);
        assertEquals(200, lines.size());
        double first = lines.get(0).get("loss").asDouble(), last = lines.get(199).get("loss").asDouble();
        assertTrue(first > 3.0, "starts near log(32): " + first);
        assertTrue(last < 0.05, "memorised: " + last);
        assertTrue(Files.exists(tmp.resolve("checkpoint-200").resolve("trainer_state.json")));
        assertTrue(Files.exists(tmp.resolve("train_results.json")));
        assertEquals(200, r.steps());
    }

    @Test
    void completionOnlyLossGivesPromptPositionsNoGradient() {
        Transformer m = Transformer.create(TINY, OutputHeads.LM, 2);
        List<Example> data = sftExamples(3, 5);
        CollatedBatch b = Collator.pad(data, 32, 0);
        m.forward(b.batch());
        m.zeroGrad();
        m.lmLoss(b.targets(), null, 1f / b.lossTokens(), true);
        Tensor dh = m.hiddenGrad();
        int seq = b.batch().seq();
        for (int row = 0; row < data.size(); row++) {
            Example e = data.get(row);
            for (int t = 0; t < seq; t++) {
                boolean predictsTrainable = t + 1 < e.tokens().length && e.trainable()[t + 1];
                float[] g = new float[TINY.dim()];
                System.arraycopy(dh.data(), dh.offset() + (row * seq + t) * TINY.dim(), g, 0, TINY.dim());
                boolean zero = true;
                for (float v : g) {
                    zero &= v == 0f;
                }
                assertEquals(!predictsTrainable, zero, "row " + row + " position " + t);
                assertEquals(predictsTrainable ? e.tokens()[t + 1] : CrossEntropy.IGNORE_INDEX,
                        b.targets()[row * seq + t]);
            }
        }
    }

    @Test
    void gradientAccumulationEqualsOneBatchFourTimesLarger(@TempDir Path tmp) throws IOException {
        List<Example> data = sftExamples(4, 11); // different lengths: the token normalisation matters
        Transformer big = Transformer.create(TINY, OutputHeads.LM, 9), acc = big.copy();
        TrainingConfig one = config(tmp.resolve("a"), 1e-3, 1, 4, 1), four = config(tmp.resolve("b"), 1e-3, 1, 1, 4);
        new Trainer(one, objective(big, data, one), quiet).train(false);
        new Trainer(four, objective(acc, data, four), quiet).train(false);
        double lossOne = metrics(tmp.resolve("a")).get(0).get("loss").asDouble();
        double lossFour = metrics(tmp.resolve("b")).get(0).get("loss").asDouble();
        assertEquals(lossOne, lossFour, 1e-6 * Math.abs(lossOne));
        float[] gOne = big.grads().chunk(0), gFour = acc.grads().chunk(0);
        assertClose("gradients", gOne, gFour, GRAD_ATOL, GRAD_RTOL);
        // AdamW's first step (no weight decay here) moves each parameter by lr·g/(|g| + ε): a sign step for large
        // gradients, but for |g| near ε it amplifies the gradients' rounding differences by up to lr/ε. So each
        // parameter may differ by what that map does to the gradient interval allowed above, plus the float rounding
        // of each run's update (about six float operations of ≤ ½ ulp each: 6·2⁻²⁴·lr per run) and of p − update
        // (½ ulp of p per run).
        float[] pOne = big.params().chunk(0), pFour = acc.params().chunk(0);
        double lr = 1e-3, eps = 1e-8;
        for (int i = 0; i < pOne.length; i++) {
            double g = gOne[i], tol = GRAD_ATOL + GRAD_RTOL * Math.abs(g);
            double spread = lr * (adamFirstStep(g + tol, eps) - adamFirstStep(g - tol, eps));
            double rounding = 2 * 6 * 0x1p-24 * lr + Math.ulp(Math.max(Math.abs(pOne[i]), Math.abs(pFour[i])));
            double allowed = spread + rounding;
            assertTrue(Math.abs(pOne[i] - pFour[i]) <= allowed, "parameter " + i + " after one step: " + pOne[i]
                    + " vs " + pFour[i] + " (gradients " + gOne[i] + " vs " + gFour[i] + ", allowed " + allowed + ")");
        }
    }

    /** The gradient-to-gradient tolerance of accumulated vs whole-batch gradients: float sums in another order. */
    private static final double GRAD_ATOL = 1e-8, GRAD_RTOL = 1e-4;

    /** AdamW's first update direction with bias correction: m̂/(√v̂ + ε) = g/(|g| + ε). */
    private static double adamFirstStep(double g, double eps) {
        return g / (Math.abs(g) + eps);
    }

    @Test
    void resumingAfterAKillGivesTheSameLossesAsAnUninterruptedRun(@TempDir Path tmp) throws IOException {
        List<Example> data = sftExamples(10, 21);
        // uninterrupted: 8 steps over 10 examples in batches of 3 (epochs wrap, so the data order matters)
        TrainingConfig full = withSave(config(tmp.resolve("full"), 3e-3, 8, 3, 1), 4);
        Transformer a = Transformer.create(TINY, OutputHeads.LM, 4);
        new Trainer(full, objective(a, data, full), quiet).train(false);
        // interrupted: the objective dies during step 6, after checkpoint-4 was written
        TrainingConfig cut = withSave(config(tmp.resolve("cut"), 3e-3, 8, 3, 1), 4);
        Transformer b = Transformer.create(TINY, OutputHeads.LM, 4);
        LmObjective inner = objective(b, data, cut);
        Objective dying = new Objective() {
            int steps;

            @Override
            public Transformer model() {
                return b;
            }

            @Override
            public int stepsPerEpoch() {
                return inner.stepsPerEpoch();
            }

            @Override
            public StepResult trainStep(DataCursor cursor) {
                if (++steps == 6) {
                    throw new IllegalStateException("killed");
                }
                return inner.trainStep(cursor);
            }

            @Override
            public Map<String, Double> evaluate() {
                return Map.of();
            }

            @Override
            public void saveModel(Path dir) {
            }
        };
        assertThrows(IllegalStateException.class, () -> new Trainer(cut, dying, quiet).train(false));
        // a fresh process: new model object, resumed from the checkpoint
        Transformer c = Transformer.create(TINY, OutputHeads.LM, 99);
        new Trainer(cut, objective(c, data, cut), quiet).train(true);
        List<JsonNode> ref = metrics(tmp.resolve("full")), resumed = metrics(tmp.resolve("cut"));
        assertEquals(8, resumed.size(), "steps 1-4 kept, 5 dropped with the kill, 5-8 redone");
        for (int s = 0; s < 8; s++) {
            assertEquals(ref.get(s).get("loss").asDouble(), resumed.get(s).get("loss").asDouble(), 0.0,
                    "loss of step " + (s + 1));
        }
        assertArrayEquals(a.params().chunk(0), c.params().chunk(0), "final parameters");
    }

    private static TrainingConfig withSave(TrainingConfig c, int saveSteps) {
        return c.toBuilder().saveSteps(saveSteps).saveTotalLimit(3).build();
    }

    @Test
    void checkpointsAreKeptUpToTheLimitAndUnfinishedOnesAreIgnored(@TempDir Path tmp) throws IOException {
        // a checkpoint after every step, two kept
        TrainingConfig cfg = TrainingConfig.builder(tmp).learningRate(1e-3).lrSchedulerType("constant")
                .numTrainEpochs(1).maxSteps(6).perDeviceTrainBatchSize(2).saveSteps(1).saveTotalLimit(2)
                .loggingSteps(1000).seed(7).maxLength(32).maxConsecutiveNanSkips(3).build();
        Transformer m = Transformer.create(TINY, OutputHeads.LM, 1);
        new Trainer(cfg, objective(m, sftExamples(6, 1), cfg), quiet).train(false);
        assertEquals(List.of(tmp.resolve("checkpoint-5"), tmp.resolve("checkpoint-6")), Checkpoints.list(tmp));
        Files.createDirectories(tmp.resolve(".checkpoint-7.tmp"));
        Files.createDirectories(tmp.resolve("checkpoint-9")); // no trainer_state.json: an interrupted copy
        assertEquals(tmp.resolve("checkpoint-6"), Checkpoints.latest(tmp).orElseThrow());
    }

    @Test
    void nanLossesAreSkippedThenTheRunStops(@TempDir Path tmp) {
        Transformer m = Transformer.create(TINY, OutputHeads.LM, 1);
        float[] before = m.params().chunk(0).clone();
        TrainingConfig cfg = config(tmp, 1e-3, 10, 2, 1);
        LmObjective inner = objective(m, sftExamples(4, 2), cfg);
        Objective poisoned = new Objective() {
            @Override
            public Transformer model() {
                return m;
            }

            @Override
            public int stepsPerEpoch() {
                return 2;
            }

            @Override
            public StepResult trainStep(DataCursor cursor) {
                StepResult r = inner.trainStep(cursor);
                return new StepResult(Double.NaN, r.tokens(), r.lossTokens());
            }

            @Override
            public Map<String, Double> evaluate() {
                return Map.of();
            }

            @Override
            public void saveModel(Path dir) {
            }
        };
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new Trainer(cfg, poisoned, quiet).train(false));
        assertTrue(e.getMessage().contains("3 updates in a row"), e.getMessage());
        assertArrayEquals(before, m.params().chunk(0), "no skipped update touched the parameters");
    }

    @Test
    void learningRateScheduleFollowsHf() {
        LrSchedule linear = new LrSchedule("linear", 1.0, 10, 110);
        assertEquals(0.0, linear.at(0));
        assertEquals(0.5, linear.at(5), 1e-12);
        assertEquals(1.0, linear.at(10), 1e-12);
        assertEquals(0.5, linear.at(60), 1e-12);
        assertEquals(0.0, linear.at(110), 1e-12);
        LrSchedule cosine = new LrSchedule("cosine", 2.0, 0, 100);
        assertEquals(2.0, cosine.at(0), 1e-12);
        assertEquals(1.0, cosine.at(50), 1e-12);
        assertEquals(2.0 * 0.5 * (1 + Math.cos(Math.PI * 0.25)), cosine.at(25), 1e-12);
        assertEquals(3.0, new LrSchedule("constant", 3.0, 4, 100).at(50));
        assertFalse(Double.isNaN(new LrSchedule("linear", 1.0, 0, 1).at(0)));
    }
}
