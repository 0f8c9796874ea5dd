package dev.rlhf4j.train.lab;

import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.generate.Generator;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.RewardFunction;
import dev.rlhf4j.train.ppo.Rollouts;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Judges policies on held-out lab prompts: one response per prompt sampled at temperature 1 (the distribution PPO
 * optimises and the KL penalty is defined on), scored by the gold reward (total and each part) and by a reward
 * model, with the KL of the policy to a reference (the SFT model) estimated on the policy's own samples as
 * {@code Σ_t log π(y_t) − log π_ref(y_t)} per response.
 */
public final class LabEvaluation {

    private LabEvaluation() {
    }

    /** Mean and standard deviation (population) of a sample. */
    public record Stat(double mean, double std) {
        public static Stat of(double[] x) {
            double s = 0;
            for (double v : x) {
                s += v;
            }
            double m = s / x.length, q = 0;
            for (double v : x) {
                q += (v - m) * (v - m);
            }
            return new Stat(m, Math.sqrt(q / x.length));
        }

        /** The standard error of the mean for a sample of {@code n}. */
        public double stderr(int n) {
            return std / Math.sqrt(n);
        }
    }

    /** What one policy did on the prompts. */
    public record Result(String name, Stat gold, Map<String, Stat> parts, Stat rewardModel, Stat klToReference,
                         double responseTokens, double eosRate, double[] goldPerPrompt, List<Episode> episodes) {
    }

    /**
     * Samples and scores {@code policy} on {@code prompts}; with {@code world} null (prompts that are not the lab's,
     * as people label them in {@code rlhf4j loop --labeler app}) the gold reward and its parts are NaN and only the
     * reward model's score, the KL and the lengths are measured.
     */
    public static Result evaluate(String name, Transformer policy, Transformer reference, Tokenizer tokenizer,
                                  LabWorld world, RewardFunction rewardModel, List<String> prompts, int maxNewTokens,
                                  long seed, int[] eosIds, int batchSize) {
        List<int[]> ids = new ArrayList<>();
        for (String p : prompts) {
            ids.add(Rollouts.encodePrompt(tokenizer, Prompt.plain(p)));
        }
        List<Episode> eps = Rollouts.sample(new Generator(policy, tokenizer), tokenizer, prompts, ids, maxNewTokens,
                1f, seed, eosIds, batchSize);
        int n = eps.size();
        int pad = tokenizer.padId().orElse(tokenizer.eosId().orElse(0));
        double[][] lp = new double[n][], ref = new double[n][];
        Rollouts.logProbs(policy, eps, 1f, batchSize, pad, lp, null);
        Rollouts.logProbs(reference, eps, 1f, batchSize, pad, ref, null);
        double[] kl = new double[n];
        for (int i = 0; i < n; i++) {
            for (int t = 0; t < lp[i].length; t++) {
                kl[i] += lp[i][t] - ref[i][t];
            }
        }
        return score(name, eps, kl, world, rewardModel);
    }

    /**
     * Scores responses that were not sampled from one policy (best-of-n's picks, say): gold reward and parts, the
     * reward model's score, lengths; the KL to the reference is not defined per response and is NaN.
     */
    public static Result ofResponses(String name, List<Episode> episodes, LabWorld world, RewardFunction rewardModel) {
        double[] kl = new double[episodes.size()];
        java.util.Arrays.fill(kl, Double.NaN);
        return score(name, episodes, kl, world, rewardModel);
    }

    private static Result score(String name, List<Episode> eps, double[] kl, LabWorld world,
                                RewardFunction rewardModel) {
        int n = eps.size();
        double[] gold = new double[n];
        Map<String, double[]> parts = new LinkedHashMap<>();
        for (String part : LabWorld.PARTS) {
            parts.put(part, new double[n]);
        }
        double tokens = 0, eos = 0;
        for (int i = 0; i < n; i++) {
            Episode e = eps.get(i);
            LabWorld.Score s = world == null ? null : world.score(e.prompt(), e.response().strip());
            gold[i] = s == null ? Double.NaN : s.total();
            for (String part : LabWorld.PARTS) {
                parts.get(part)[i] = s == null ? Double.NaN : s.parts().getOrDefault(part, 0.0);
            }
            tokens += e.responseTokens().length;
            eos += e.eos() ? 1 : 0;
        }
        Map<String, Stat> partStats = new LinkedHashMap<>();
        parts.forEach((k, v) -> partStats.put(k, Stat.of(v)));
        Stat rm = rewardModel == null ? null : Stat.of(rewardModel.score(eps));
        return new Result(name, Stat.of(gold), partStats, rm, Stat.of(kl), tokens / n, eos / n, gold, eps);
    }

    /** How often {@code a}'s response beats {@code b}'s on the same prompt by the gold reward (ties count half). */
    public static double winRate(Result a, Result b) {
        double w = 0;
        for (int i = 0; i < a.goldPerPrompt().length; i++) {
            double x = a.goldPerPrompt()[i], y = b.goldPerPrompt()[i];
            w += x > y ? 1 : x == y ? 0.5 : 0;
        }
        return w / a.goldPerPrompt().length;
    }
}
