package dev.rlhf4j.train.reward;

import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.train.Trainer;
import dev.rlhf4j.train.TrainingConfig;
import dev.rlhf4j.train.data.PairExample;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RewardObjectiveTest {
    private static final ModelConfig TINY = ModelConfig.llama(24, 32, 2, 4, 2, 48, 32, 1e-5f, 10000.0,
            Rope.Style.ROTATE_HALF, true, false);

    private static int[] seq(Rng rng, int len) {
        int[] t = new int[len];
        for (int i = 0; i < len; i++) {
            t[i] = 2 + rng.nextInt(TINY.vocabSize() - 2);
        }
        return t;
    }

    @Test
    void aPairScoredAloneAndInAPaddedBatchGetsTheSameRewards() {
        Transformer rm = Transformer.create(TINY, OutputHeads.SCALAR, 3);
        Rng rng = new Rng(4);
        int[] shortOne = seq(rng, 5), longOne = seq(rng, 17);
        double[] alone = RewardObjective.score(rm, List.of(shortOne), 8, 32, 0);
        double[] padded = RewardObjective.score(rm, List.of(longOne, shortOne, seq(rng, 11)), 8, 32, 0);
        assertEquals(alone[0], padded[1], 1e-5, "the reward is read at the last real token, whatever the padding");
        double[] aloneLong = RewardObjective.score(rm, List.of(longOne), 8, 32, 0);
        assertEquals(aloneLong[0], padded[0], 1e-5);
        // and through the pair path: the same pair alone and next to a longer pair
        PairExample pair = new PairExample(shortOne, longOne, 0.0, -1);
        PairExample other = new PairExample(seq(rng, 30), seq(rng, 3), 0.0, -1);
        double marginAlone = RewardObjective.evaluate(rm, List.of(pair), 4, 32, 0).get("eval_margin");
        double marginOther = RewardObjective.evaluate(rm, List.of(other), 4, 32, 0).get("eval_margin");
        double marginBoth = RewardObjective.evaluate(rm, List.of(other, pair), 4, 32, 0).get("eval_margin");
        assertEquals(alone[0] - aloneLong[0], marginAlone, 1e-5);
        assertEquals((marginAlone + marginOther) / 2, marginBoth, 1e-5);
    }

    /** Chosen responses contain token 1 somewhere; rejected ones do not. */
    private static List<PairExample> markedPairs(int n, long seed) {
        Rng rng = new Rng(seed);
        List<PairExample> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] c = seq(rng, 4 + rng.nextInt(8)), r = seq(rng, 4 + rng.nextInt(8));
            c[rng.nextInt(c.length)] = 1;
            out.add(new PairExample(c, r, 0.0, -1));
        }
        return out;
    }

    @Test
    void trainingLearnsASimplePreference(@TempDir Path tmp) throws IOException {
        Transformer rm = Transformer.create(TINY, OutputHeads.SCALAR, 5);
        List<PairExample> train = markedPairs(200, 6), eval = markedPairs(100, 7);
        TrainingConfig cfg = TrainingConfig.builder(tmp).learningRate(3e-3).lrSchedulerType("constant")
                .numTrainEpochs(1).maxSteps(80).perDeviceTrainBatchSize(16).perDeviceEvalBatchSize(16).saveSteps(0)
                .saveTotalLimit(1).loggingSteps(1000).seed(1).maxLength(32).completionOnlyLoss(false)
                .maxConsecutiveNanSkips(3).build();
        double before = RewardObjective.evaluate(rm, eval, 16, 32, 0).get("eval_accuracy");
        RewardObjective obj = new RewardObjective(rm, train, eval, cfg, 0, (m, d) -> { });
        Trainer.Result r = new Trainer(cfg, obj, new PrintWriter(new StringWriter())).train(false);
        double after = r.eval().get("eval_accuracy");
        assertTrue(before < 0.75, "untrained: " + before);
        assertTrue(after > 0.95, "trained: " + after);
        assertTrue(obj.stepMetrics().containsKey("accuracy"));
    }

    @Test
    void rankingGroupsStayInOneBatchAndMarginsShiftTheLoss(@TempDir Path tmp) {
        Transformer rm = Transformer.create(TINY, OutputHeads.SCALAR, 5);
        Rng rng = new Rng(9);
        int[] a = seq(rng, 6), b = seq(rng, 6);
        Map<String, Double> plain = RewardObjective.evaluate(rm, List.of(new PairExample(a, b, 0.0, -1)), 4, 32, 0);
        Map<String, Double> withMargin = RewardObjective.evaluate(rm, List.of(new PairExample(a, b, 2.0, -1)), 4, 32,
                0);
        double delta = plain.get("eval_margin");
        assertEquals(RewardObjective.negLogSigmoid(delta), plain.get("eval_loss"), 1e-9);
        assertEquals(RewardObjective.negLogSigmoid(delta - 2.0), withMargin.get("eval_loss"), 1e-9);
        assertTrue(withMargin.get("eval_loss") > plain.get("eval_loss"));
    }
}
