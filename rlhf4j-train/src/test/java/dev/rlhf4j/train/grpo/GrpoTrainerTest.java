package dev.rlhf4j.train.grpo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.generate.Generator;
import dev.rlhf4j.model.tokenizer.BpeTrainer;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.Rollouts;
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
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GrpoTrainerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Tokenizer TOK = new BpeTrainer(300, List.of("<|endoftext|>"),
            Map.of("eos_token", "<|endoftext|>")).train(List.of(
            "User: what is two plus two?\nAssistant: four.", "the cat sat on the mat and the dog ran.",
            "a quick brown fox jumps over the lazy dog", "User: hello\nAssistant: hi there, how are you?"));
    private static final ModelConfig CFG = ModelConfig.llama(TOK.vocabSize(), 32, 2, 4, 2, 64, 48, 1e-5f, 10000.0,
            Rope.Style.ROTATE_HALF, true, false);
    private static final List<Prompt> PROMPTS = List.of("User: hello\nAssistant:", "the cat", "a quick brown",
            "User: what is two plus two?\nAssistant:", "the dog ran", "over the", "fox", "User: hi\nAssistant:")
            .stream().map(Prompt::plain).toList();
    private static final int[] EOS = {TOK.eosId().getAsInt()};

    private static GrpoConfig.Builder config(Path out) {
        GrpoConfig.Builder c = GrpoConfig.builder(out);
        c.perDeviceTrainBatchSize(4);
        c.numGenerations(4);
        c.localRolloutForwardBatchSize(16);
        c.maxCompletionLength(6);
        c.learningRate(1e-2);
        c.maxSteps(4);
        c.sampleSteps(2);
        c.seed(7);
        return c;
    }

    private static GrpoTrainer trainer(GrpoConfig cfg, Transformer policy, dev.rlhf4j.train.ppo.RewardFunction r) {
        return new GrpoTrainer(cfg, policy, policy.frozenCopy(), r, TOK, PROMPTS, EOS,
                new PrintWriter(new StringWriter()));
    }

    private static List<JsonNode> metrics(Path out) throws IOException {
        List<JsonNode> l = new ArrayList<>();
        for (String s : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            l.add(JSON.readTree(s));
        }
        return l;
    }

    /**
     * The loss computed through the model (forward, per-token log-probs, the GRPO loss, backward) against central
     * differences of the same loss on parameters of every kind. The forward runs in float32: each token's log-prob
     * carries a rounding error of about u·|logit scale|·depth ≈ 6e-8·10·10 ≈ 6e-6, and the loss, a weighted mean of
     * the tokens' terms (|∂term/∂logp| ≤ |A|·1.2 + β·(e − 1) ≈ 3 here, the reference within a nat of the policy),
     * about 1.8e-5 at worst when the errors line up; with h = 1e-2 the difference quotient's rounding error is then
     * ≤ 1.8e-5/1e-2 = 1.8e-3, and the truncation error h²·|L'''|/6 stays below a percent of the gradient for these
     * smooth terms (the old log-probs are kept within ±0.05 of the current ones, so no ±h step crosses the clip at
     * ε = 0.2). Hence 2e-3 + 3%. (A k3 gradient scaled by 1.1 fails this test.)
     */
    @Test
    void theLossGradientThroughTheModelMatchesCentralDifferences(@TempDir Path tmp) {
        Transformer policy = Transformer.create(CFG, OutputHeads.LM, 1);
        Transformer ref = Transformer.create(CFG, OutputHeads.LM, 5);
        for (GrpoMath.LossType type : GrpoMath.LossType.values()) {
            GrpoConfig.Builder c = config(tmp);
            c.beta(1);
            c.lossType(type);
            c.localRolloutForwardBatchSize(3); // three micro-batches: the gradient accumulates across them
            GrpoTrainer t = new GrpoTrainer(c.build(), policy, ref, RuleReward.parse("regex:a"), TOK, PROMPTS, EOS,
                    new PrintWriter(new StringWriter()));
            List<int[]> pt = PROMPTS.stream().map(p -> Rollouts.encodePrompt(TOK, p)).toList();
            List<Episode> eps = Rollouts.sample(new Generator(policy, TOK), TOK,
                    PROMPTS.stream().map(Prompt::text).toList(), pt, 5, 1f, 3, EOS, 8);
            int n = eps.size();
            double[][] lp = new double[n][], refLp = new double[n][], old = new double[n][], adv = new double[n][];
            Rollouts.logProbs(policy, eps, 1f, 8, 0, lp, null);
            Rng rng = new Rng(3);
            for (int i = 0; i < n; i++) {
                old[i] = new double[lp[i].length];
                refLp[i] = new double[lp[i].length];
                adv[i] = new double[lp[i].length];
                double a = 2 * rng.nextDouble() - 1;
                for (int k = 0; k < lp[i].length; k++) {
                    old[i][k] = lp[i][k] + 0.1 * (rng.nextDouble() - 0.5);
                    // two random models give nearly the same log-probs, and a KL term too small to check; this
                    // reference is up to a nat away on each token, so the k3 term weighs as much as the surrogate
                    refLp[i][k] = lp[i][k] + 2 * (rng.nextDouble() - 0.5);
                    adv[i][k] = a;
                }
            }
            // the analytic gradient at the unperturbed weights, of every name, before any difference overwrites it
            t.lossAndGradient(eps, old, refLp, adv);
            List<String> names = List.of("wte", "h.0.attn.qkv.weight", "h.1.mlp.proj.weight", "h.1.ln2.weight",
                    "ln_f.weight");
            Map<String, float[]> grads = new java.util.HashMap<>();
            for (String name : names) {
                Tensor gt = policy.grads().get(name);
                grads.put(name, java.util.Arrays.copyOfRange(gt.data(), gt.offset(), gt.offset() + gt.size()));
            }
            for (String name : names) {
                Tensor p = policy.params().get(name);
                float[] g = grads.get(name);
                // the entries with the largest gradients, where a wrong one would show
                List<Integer> top = java.util.stream.IntStream.range(0, p.size()).boxed()
                        .sorted((x, y) -> Float.compare(Math.abs(g[y]), Math.abs(g[x]))).limit(3).toList();
                for (int i : top) {
                    float keep = p.data()[p.offset() + i];
                    float h = 1e-2f;
                    p.data()[p.offset() + i] = keep + h;
                    double up = t.lossAndGradient(eps, old, refLp, adv);
                    p.data()[p.offset() + i] = keep - h;
                    double down = t.lossAndGradient(eps, old, refLp, adv);
                    p.data()[p.offset() + i] = keep;
                    double fd = (up - down) / (2 * h);
                    assertEquals(fd, g[i], 2e-3 + 3e-2 * Math.abs(fd), type + " " + name + "[" + i + "]");
                }
            }
        }
    }

    @Test
    void grpoRaisesARuleRewardOnATinyProblem(@TempDir Path tmp) throws IOException {
        Transformer policy = Transformer.create(CFG, OutputHeads.LM, 1);
        GrpoConfig.Builder c = config(tmp);
        c.maxSteps(40);
        c.beta(0.01);
        c.learningRate(3e-2);
        GrpoTrainer.Result r = trainer(c.build(), policy, RuleReward.parse("regex:" + REGEX)).train(false);
        List<JsonNode> m = metrics(tmp);
        assertEquals(40, m.size());
        // The reward is 0 or 1 per completion, about 0.3 at the start. Compare the first 5 steps (80 completions)
        // with the last 8 (128): a policy that did not learn differs by 0 ± 0.07 (std of the difference of the
        // means, per-completion std ≤ 0.5), so 0.25 is over 3 std away from chance.
        double first = 0, last = 0;
        for (int i = 0; i < 5; i++) {
            first += m.get(i).get("reward").asDouble() / 5;
        }
        for (int i = 0; i < 8; i++) {
            last += m.get(m.size() - 1 - i).get("reward").asDouble() / 8;
        }
        assertTrue(last > first + 0.25, "reward " + first + " -> " + last);
        assertEquals(40 * 16, r.episodes());
        for (String k : List.of("reward", "reward_std", "frac_reward_zero_std", "kl", "entropy",
                "completions/mean_length", "completions/min_length", "completions/max_length",
                "completions/clipped_ratio", "clip_ratio/region_mean", "rewards/regex/mean", "rewards/regex/std",
                "num_tokens", "learning_rate", "grad_norm", "loss", "episode", "time/generation_s")) {
            assertTrue(m.getLast().has(k), "metrics.jsonl lacks " + k);
        }
        assertTrue(m.getLast().get("kl").asDouble() > 0, "the policy moved away from the reference");
        assertTrue(Files.readAllLines(tmp.resolve("samples.jsonl")).size() >= 4);
    }

    /** Completions whose first letter is a vowel: about a third of a random model's, so groups differ. */
    private static final String REGEX = "^\\W*[aeiouAEIOU]";

    @Test
    void rlooAndReinforcePlusPlusWithTheKlInTheRewardAndSeveralIterationsRun(@TempDir Path tmp) throws IOException {
        for (GrpoMath.Advantage a : GrpoMath.Advantage.values()) {
            Path out = tmp.resolve(a.name());
            GrpoConfig.Builder c = config(out);
            c.advantage(a);
            c.klIn(null);
            c.beta(0.05);
            c.numIterations(2);
            c.maxSteps(2);
            c.numSampleGenerations(16); // every completion of a step: 4 prompts × 4
            GrpoConfig cfg = c.build();
            assertEquals(a == GrpoMath.Advantage.GRPO ? GrpoMath.KlIn.LOSS : GrpoMath.KlIn.REWARD, cfg.klIn());
            Transformer policy = Transformer.create(CFG, OutputHeads.LM, 1);
            float[] before = policy.params().chunk(0).clone();
            trainer(cfg, policy, RuleReward.parse("length:3")).train(false);
            List<JsonNode> m = metrics(out);
            assertEquals(2, m.size());
            assertTrue(Double.isFinite(m.getLast().get("loss").asDouble()));
            assertFalse(java.util.Arrays.equals(before, policy.params().chunk(0)), a + ": the policy was updated");
            // after step 1's two updates the policy has left its reference: the k1/k3 KL of step 2 is positive
            assertTrue(m.getLast().get("kl").asDouble() > 0, a + " kl " + m.getLast().get("kl"));
            // at step 1 the policy is its reference (KL 0), so the advantages are the estimator's of the scores
            List<JsonNode> s1 = new ArrayList<>();
            for (String line : Files.readAllLines(out.resolve("samples.jsonl"))) {
                JsonNode j = JSON.readTree(line);
                if (j.get("step").asInt() == 1) {
                    s1.add(j);
                }
            }
            assertEquals(16, s1.size());
            double[] scores = s1.stream().mapToDouble(j -> j.get("score").asDouble()).toArray();
            double[] adv = s1.stream().mapToDouble(j -> j.get("advantage").asDouble()).toArray();
            if (a == GrpoMath.Advantage.REINFORCE_PP) {
                // the return-to-go of a zero KL is the score at every token, whitened over the batch: an increasing
                // function of the score, centred (scores differ, so not all advantages are equal)
                for (int i = 0; i < 16; i++) {
                    for (int j = 0; j < 16; j++) {
                        assertEquals(Double.compare(scores[i], scores[j]), Double.compare(adv[i], adv[j]),
                                a + " advantages order as the scores: " + i + ", " + j);
                    }
                }
                assertTrue(java.util.Arrays.stream(adv).min().getAsDouble() < 0
                        && java.util.Arrays.stream(adv).max().getAsDouble() > 0, java.util.Arrays.toString(adv));
            } else {
                assertArrayEquals(GrpoMath.groupAdvantages(scores, 4, a), adv, 1e-12, a + " advantages");
            }
        }
    }

    @Test
    void betaZeroHoldsNoReferenceAndReinforcePlusPlusRunsWithOneGeneration(@TempDir Path tmp) throws IOException {
        GrpoConfig.Builder c = config(tmp);
        c.advantage(GrpoMath.Advantage.REINFORCE_PP);
        c.numGenerations(1);
        c.beta(0);
        c.maxSteps(2);
        Transformer policy = Transformer.create(CFG, OutputHeads.LM, 1);
        float[] before = policy.params().chunk(0).clone();
        new GrpoTrainer(c.build(), policy, null, RuleReward.parse("regex:" + REGEX), TOK, PROMPTS, EOS,
                new PrintWriter(new StringWriter())).train(false);
        List<JsonNode> m = metrics(tmp);
        assertEquals(2, m.size());
        assertTrue(Double.isFinite(m.getLast().get("loss").asDouble()));
        assertFalse(java.util.Arrays.equals(before, policy.params().chunk(0)), "the policy was updated");
        assertFalse(m.getLast().has("kl"), "no reference, no KL");
        // a group of one has no spread to report
        assertFalse(m.getLast().has("reward_std") || m.getLast().has("frac_reward_zero_std"), m.getLast().toString());
        assertTrue(m.getLast().has("rewards/regex/std"));
        // a KL without a reference is refused
        GrpoConfig.Builder k = config(tmp);
        k.beta(0.1);
        assertThrows(UserError.class, () -> new GrpoTrainer(k.build(), policy, null, RuleReward.parse("length:3"),
                TOK, PROMPTS, EOS, new PrintWriter(new StringWriter())));
    }

    @Test
    void resumeGivesTheMetricsOfAnUninterruptedRun(@TempDir Path tmp) throws IOException {
        Path a = tmp.resolve("a"), b = tmp.resolve("b");
        GrpoConfig.Builder ca = config(a);
        ca.saveSteps(2);
        ca.saveTotalLimit(5);
        ca.advantage(GrpoMath.Advantage.RLOO);
        ca.klIn(null);
        Transformer policyA = Transformer.create(CFG, OutputHeads.LM, 1);
        trainer(ca.build(), policyA, RuleReward.parse("regex:" + REGEX)).train(false);
        // b: the same run killed after its step-2 checkpoint
        Files.createDirectories(b);
        copyTree(a.resolve("checkpoint-2"), b.resolve("checkpoint-2"));
        Files.write(b.resolve("metrics.jsonl"), Files.readAllLines(a.resolve("metrics.jsonl")).subList(0, 2));
        GrpoConfig.Builder cb = ca.build().toBuilder().outputDir(b);
        Transformer policyB = Transformer.create(CFG, OutputHeads.LM, 1);
        trainer(cb.build(), policyB, RuleReward.parse("regex:" + REGEX)).train(true);
        List<JsonNode> ma = metrics(a), mb = metrics(b);
        assertEquals(4, ma.size());
        assertEquals(ma.size(), mb.size());
        for (int i = 0; i < ma.size(); i++) {
            for (String k : List.of("reward", "reward_std", "kl", "entropy", "loss", "grad_norm",
                    "completions/mean_length", "num_tokens", "episode", "learning_rate")) {
                // the same weights, moments and sampling seeds, and the same operations in the same order: exact
                assertEquals(ma.get(i).get(k).asDouble(), mb.get(i).get(k).asDouble(), k + " at step " + (i + 1));
            }
        }
        assertArrayEquals(policyA.params().chunk(0), policyB.params().chunk(0), "the resumed run's weights");
    }

    @Test
    void groupEstimatorsRefuseASingleGeneration(@TempDir Path tmp) {
        for (GrpoMath.Advantage a : List.of(GrpoMath.Advantage.GRPO, GrpoMath.Advantage.RLOO)) {
            GrpoConfig.Builder c = config(tmp);
            c.advantage(a);
            c.numGenerations(1);
            UserError e = assertThrows(UserError.class, c::build);
            assertTrue(e.getMessage().contains("num_generations"), e.getMessage());
        }
        GrpoConfig.Builder c = config(tmp);
        c.advantage(GrpoMath.Advantage.REINFORCE_PP);
        c.numGenerations(1);
        assertEquals(1, c.build().numGenerations(), "reinforce++ baselines over the batch, so G = 1 is fine");
        GrpoConfig.Builder e = config(tmp);
        e.epsilon(1.5);
        assertThrows(UserError.class, e::build);
    }

    @Test
    void ruleRewardsScoreTheCompletionText() {
        assertEquals(1, RuleReward.parse("regex:fo+").score("a foo bar"));
        assertEquals(0, RuleReward.parse("regex:^fo+").score("a foo bar"));
        assertEquals(0, RuleReward.parse("length:3").score(" one two three "));
        assertEquals(-1.0 / 3, RuleReward.parse("length:3").score("one two"), 1e-15);
        assertEquals(-1, RuleReward.parse("length:3").score(""), 1e-15);
        assertThrows(UserError.class, () -> RuleReward.parse("regex:("));
        assertThrows(UserError.class, () -> RuleReward.parse("length:0"));
        assertThrows(UserError.class, () -> RuleReward.parse("length:x"));
        assertThrows(UserError.class, () -> RuleReward.parse("bleu"));
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : s.toList()) {
                Path q = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(q);
                } else {
                    Files.copy(p, q);
                }
            }
        }
    }
}
