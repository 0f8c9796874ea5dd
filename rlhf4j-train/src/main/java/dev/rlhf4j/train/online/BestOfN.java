package dev.rlhf4j.train.online;

import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.generate.Generator;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.PromptReader;
import dev.rlhf4j.train.ppo.RewardFunction;
import dev.rlhf4j.train.ppo.Rollouts;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Best-of-n sampling (rejection sampling; Nakano et al. 2021, Touvron et al. 2023 section 3.2.3): n responses per
 * prompt from the policy, scored by a reward, the best one kept. An inference-time baseline that spends n times the
 * generation of the policy for no training, and, written as prompt/completion records, data for another round of
 * SFT on the chosen responses.
 */
public final class BestOfN {

    private BestOfN() {
    }

    /**
     * One prompt's outcome.
     *
     * @param chosen the episode with the highest score (the first of equals)
     * @param score  its score
     * @param scores the scores of all n samples, in the order they were drawn
     */
    public record Choice(Episode chosen, double score, double[] scores) {
    }

    /**
     * The choices, one per prompt in order, and the response tokens generated for them all (n per prompt; the
     * cost that best-of-n pays instead of training).
     */
    public record Result(List<Choice> choices, long generatedTokens) {
        /** The mean of the chosen episodes' scores. */
        public double meanChosenScore() {
            double s = 0;
            for (Choice c : choices) {
                s += c.score();
            }
            return s / choices.size();
        }

        /** The mean score of all samples: what sampling once would get on average. */
        public double meanSampleScore() {
            double s = 0;
            long k = 0;
            for (Choice c : choices) {
                for (double v : c.scores()) {
                    s += v;
                    k++;
                }
            }
            return s / k;
        }
    }

    /**
     * The tokens of prompt {@code i} (0-based), refused when it leaves fewer than {@code maxNewTokens} positions of
     * {@code maxSeq}. Sample {@code k} of prompt {@code i} is sequence {@code i * n + k} of the sampling order.
     */
    public static int[] encode(Tokenizer tokenizer, Prompt p, int i, int maxNewTokens, int maxSeq) {
        int[] ids = Rollouts.encodePrompt(tokenizer, p);
        PromptReader.checkLength(p.source() != null ? p.source() : "prompt " + (i + 1), ids.length, maxNewTokens,
                "max_new_tokens " + maxNewTokens, maxSeq);
        return ids;
    }

    /**
     * The index of the highest of one prompt's scores: the first of equals (strictly greater, so the choice never
     * depends on rounding order), and past a NaN.
     */
    public static int best(double[] scores) {
        int best = 0;
        for (int k = 1; k < scores.length; k++) {
            if (scores[k] > scores[best] || Double.isNaN(scores[best])) {
                best = k;
            }
        }
        return best;
    }

    /**
     * Samples {@code n} responses per prompt from {@code policy} and keeps the one {@code reward} scores highest.
     *
     * @param eosIds       responses end at the first of these (kept), or after {@code maxNewTokens}
     * @param seed         the sampler's seed: the same seed, policy and prompts give the same choices
     * @param batchSize    sequences per generation batch
     */
    public static Result select(Transformer policy, Tokenizer tokenizer, RewardFunction reward, List<Prompt> prompts,
                                int n, int maxNewTokens, float temperature, long seed, int[] eosIds, int batchSize) {
        if (n < 1) {
            throw new UserError("n must be at least 1, got " + n);
        }
        if (maxNewTokens < 1) {
            throw new UserError("max_new_tokens must be at least 1, got " + maxNewTokens);
        }
        if (!(temperature > 0) || Float.isInfinite(temperature)) {
            throw new UserError("temperature must be a positive number, got " + temperature);
        }
        if (batchSize < 1) {
            throw new UserError("batch_size must be at least 1, got " + batchSize);
        }
        if (prompts.isEmpty()) {
            throw new UserError("no prompts");
        }
        int maxSeq = policy.config().maxSeqLen();
        List<String> texts = new ArrayList<>(prompts.size() * n);
        List<int[]> tokens = new ArrayList<>(prompts.size() * n);
        for (int i = 0; i < prompts.size(); i++) {
            Prompt p = prompts.get(i);
            int[] ids = encode(tokenizer, p, i, maxNewTokens, maxSeq);
            // the n copies of a prompt sit next to each other: one generation batch holds whole groups where it can
            for (int k = 0; k < n; k++) {
                texts.add(p.text());
                tokens.add(ids);
            }
        }
        List<Episode> eps = Rollouts.sample(new Generator(policy, tokenizer), tokenizer, texts, tokens, maxNewTokens,
                temperature, seed, eosIds, batchSize);
        double[] scores = reward.score(eps);
        List<Choice> choices = new ArrayList<>(prompts.size());
        long generated = 0;
        for (int i = 0; i < prompts.size(); i++) {
            double[] s = Arrays.copyOfRange(scores, i * n, (i + 1) * n);
            for (int k = 0; k < n; k++) {
                generated += eps.get(i * n + k).responseTokens().length;
            }
            int best = best(s);
            choices.add(new Choice(eps.get(i * n + best), s[best], s));
        }
        return new Result(choices, generated);
    }
}
