package dev.rlhf4j.train.online;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.generate.Generator;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.dpo.DpoLoss;
import dev.rlhf4j.train.dpo.DpoLossType;
import dev.rlhf4j.train.lab.Annotator;
import dev.rlhf4j.train.lab.LabWorld;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.Rollouts;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.IntStream;
import java.util.stream.Stream;

import static dev.rlhf4j.train.online.BestOfNTest.PROMPTS;
import static dev.rlhf4j.train.online.BestOfNTest.TOK;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OnlineDpoTrainerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int[] EOS = {TOK.eosId().getAsInt()};

    /** A judge by the share of even token ids with a coin flip of the seed's: randomness that resume must replay. */
    private static final PairJudge NOISY_EVEN = new PairJudge() {
        @Override
        public Verdicts judge(List<Episode> first, List<Episode> second, long seed) {
            Rng rng = new Rng(seed);
            double[] a = new double[first.size()], b = new double[first.size()];
            int[] w = new int[a.length];
            for (int i = 0; i < a.length; i++) {
                a[i] = BestOfNTest.EvenTokens.share(first.get(i));
                b[i] = BestOfNTest.EvenTokens.share(second.get(i));
                boolean flip = rng.nextDouble() < 0.1;
                w[i] = a[i] == b[i] ? 0 : (a[i] > b[i]) != flip ? 1 : -1;
            }
            return new Verdicts(a, b, w);
        }

        @Override
        public String describe() {
            return "even tokens, 10% flipped";
        }
    };

    private static OnlineDpoConfig.Builder config(Path out) {
        OnlineDpoConfig.Builder c = OnlineDpoConfig.builder(out);
        c.perDeviceTrainBatchSize(8);
        c.localRolloutForwardBatchSize(6);
        c.maxNewTokens(8);
        c.learningRate(1e-2);
        c.maxSteps(4);
        c.sampleSteps(2);
        c.seed(7);
        return c;
    }

    private static ModelConfig model(int dim, int layers) {
        return ModelConfig.llama(TOK.vocabSize(), dim, layers, 2, 1, 2 * dim, 48, 1e-5f, 10000.0,
                Rope.Style.ROTATE_HALF, true, false);
    }

    private static OnlineDpoTrainer trainer(OnlineDpoConfig.Builder c, Transformer policy, PairJudge judge) {
        return new OnlineDpoTrainer(c.build(), policy, policy.frozenCopy(), judge, TOK, PROMPTS, EOS,
                new PrintWriter(new StringWriter()));
    }

    private static List<JsonNode> metrics(Path out) throws IOException {
        List<JsonNode> l = new ArrayList<>();
        for (String s : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            l.add(JSON.readTree(s));
        }
        return l;
    }

    @Test
    void gradientOfTheStepsLossMatchesCentralFiniteDifferences() {
        for (DpoLossType type : List.of(DpoLossType.SIGMOID, DpoLossType.IPO)) {
            Transformer policy = Transformer.create(model(8, 1), OutputHeads.LM, 3);
            // a reference other than the policy, so that h ≠ 0 and the loss is not at its symmetric point
            Transformer reference = Transformer.create(model(8, 1), OutputHeads.LM, 4);
            List<int[]> pt = PROMPTS.stream().map(p -> Rollouts.encodePrompt(TOK, p)).toList();
            List<String> texts = PROMPTS.stream().map(p -> p.text()).toList();
            List<int[]> twice = new ArrayList<>(pt);
            twice.addAll(pt);
            List<String> twiceText = new ArrayList<>(texts);
            twiceText.addAll(texts);
            List<Episode> eps = Rollouts.sample(new Generator(policy, TOK), TOK, twiceText, twice, 6, 1f, 11, EOS, 16);
            int b = PROMPTS.size();
            List<Episode> first = eps.subList(0, b), second = eps.subList(b, 2 * b);
            int[] winner = {1, -1, 1, 0, -1, 1, 1, -1};
            double[][] ref = new double[2 * b][];
            Rollouts.logProbs(reference, eps, 1f, 16, 0, ref, null);
            DpoLoss loss = new DpoLoss(type, 0.5, 0);
            policy.zeroGrad();
            // 3 sequences per forward: chunks of one prompt's pair each, so accumulation over chunks is exercised
            double l0 = OnlineDpoTrainer.pairPass(policy, loss, first, second, winner, ref, 3, 0, true).loss();
            assertTrue(Double.isFinite(l0) && l0 > 0);
            float[] w = policy.params().chunk(0), g = policy.grads().chunk(0);
            // the 24 largest gradient entries (those a wrong factor would show in), and 16 chosen at random
            List<Integer> idx = new ArrayList<>(IntStream.range(0, g.length).boxed()
                    .sorted(Comparator.comparingDouble(i -> -Math.abs(g[i]))).limit(24).toList());
            Rng rng = new Rng(5);
            for (int k = 0; k < 16; k++) {
                idx.add(rng.nextInt(g.length));
            }
            // Tolerance from float arithmetic: each token's log-prob is a float logit minus a float log-sum-exp over
            // ~300 entries of magnitude ≲ 10 (ulp 1e-6 at most), accurate to δ ≲ 1e-6. A pair's h sums ≤ 2·6 such
            // terms, |δh| ≲ 1.2e-5, and |dL/dh| ≤ β = 0.5 for sigmoid; for ipo h is made of per-token means
            // (|δh| ≲ 2e-6) and |dL/dh| = 2|h − 1/2β| ≲ 3 here. So the loss (a mean over pairs) is off by
            // δL ≲ 6e-6, and central differences of step ε by ≤ 2δL/(2ε) = 2e-3 at ε = 3e-3. The truncation error
            // ε²/6·|L'''| is what bounds ε from above: on this tiny model it is 0.5% of the largest entries at
            // ε = 3e-3 (5% at 1e-2), inside the 2% relative term. A wrong factor or sign is far outside both.
            double eps2 = 3e-3;
            for (int i : idx) {
                float x = w[i];
                w[i] = (float) (x + eps2);
                double up = w[i];
                double lp = OnlineDpoTrainer.pairPass(policy, loss, first, second, winner, ref, 3, 0, false).loss();
                w[i] = (float) (x - eps2);
                double down = w[i];
                double lm = OnlineDpoTrainer.pairPass(policy, loss, first, second, winner, ref, 3, 0, false).loss();
                w[i] = x;
                double fd = (lp - lm) / (up - down);
                assertEquals(fd, g[i], 2e-3 + 0.02 * Math.abs(fd), type + " parameter " + i);
            }
            assertTrue(Math.abs(g[idx.getFirst()]) > 0.05, "the largest gradient entry is well above the tolerance");
        }
    }

    @Test
    void onlineDpoRaisesTheRewardOnATinyProblem(@TempDir Path tmp) throws IOException {
        Transformer policy = Transformer.create(model(32, 2), OutputHeads.LM, 1);
        OnlineDpoConfig.Builder c = config(tmp);
        c.maxSteps(40);
        c.beta(0.1);
        c.learningRate(1e-2);
        OnlineDpoTrainer.Result r = trainer(c, policy, PairJudge.byScore(new BestOfNTest.EvenTokens(), Double.NaN))
                .train(false);
        List<JsonNode> m = metrics(tmp);
        assertEquals(40, m.size());
        // The score is the share of even tokens, about 0.5 at the start. Each step's mean is over 16 samples, so
        // the first 4 steps' mean (64 samples) and the last 8 steps' (128) of a policy that did not learn differ by
        // 0 ± 0.07 (per-sample std ≤ 0.5).
        double first = 0, last = 0;
        for (int i = 0; i < 4; i++) {
            first += m.get(i).get("objective/scores").asDouble() / 4;
        }
        for (int i = 0; i < 8; i++) {
            last += m.get(m.size() - 1 - i).get("objective/scores").asDouble() / 8;
        }
        assertTrue(last > first + 0.2, "score " + first + " -> " + last);
        assertTrue(m.getLast().get("objective/kl").asDouble() > 0.05, "the policy moved away from the reference");
        assertEquals(40 * 16, r.episodes());
        assertEquals(0, m.getFirst().get("objective/kl").asDouble(), 1e-4, "the first samples: policy = reference");
        for (String k : List.of("objective/kl", "objective/entropy", "objective/non_score_reward",
                "objective/rlhf_reward", "objective/scores", "objective/scores_margin", "rewards/chosen",
                "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen", "logps/rejected",
                "val/contain_eos_token", "beta", "loss", "lr", "grad_norm", "episode", "pairs")) {
            assertTrue(m.getLast().has(k), "metrics.jsonl lacks " + k);
        }
        assertTrue(m.getLast().get("objective/scores_margin").asDouble() > 0, "the chosen scored higher");
        List<String> samples = Files.readAllLines(tmp.resolve("samples.jsonl"));
        assertTrue(samples.size() >= 4);
        JsonNode s = JSON.readTree(samples.getFirst());
        assertTrue(s.get("score_chosen").asDouble() > s.get("score_rejected").asDouble());
    }

    @Test
    void resumeIsBitIdentical(@TempDir Path tmp) throws IOException {
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        OnlineDpoConfig.Builder ca = config(a);
        ca.saveSteps(2);
        ca.saveTotalLimit(5);
        Transformer policyA = Transformer.create(model(32, 2), OutputHeads.LM, 1);
        trainer(ca, policyA, NOISY_EVEN).train(false);
        // b: the same run killed after its step-2 checkpoint
        Files.createDirectories(b);
        copyTree(a.resolve("checkpoint-2"), b.resolve("checkpoint-2"));
        List<String> lines = Files.readAllLines(a.resolve("metrics.jsonl"));
        Files.write(b.resolve("metrics.jsonl"), lines.subList(0, 2));
        OnlineDpoConfig.Builder cb = config(b);
        cb.saveSteps(2);
        cb.saveTotalLimit(5);
        Transformer policyB = Transformer.create(model(32, 2), OutputHeads.LM, 1);
        trainer(cb, policyB, NOISY_EVEN).train(true);
        assertArrayEquals(policyA.params().chunk(0), policyB.params().chunk(0));
        List<JsonNode> ma = metrics(a), mb = metrics(b);
        assertEquals(4, mb.size());
        for (int i = 0; i < ma.size(); i++) {
            for (String k : List.of("objective/scores", "objective/kl", "loss", "rewards/margins", "pairs",
                    "episode")) {
                assertEquals(ma.get(i).get(k).asDouble(), mb.get(i).get(k).asDouble(), 0, k + " at step " + (i + 1));
            }
        }
    }

    @Test
    void aStepWhoseSamplesAllTieUpdatesNothing(@TempDir Path tmp) throws IOException {
        PairJudge ties = new PairJudge() {
            @Override
            public Verdicts judge(List<Episode> first, List<Episode> second, long seed) {
                return new Verdicts(new double[first.size()], new double[first.size()], new int[first.size()]);
            }

            @Override
            public String describe() {
                return "always a tie";
            }
        };
        Transformer policy = Transformer.create(model(32, 2), OutputHeads.LM, 1);
        float[] before = policy.params().chunk(0).clone();
        OnlineDpoConfig.Builder c = config(tmp);
        c.maxSteps(2);
        trainer(c, policy, ties).train(false);
        assertArrayEquals(before, policy.params().chunk(0), "no pairs, no update (and no AdamW step)");
        for (JsonNode m : metrics(tmp)) {
            assertEquals(0, m.get("pairs").asInt());
            assertEquals(8, m.get("ties").asInt());
            assertTrue(!m.has("loss") && !m.has("rewards/accuracies"), "no pair metrics without pairs: " + m);
        }
    }

    @Test
    void tiesAndIdenticalResponsesAreNoPairs() {
        BestOfNTest.EvenTokens even = new BestOfNTest.EvenTokens();
        int[] p = {1, 2};
        Episode twoEven = new Episode("x", p, new int[] {2, 4}, "a", true);
        Episode alsoTwoEven = new Episode("x", p, new int[] {6, 8}, "b", true);
        Episode oneEven = new Episode("x", p, new int[] {2, 3}, "c", false);
        PairJudge.Verdicts v = PairJudge.byScore(even, Double.NaN).judge(List.of(twoEven, twoEven, oneEven),
                List.of(alsoTwoEven, twoEven, twoEven), 0);
        assertArrayEquals(new int[] {0, 0, -1}, v.winner());
        // the missing-EOS penalty is taken off before judging: 0.5 − 1 < 1
        PairJudge.Verdicts pen = PairJudge.byScore(even, 1.0).judge(List.of(oneEven), List.of(twoEven), 0);
        assertEquals(-0.5, pen.first()[0], 1e-12);
    }

    @Test
    void theAnnotatorJudgesTheRewardLessTheMissingEosPenalty() {
        LabWorld world = new LabWorld(7);
        String prompt = "User: What is 3 plus 4?\nAssistant:";
        String text = " 3 plus 4 is 7.";
        int[] p = {1, 2};
        // the same text, so the same gold reward; only the first response lacks EOS (other tokens: not "the same")
        Episode cut = new Episode(prompt, p, new int[] {3, 4}, text, false);
        Episode ended = new Episode(prompt, p, new int[] {3, 5}, text, true);
        List<Episode> firsts = java.util.Collections.nCopies(64, cut);
        List<Episode> seconds = java.util.Collections.nCopies(64, ended);
        Annotator annotator = new Annotator(1.0, 0);
        PairJudge.Verdicts penalised = PairJudge.annotator(world, annotator, 50.0).judge(firsts, seconds, 3);
        assertArrayEquals(java.util.stream.IntStream.generate(() -> -1).limit(64).toArray(), penalised.winner());
        assertEquals(penalised.second()[0] - 50.0, penalised.first()[0], 1e-9);
        // without the penalty the rewards are equal and the annotator is a coin flip: the first wins some pairs
        PairJudge.Verdicts plain = PairJudge.annotator(world, annotator, Double.NaN).judge(firsts, seconds, 3);
        assertTrue(java.util.Arrays.stream(plain.winner()).anyMatch(w -> w == 1));
        assertEquals(plain.second()[0], plain.first()[0], 1e-12);
    }

    @Test
    void configurationIsChecked(@TempDir Path tmp) {
        assertTrue(assertThrows(UserError.class, () -> config(tmp).beta(0).build()).getMessage()
                .contains("beta must be a positive number"));
        assertTrue(assertThrows(UserError.class, () -> config(tmp).lossType(DpoLossType.HINGE).build())
                .getMessage().contains("loss_type must be sigmoid or ipo"));
        assertTrue(assertThrows(UserError.class, () -> config(tmp).perDeviceTrainBatchSize(0).build())
                .getMessage().contains("per_device_train_batch_size"));
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path t = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                } else {
                    Files.copy(p, t);
                }
            }
        }
    }
}
