package dev.rlhf4j.train.dpo;

import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.AdamW;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.train.DataCursor;
import dev.rlhf4j.train.Objective;
import dev.rlhf4j.train.TrainingConfig;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.Rollouts;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DpoObjectiveTest {
    private static final ModelConfig TINY = ModelConfig.llama(24, 32, 2, 4, 2, 48, 32, 1e-5f, 10000.0,
            Rope.Style.ROTATE_HALF, true, false);
    private static final int PAD = 0;

    private static int[] seq(Rng rng, int len) {
        int[] t = new int[len];
        for (int i = 0; i < len; i++) {
            t[i] = 2 + rng.nextInt(TINY.vocabSize() - 2);
        }
        return t;
    }

    /** Random prompts; the chosen completion holds token 1 somewhere, the rejected one never does. */
    private static List<DpoExample> pairs(int n, long seed) {
        Rng rng = new Rng(seed);
        List<DpoExample> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] c = seq(rng, 2 + rng.nextInt(4)), r = seq(rng, 2 + rng.nextInt(4));
            c[rng.nextInt(c.length)] = 1;
            out.add(new DpoExample(seq(rng, 2 + rng.nextInt(4)), c, r, -1));
        }
        return out;
    }

    private static TrainingConfig cfg(int pairsPerBatch) {
        return TrainingConfig.builder(Path.of("unused")).perDeviceTrainBatchSize(pairsPerBatch)
                .perDeviceEvalBatchSize(pairsPerBatch).maxLength(32).seed(3).build();
    }

    private static DpoConfig dpo(DpoLossType type, double beta, double eps, boolean precompute, boolean free,
                                 double rpo) {
        return new DpoConfig(beta, type, eps, precompute, free, rpo, 16);
    }

    private static DpoObjective objective(Transformer policy, Transformer ref, List<DpoExample> train, DpoConfig d,
                                          int pairsPerBatch) {
        return new DpoObjective(policy, ref, train, train, d, cfg(pairsPerBatch), PAD, (m, dir) -> { });
    }

    /** A reference that differs from the policy, so that h ≠ 0 and every loss has a slope. */
    private static Transformer reference() {
        Transformer ref = Transformer.create(TINY, OutputHeads.LM, 2);
        ref.freeze();
        return ref;
    }

    @Test
    void wholeModelGradientMatchesCentralFiniteDifferences() {
        List<DpoExample> train = pairs(4, 7);
        for (DpoConfig d : List.of(dpo(DpoLossType.SIGMOID, 1.0, 0.1, false, false, 0.5),
                dpo(DpoLossType.IPO, 1.0, 0, false, false, 0), dpo(DpoLossType.ROBUST, 2.0, 0.2, false, false, 0))) {
            Transformer policy = Transformer.create(TINY, OutputHeads.LM, 1);
            // one step over all four pairs: its loss is the held-out loss on the same pairs, so evaluate() gives L(θ)
            DpoObjective obj = objective(policy, reference(), train, d, train.size());
            policy.zeroGrad();
            Objective.StepResult r = obj.trainStep(new DataCursor(0, 0));
            double loss = obj.evaluate().get("eval_loss");
            assertEquals(loss, r.loss(), 1e-9 + 1e-6 * Math.abs(loss));
            // Tolerance from float arithmetic: each float32 completion log-prob π carries a rounding error of about
            // √m·u·|π|, u = 2^-24, where m ≈ 64 is the longest accumulation of the forward (rounding errors add as a
            // random walk). Propagated through the loss with the pair's own slopes, one evaluation of L is off by
            // δL ≈ (1/P)·Σ 8u·(|∂ℓ/∂πc|·|πc| + |∂ℓ/∂πr|·|πr|) + α·8u·Σ|πc|/T (RPO), and the central difference
            // (L+ − L−)/(2h) by up to δL/h. Truncation, h²/6·L''' (largest for the embedding, whose entries move a
            // whole token's input), is allowed a relative 3%. The gradients checked are the largest of a sample, and
            // at least four must stand well above δL/h.
            float h = 1e-2f;
            double noise = roundingOfLoss(policy, reference(), train, d) / h;
            int checked = 0;
            for (String name : new String[] {"wte", "h.0.attn.qkv.weight", "h.1.mlp.proj.weight",
                    "ln_f.weight"}) {
                Tensor p = policy.params().get(name);
                Tensor g = policy.grads().get(name);
                // the entries with the largest gradients among a sample, where the check means most
                for (int k = 0; k < 3; k++) {
                    int best = 0;
                    for (int j = k; j < p.size(); j += 37) {
                        if (Math.abs(g.data()[g.offset() + j]) > Math.abs(g.data()[g.offset() + best])) {
                            best = j;
                        }
                    }
                    int i = (best + k * 101) % p.size();
                    float keep = p.data()[p.offset() + i];
                    p.data()[p.offset() + i] = keep + h;
                    double up = obj.evaluate().get("eval_loss");
                    p.data()[p.offset() + i] = keep - h;
                    double down = obj.evaluate().get("eval_loss");
                    p.data()[p.offset() + i] = keep;
                    double fd = (up - down) / (2 * h);
                    double analytic = g.data()[g.offset() + i];
                    assertEquals(fd, analytic, noise + 0.03 * Math.abs(fd), d.lossType() + " " + name + "[" + i + "]");
                    checked += Math.abs(fd) > 10 * noise ? 1 : 0;
                }
            }
            assertTrue(checked >= 4, "too few gradients stand above the noise of " + noise + ": " + checked);
        }
    }

    @Test
    void eachLossTypeLowersItsOwnLoss() {
        List<DpoExample> train = pairs(16, 11);
        for (DpoLossType type : DpoLossType.values()) {
            Transformer policy = Transformer.create(TINY, OutputHeads.LM, 1);
            Transformer ref = policy.frozenCopy();
            DpoObjective obj = objective(policy, ref, train, dpo(type, 0.5, 0, false, false, 0), 8);
            double before = obj.evaluate().get("eval_loss");
            AdamW opt = new AdamW(AdamW.Config.defaults(0f), policy.params());
            DataCursor cursor = new DataCursor(0, 0);
            for (int step = 0; step < 30; step++) {
                policy.zeroGrad();
                obj.trainStep(cursor);
                opt.update(policy.params(), policy.grads(), 3e-3f);
            }
            Map<String, Double> after = obj.evaluate();
            assertTrue(after.get("eval_loss") < 0.5 * before, type + ": " + before + " -> " + after.get("eval_loss"));
            assertTrue(after.get("eval_rewards/accuracies") > 0.9, type + ": " + after);
            assertTrue(after.get("eval_rewards/margins") > 0, type + ": " + after);
        }
    }

    @Test
    void precomputedReferenceLogProbsEqualThoseComputedOnTheFly() {
        List<DpoExample> train = pairs(12, 5);
        for (DpoLossType type : List.of(DpoLossType.SIGMOID, DpoLossType.IPO)) {
            Transformer a = Transformer.create(TINY, OutputHeads.LM, 1), b = a.copy();
            // batches of 5 pairs on the fly, tables made in batches of 5 too but of other pairs: other padding
            DpoObjective onTheFly = objective(a, reference(), train, dpo(type, 0.1, 0, false, false, 0), 5);
            DpoObjective pre = new DpoObjective(b, reference(), train, train.reversed(),
                    dpo(type, 0.1, 0, true, false, 0), cfg(5), PAD, (m, dir) -> { });
            Map<String, Double> x = onTheFly.evaluateOnTrain(), y = pre.evaluateOnTrain();
            for (String k : x.keySet()) {
                assertEquals(x.get(k), y.get(k), 1e-5 * Math.max(1, Math.abs(x.get(k))), type + " " + k);
            }
            a.zeroGrad();
            b.zeroGrad();
            Objective.StepResult r1 = onTheFly.trainStep(new DataCursor(0, 0));
            Objective.StepResult r2 = pre.trainStep(new DataCursor(0, 0));
            assertEquals(r1.loss(), r2.loss(), 1e-6);
            float[] g1 = a.grads().chunk(0), g2 = b.grads().chunk(0);
            double max = 0, diff = 0;
            for (int i = 0; i < g1.length; i++) {
                max = Math.max(max, Math.abs(g1[i]));
                diff = Math.max(diff, Math.abs(g1[i] - g2[i]));
            }
            assertTrue(max > 0 && diff <= 1e-4 * max, type + ": gradients differ by " + diff + " of " + max);
        }
    }

    @Test
    void referenceFreeRewardsAreBetaTimesThePolicyLogProbs() {
        List<DpoExample> train = pairs(6, 9);
        Transformer policy = Transformer.create(TINY, OutputHeads.LM, 1);
        DpoObjective free = objective(policy, null, train, dpo(DpoLossType.SIGMOID, 0.2, 0, true, true, 0), 6);
        Map<String, Double> m = free.evaluate();
        assertEquals(0.2 * m.get("eval_logps/chosen"), m.get("eval_rewards/chosen"), 1e-9);
        assertEquals(0.2 * m.get("eval_logps/rejected"), m.get("eval_rewards/rejected"), 1e-9);
        // with a reference identical to the policy every reward is 0 and the loss is ln 2
        Map<String, Double> same = objective(policy, policy.frozenCopy(), train,
                dpo(DpoLossType.SIGMOID, 0.2, 0, false, false, 0), 6).evaluate();
        assertEquals(0, same.get("eval_rewards/chosen"), 1e-12);
        assertEquals(Math.log(2), same.get("eval_loss"), 1e-12);
    }

    @Test
    void rpoAddsAlphaTimesTheMeanNllPerChosenToken() {
        List<DpoExample> train = pairs(6, 13);
        Transformer policy = Transformer.create(TINY, OutputHeads.LM, 1);
        Transformer ref = reference();
        Map<String, Double> plain = objective(policy, ref, train, dpo(DpoLossType.SIGMOID, 0.1, 0, false, false, 0),
                6).evaluate();
        Map<String, Double> rpo = objective(policy, ref, train, dpo(DpoLossType.SIGMOID, 0.1, 0, false, false, 0.7),
                6).evaluate();
        long chosenTokens = train.stream().mapToLong(e -> e.chosen().length).sum();
        double nll = -plain.get("eval_logps/chosen") * train.size() / chosenTokens;
        assertEquals(nll, rpo.get("eval_nll_loss"), 1e-9);
        assertEquals(plain.get("eval_loss") + 0.7 * nll, rpo.get("eval_loss"), 1e-9);
        assertTrue(!plain.containsKey("eval_nll_loss"));
        assertEquals(Math.log(2) > 0, nll > 0);
    }
    /** δL of the comment in the gradient test: the loss's sensitivity to the float32 rounding of the log-probs. */
    private static double roundingOfLoss(Transformer policy, Transformer ref, List<DpoExample> pairs, DpoConfig d) {
        List<Episode> eps = new ArrayList<>();
        for (int side = 0; side < 2; side++) {
            for (DpoExample e : pairs) {
                eps.add(new Episode("", e.prompt(), side == 0 ? e.chosen() : e.rejected(), "", true));
            }
        }
        int n = eps.size(), p = pairs.size();
        double[][] lp = new double[n][], rp = new double[n][];
        Rollouts.logProbs(policy, eps, 1f, n, PAD, lp, null);
        Rollouts.logProbs(ref, eps, 1f, n, PAD, rp, null);
        double[] pi = Rollouts.sums(lp), rho = Rollouts.sums(rp);
        long chosenTokens = 0;
        for (int i = 0; i < n; i++) {
            if (d.lossType() == DpoLossType.IPO) {
                pi[i] /= lp[i].length;
                rho[i] /= lp[i].length;
            }
            chosenTokens += i < p ? lp[i].length : 0;
        }
        double u8 = 8 * Math.pow(2, -24), delta = 0;
        for (int i = 0; i < p; i++) {
            DpoLoss.Term t = d.loss().term(pi[i], pi[p + i], rho[i], rho[p + i]);
            delta += u8 * (Math.abs(t.dPolicyChosen() * pi[i]) + Math.abs(t.dPolicyRejected() * pi[p + i])) / p;
            delta += d.rpoAlpha() * u8 * Math.abs(Rollouts.sums(lp)[i]) / chosenTokens;
        }
        return delta;
    }
}
