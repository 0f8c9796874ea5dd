package dev.rlhf4j.train.grpo;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.ppo.PpoMath;

import java.util.Locale;

/**
 * The arithmetic of critic-free policy optimisation with groups of samples: the three advantage estimators, the
 * per-token loss (clipped surrogate plus the k3 KL to the reference) with its gradient, and how the token losses are
 * averaged. A step's completions come in groups of {@code G} consecutive rows, all answering the same prompt. Rows
 * are ragged as in {@link PpoMath}: {@code x[i][t]} for the {@code t}-th completion token of row {@code i}. Every
 * function here is pure and tested against hand-computed values and finite differences.
 */
public final class GrpoMath {

    /** TRL's GRPO divides by the group's std plus this, so a group whose rewards all agree gets advantage 0. */
    public static final double STD_EPSILON = 1e-4;

    private GrpoMath() {
    }

    /** How advantages are estimated from the rewards of a group of completions. */
    public enum Advantage {
        /** {@code (r − mean_group)/(std_group + 1e-4)}, std unbiased (Shao et al. 2024, TRL's GRPOTrainer). */
        GRPO("grpo"),
        /** {@code r_i − mean of the other G−1 rewards}: REINFORCE leave-one-out (Ahmadian et al. 2024, TRL). */
        RLOO("rloo"),
        /**
         * Per-token reward {@code −β·k1} with the score at the last token, return-to-go (γ = 1), whitened over the
         * whole batch rather than per group (Hu 2025, OpenRLHF's {@code reinforce++}).
         */
        REINFORCE_PP("reinforce++");

        private final String label;

        Advantage(String label) {
            this.label = label;
        }

        /** The name users write ({@code --advantage}). */
        public String label() {
            return label;
        }

        /** Whether the estimator compares a completion with the others of its group (so needs G ≥ 2). */
        public boolean needsGroup() {
            return this != REINFORCE_PP;
        }

        public static Advantage parse(String s) {
            for (Advantage a : values()) {
                if (a.label.equals(s.toLowerCase(Locale.ROOT))) {
                    return a;
                }
            }
            throw new UserError("advantage must be grpo, rloo or reinforce++, got '" + s + "'");
        }

        @Override
        public String toString() {
            return label;
        }
    }

    /** How the token losses of a step are averaged (TRL's {@code loss_type}). */
    public enum LossType {
        /** Mean over each sequence's tokens, then over sequences (Shao et al. 2024). */
        GRPO,
        /** Sum over all tokens divided by the number of tokens (TRL's {@code bnpo}, DAPO's token-level mean). */
        BNPO,
        /** Sum over all tokens divided by sequences × max completion length (Liu et al. 2025, Dr. GRPO). */
        DR_GRPO;

