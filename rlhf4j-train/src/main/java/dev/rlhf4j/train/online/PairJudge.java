package dev.rlhf4j.train.online;

import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.train.lab.Annotator;
import dev.rlhf4j.train.lab.GoldReward;
import dev.rlhf4j.train.lab.LabWorld;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.RewardFunction;

import java.util.Arrays;
import java.util.List;

/**
 * Who decides which of two responses to the same prompt is better, for online DPO: a reward (a reward model or the
 * lab's gold reward: the higher score wins, an exact tie is no pair) or a simulated annotator of the lab (a
 * Bradley–Terry choice on the gold reward, {@link Annotator}). Responses with the same tokens are never a pair.
 */
public interface PairJudge {

    /**
     * The scores of both responses of each prompt (for the metrics) and the verdicts: {@code +1} when the first
     * is preferred, {@code −1} when the second is, {@code 0} for no pair.
     */
    record Verdicts(double[] first, double[] second, int[] winner) {
    }

    /** Judges {@code first.get(i)} against {@code second.get(i)}; {@code seed} drives any randomness. */
    Verdicts judge(List<Episode> first, List<Episode> second, long seed);

    /** A short description for logs. */
    String describe();

    /**
     * The higher score wins; {@code missingEosPenalty} (NaN = off) is subtracted from responses without EOS first,
     * as TRL's OnlineDPOTrainer does.
     */
    static PairJudge byScore(RewardFunction reward, double missingEosPenalty) {
        return new PairJudge() {
            @Override
            public Verdicts judge(List<Episode> first, List<Episode> second, long seed) {
                double[] a = penalised(reward.score(first), first, missingEosPenalty);
                double[] b = penalised(reward.score(second), second, missingEosPenalty);
                int[] w = new int[a.length];
                for (int i = 0; i < w.length; i++) {
                    // NaN compares neither way: no pair
                    w[i] = same(first.get(i), second.get(i)) ? 0 : a[i] > b[i] ? 1 : a[i] < b[i] ? -1 : 0;
                }
                return new Verdicts(a, b, w);
            }

            @Override
            public String describe() {
                return reward.describe();
            }
        };
    }

    /**
     * A simulated labeller of the lab world: prefers the first with probability σ((R₁ − R₂ + bias·(words₁ −
     * words₂)) / T) on the gold reward R, less {@code missingEosPenalty} (NaN = off) for a response without EOS, so
     * that the annotator judges the penalised rewards as {@link #byScore} does; the scores reported are these.
     */
    static PairJudge annotator(LabWorld world, Annotator annotator, double missingEosPenalty) {
        GoldReward gold = new GoldReward(world);
        return new PairJudge() {
            @Override
            public Verdicts judge(List<Episode> first, List<Episode> second, long seed) {
                double[] a = penalised(gold.score(first), first, missingEosPenalty);
                double[] b = penalised(gold.score(second), second, missingEosPenalty);
                Rng rng = new Rng(seed);
                int[] w = new int[a.length];
                for (int i = 0; i < w.length; i++) {
                    Annotator.Comparison c = new Annotator.Comparison(a[i], b[i],
                            Annotator.words(first.get(i).response()), Annotator.words(second.get(i).response()));
                    // the draw is made for every pair, so that one pair's verdict never shifts another's
                    boolean firstWins = annotator.prefersFirst(c, rng);
                    w[i] = same(first.get(i), second.get(i)) ? 0 : firstWins ? 1 : -1;
                }
                return new Verdicts(a, b, w);
            }

            @Override
            public String describe() {
                return String.format("a simulated annotator of the lab (world seed %d, temperature %.3g)",
                        world.seed(), annotator.temperature());
            }
        };
    }

    private static double[] penalised(double[] scores, List<Episode> eps, double penalty) {
        if (!Double.isNaN(penalty)) {
            for (int i = 0; i < scores.length; i++) {
                if (!eps.get(i).eos()) {
                    scores[i] -= penalty;
                }
            }
        }
        return scores;
    }

    private static boolean same(Episode a, Episode b) {
        return Arrays.equals(a.responseTokens(), b.responseTokens());
    }
}
