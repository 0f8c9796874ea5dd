package dev.rlhf4j.train;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.tensor.AdamW;

import java.util.Locale;

/**
 * The optimiser and learning-rate schedule every trainer shares, with HF Trainer's names and defaults: AdamW with
 * decoupled weight decay, global-norm clipping, a linear warm-up then constant, linear or cosine decay. Validated
 * here once, so a bad value is refused before any model is read, whichever trainer it is given to.
 *
 * @param learningRate    peak learning rate of AdamW (0: nothing moves, a measurement)
 * @param lrSchedulerType "linear", "cosine" or "constant" (after warm-up)
 * @param warmupSteps     linear warm-up steps (takes precedence over warmupRatio when > 0)
 * @param warmupRatio     warm-up as a fraction of all steps
 * @param weightDecay     decoupled weight decay on matrices (never on norms and biases)
 * @param adamBeta1       AdamW β1
 * @param adamBeta2       AdamW β2
 * @param adamEpsilon     AdamW ε
 * @param maxGradNorm     global-norm clipping threshold; 0 turns clipping off
 */
public record OptimizerConfig(double learningRate, String lrSchedulerType, int warmupSteps, double warmupRatio,
                              double weightDecay, double adamBeta1, double adamBeta2, double adamEpsilon,
                              double maxGradNorm) {

    /** HF Trainer's defaults ({@code learning_rate} 5e-5; PPO starts from its own, see {@code PpoConfig}). */
    public static final OptimizerConfig DEFAULTS = new OptimizerConfig(5e-5, "linear", 0, 0.0, 0.0, 0.9, 0.999, 1e-8,
            1.0);

    public OptimizerConfig {
        // 0 is a run that measures without moving the weights (PPO allows it; the supervised trainers do not)
        if (!(learningRate >= 0) || Double.isInfinite(learningRate)) {
            throw new UserError("learning_rate must be a positive number, got " + learningRate);
        }
        nonNegative("weight_decay", weightDecay);
        if (!(adamBeta1 >= 0 && adamBeta1 < 1) || !(adamBeta2 >= 0 && adamBeta2 < 1)) {
            throw new UserError("adam_beta1 and adam_beta2 must be in [0, 1), got " + adamBeta1 + ", "
                    + adamBeta2);
        }
        positive("adam_epsilon", adamEpsilon);
        nonNegative("max_grad_norm", maxGradNorm);
        lrSchedulerType = lrSchedulerType == null ? "linear" : lrSchedulerType.toLowerCase(Locale.ROOT);
        if (!lrSchedulerType.equals("linear") && !lrSchedulerType.equals("cosine")
                && !lrSchedulerType.equals("constant")) {
            throw new UserError("lr_scheduler_type must be linear, cosine or constant, got '"
                    + lrSchedulerType + "'");
        }
        if (warmupSteps < 0 || !(warmupRatio >= 0 && warmupRatio < 1)) {
            throw new UserError("warmup_steps must be >= 0 and warmup_ratio in [0, 1)");
        }
    }

    public OptimizerConfig withLearningRate(double v) {
        return new OptimizerConfig(v, lrSchedulerType, warmupSteps, warmupRatio, weightDecay, adamBeta1, adamBeta2,
                adamEpsilon, maxGradNorm);
    }

    public OptimizerConfig withLrSchedulerType(String v) {
        return new OptimizerConfig(learningRate, v, warmupSteps, warmupRatio, weightDecay, adamBeta1, adamBeta2,
                adamEpsilon, maxGradNorm);
    }

    public OptimizerConfig withWarmup(int steps, double ratio) {
        return new OptimizerConfig(learningRate, lrSchedulerType, steps, ratio, weightDecay, adamBeta1, adamBeta2,
                adamEpsilon, maxGradNorm);
    }

    public OptimizerConfig withWeightDecay(double v) {
        return new OptimizerConfig(learningRate, lrSchedulerType, warmupSteps, warmupRatio, v, adamBeta1, adamBeta2,
                adamEpsilon, maxGradNorm);
    }

    public OptimizerConfig withAdam(double beta1, double beta2, double epsilon) {
        return new OptimizerConfig(learningRate, lrSchedulerType, warmupSteps, warmupRatio, weightDecay, beta1, beta2,
                epsilon, maxGradNorm);
    }

    public OptimizerConfig withMaxGradNorm(double v) {
        return new OptimizerConfig(learningRate, lrSchedulerType, warmupSteps, warmupRatio, weightDecay, adamBeta1,
                adamBeta2, adamEpsilon, v);
    }

    /** The number of warm-up steps for a run of {@code totalSteps}. */
    public int warmup(int totalSteps) {
        return warmupSteps > 0 ? warmupSteps : (int) Math.ceil(warmupRatio * totalSteps);
    }

    /** The learning rate of each step of a run of {@code totalSteps}. */
    public LrSchedule schedule(int totalSteps) {
        return new LrSchedule(lrSchedulerType, learningRate, warmup(totalSteps), totalSteps);
    }

    /** AdamW's settings (float, as the optimizer computes). */
    public AdamW.Config adamW() {
        return new AdamW.Config((float) adamBeta1, (float) adamBeta2, (float) adamEpsilon, (float) weightDecay);
    }

    /** Adds these settings, under their snake_case names, to a run's fingerprint. */
    public RunFingerprint addTo(RunFingerprint f) {
        return f.put("learning_rate", learningRate).put("weight_decay", weightDecay).put("adam_beta1", adamBeta1)
                .put("adam_beta2", adamBeta2).put("adam_epsilon", adamEpsilon).put("max_grad_norm", maxGradNorm)
                .put("lr_scheduler_type", lrSchedulerType).put("warmup_steps", warmupSteps)
                .put("warmup_ratio", warmupRatio);
    }

    static void positive(String name, double v) {
        if (!(v > 0) || Double.isInfinite(v)) {
            throw new UserError(name + " must be a positive number, got " + v);
        }
    }

    static void nonNegative(String name, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) {
            throw new UserError(name + " must be >= 0, got " + v);
        }
    }
}