        public static LossType parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "grpo" -> GRPO;
                case "bnpo" -> BNPO;
                case "dr_grpo" -> DR_GRPO;
                default -> throw new UserError("loss_type must be grpo, bnpo or dr_grpo, got '" + s + "'");
            };
        }
    }

    /** Where the KL to the reference enters: as a k3 term of the loss (GRPO) or subtracted from the reward. */
    public enum KlIn {
        LOSS, REWARD;

        public static KlIn parse(String s) {
            return switch (s.toLowerCase(Locale.ROOT)) {
                case "loss" -> LOSS;
                case "reward" -> REWARD;
                default -> throw new UserError("kl_in must be loss or reward, got '" + s + "'");
            };
        }
    }

    /**
     * Sequence-level advantages of {@link Advantage#GRPO} or {@link Advantage#RLOO} for rewards in groups of
     * {@code g} consecutive entries.
     */
    public static double[] groupAdvantages(double[] rewards, int g, Advantage advantage) {
        if (advantage == Advantage.REINFORCE_PP) {
            throw new IllegalArgumentException("reinforce++ advantages are per token: use reinforcePlusPlus");
        }
        if (g < 2 || rewards.length % g != 0) {
            throw new IllegalArgumentException("groups of " + g + " do not divide " + rewards.length + " rewards");
        }
        double[] adv = new double[rewards.length];
        for (int from = 0; from < rewards.length; from += g) {
            double sum = 0;
            for (int i = from; i < from + g; i++) {
                sum += rewards[i];
            }
            if (advantage == Advantage.RLOO) {
                for (int i = from; i < from + g; i++) {
                    adv[i] = rewards[i] - (sum - rewards[i]) / (g - 1);
                }
            } else {
                double mean = sum / g, std = groupStd(rewards, from, g);
                for (int i = from; i < from + g; i++) {
                    adv[i] = (rewards[i] - mean) / (std + STD_EPSILON);
                }
            }
        }
        return adv;
    }

    /** The unbiased standard deviation of {@code x[from, from+g)} (torch's {@code std()}, as TRL uses). */
    public static double groupStd(double[] x, int from, int g) {
        double mean = 0;
        for (int i = from; i < from + g; i++) {
            mean += x[i] / g;
        }
        double sq = 0;
        for (int i = from; i < from + g; i++) {
            sq += (x[i] - mean) * (x[i] - mean);
        }
        return g < 2 ? 0 : Math.sqrt(sq / (g - 1));
    }

    /**
     * REINFORCE++ advantages: per-token rewards {@code −β·kl_t} plus the score at the last token, their
     * return-to-go {@code Σ_{s≥t} r_s}, whitened over every token of the batch. {@code kl} holds each token's KL
     * estimate (all zero when the KL is in the loss instead).
     */
    public static double[][] reinforcePlusPlus(double[][] kl, double[] scores, double beta) {
        double[][] rewards = new double[kl.length][];
        double[][] zero = new double[kl.length][], returns = new double[kl.length][];
        for (int i = 0; i < kl.length; i++) {
            int n = kl[i].length;
            rewards[i] = new double[n];
            for (int t = 0; t < n; t++) {
                rewards[i][t] = -beta * kl[i][t];
            }
            rewards[i][n - 1] += scores[i];
            zero[i] = new double[n];
            returns[i] = new double[n];
        }
        // GAE with zero values, γ = λ = 1, is the return-to-go
        double[][] adv = PpoMath.gae(rewards, zero, 1, 1, returns);
        PpoMath.whiten(adv, true);
        return adv;
    }

    /** Each completion's advantage repeated over its tokens. */
    public static double[][] perToken(double[] advantages, int[] lengths) {
        double[][] out = new double[advantages.length][];
        for (int i = 0; i < advantages.length; i++) {
            out[i] = new double[lengths[i]];
            java.util.Arrays.fill(out[i], advantages[i]);
        }
        return out;
    }

    /**
     * The loss of one token and its gradient with respect to the policy's log-probability: the clipped surrogate
     * {@code −min(ρA, clip(ρ, 1−ε, 1+ε)A)}, {@code ρ = exp(logp − oldLogp)}, plus {@code β·k3} with
     * {@code k3 = exp(ref − logp) − (ref − logp) − 1} (TRL's GRPO; derivative {@code 1 − exp(ref − logp)}).
     * {@code beta} 0 leaves the KL out of the loss; {@code kl} is reported either way.
     */
    public static Term term(double logp, double oldLogp, double refLogp, double advantage, double epsilon,
                            double beta) {
        PpoMath.PolicyTerm pg = PpoMath.policyTerm(logp, oldLogp, advantage, epsilon);
        double d = refLogp - logp;
        double k3 = Math.expm1(d) - d;
        double loss = pg.loss() + beta * k3;
        double grad = pg.grad() + beta * -Math.expm1(d);
        boolean low = pg.clipped() && pg.ratio() < 1 - epsilon;
        boolean high = pg.clipped() && pg.ratio() > 1 + epsilon;
        return new Term(loss, grad, k3, pg.ratio(), low, high);
    }

    /** One token's loss, its derivative, its k3 KL, ratio, and whether the clip bound below or above. */
    public record Term(double loss, double grad, double kl, double ratio, boolean clippedLow, boolean clippedHigh) {
    }

    /**
     * The weight of each token of row {@code i} in the step's loss: {@code 1/(|o_i|·N)} (grpo),
     * {@code 1/Σ|o_j|} (bnpo), {@code 1/(N·maxCompletionLength)} (dr_grpo), for {@code N} rows.
     */
    public static double tokenWeight(LossType type, int[] lengths, int i, int maxCompletionLength) {
        int n = lengths.length;
        return switch (type) {
            case GRPO -> 1.0 / lengths[i] / n;
            case BNPO -> {
                long total = 0;
                for (int l : lengths) {
                    total += l;
                }
                yield 1.0 / total;
            }
            case DR_GRPO -> 1.0 / ((double) n * maxCompletionLength);
        };
    }

    /**
     * The step's loss over all tokens, {@code Σ_i Σ_t w_i·term_it}, and its gradient with respect to each
     * log-probability written into {@code grad}: what the trainer computes micro-batch by micro-batch.
     */
    public static double loss(double[][] logp, double[][] oldLogp, double[][] refLogp, double[][] adv,
                              double epsilon, double beta, LossType type, int maxCompletionLength, double[][] grad) {
        int[] lengths = new int[logp.length];
        for (int i = 0; i < logp.length; i++) {
            lengths[i] = logp[i].length;
        }
        double loss = 0;
        for (int i = 0; i < logp.length; i++) {
            double w = tokenWeight(type, lengths, i, maxCompletionLength);
            for (int t = 0; t < logp[i].length; t++) {
                Term term = term(logp[i][t], oldLogp[i][t], refLogp[i][t], adv[i][t], epsilon, beta);
                loss += w * term.loss();
                grad[i][t] = w * term.grad();
            }
        }
        return loss;
    }
}
