package dev.rlhf4j.train;

import java.nio.file.Path;
import java.util.Locale;

/**
 * Hyper-parameters of a training run, with HF Trainer / TRL names and defaults (the CLI flags are the same names in
 * kebab case, and a YAML config file uses them as they are). Validated in one place.
 *
 * @param outputDir                 where checkpoints, metrics and the final model go
 * @param learningRate              peak learning rate of AdamW
 * @param weightDecay               decoupled weight decay on matrices (never on norms and biases)
 * @param adamBeta1                 AdamW β1
 * @param adamBeta2                 AdamW β2
 * @param adamEpsilon               AdamW ε
 * @param maxGradNorm               global-norm clipping threshold; 0 turns clipping off
 * @param lrSchedulerType           "linear", "cosine" or "constant" (after warm-up)
 * @param warmupSteps               linear warm-up steps (takes precedence over warmupRatio when > 0)
 * @param warmupRatio               warm-up as a fraction of all steps
 * @param numTrainEpochs            passes over the training data (ignored when maxSteps > 0)
 * @param maxSteps                  optimizer steps in total; -1 to derive them from the epochs
 * @param perDeviceTrainBatchSize   sequences (or packed rows) per micro-batch
 * @param gradientAccumulationSteps micro-batches per optimizer step
 * @param perDeviceEvalBatchSize    sequences per evaluation batch
 * @param evalSteps                 evaluate every this many steps; 0 = only at the end
 * @param saveSteps                 checkpoint every this many steps (and always at the end); 0 = only at the end
 * @param saveTotalLimit            checkpoints kept (the oldest are deleted)
 * @param loggingSteps              progress lines every this many steps when the console is not a terminal
 * @param seed                      seed of the data order and of new models
 * @param maxLength                 longest training sequence; longer examples are truncated (and counted)
 * @param packing                   pack several examples into each row of maxLength tokens
 * @param completionOnlyLoss        SFT: the loss covers only completion tokens (TRL's default)
 * @param maxConsecutiveNanSkips    updates with a NaN/Inf loss or gradient are skipped; abort after this many in a row
 */
public record TrainingConfig(Path outputDir, double learningRate, double weightDecay, double adamBeta1,
                             double adamBeta2, double adamEpsilon, double maxGradNorm, String lrSchedulerType,
                             int warmupSteps, double warmupRatio, double numTrainEpochs, int maxSteps,
                             int perDeviceTrainBatchSize, int gradientAccumulationSteps, int perDeviceEvalBatchSize,
                             int evalSteps, int saveSteps, int saveTotalLimit, int loggingSteps, long seed,
                             int maxLength, boolean packing, boolean completionOnlyLoss, int maxConsecutiveNanSkips) {

    public TrainingConfig {
        if (outputDir == null) {
            throw new IllegalArgumentException("output_dir is required");
        }
        positive("learning_rate", learningRate);
        nonNegative("weight_decay", weightDecay);
        if (!(adamBeta1 >= 0 && adamBeta1 < 1) || !(adamBeta2 >= 0 && adamBeta2 < 1)) {
            throw new IllegalArgumentException("adam_beta1 and adam_beta2 must be in [0, 1), got " + adamBeta1 + ", "
                    + adamBeta2);
        }
        positive("adam_epsilon", adamEpsilon);
        nonNegative("max_grad_norm", maxGradNorm);
        lrSchedulerType = lrSchedulerType == null ? "linear" : lrSchedulerType.toLowerCase(Locale.ROOT);
        if (!lrSchedulerType.equals("linear") && !lrSchedulerType.equals("cosine")
                && !lrSchedulerType.equals("constant")) {
            throw new IllegalArgumentException("lr_scheduler_type must be linear, cosine or constant, got '"
                    + lrSchedulerType + "'");
        }
        if (warmupSteps < 0 || !(warmupRatio >= 0 && warmupRatio < 1)) {
            throw new IllegalArgumentException("warmup_steps must be >= 0 and warmup_ratio in [0, 1)");
        }
        if (maxSteps <= 0 && maxSteps != -1) {
            throw new IllegalArgumentException("max_steps must be positive, or -1 to use num_train_epochs; got "
                    + maxSteps);
        }
        if (maxSteps == -1) {
            positive("num_train_epochs", numTrainEpochs);
        }
        positiveInt("per_device_train_batch_size", perDeviceTrainBatchSize);
        positiveInt("gradient_accumulation_steps", gradientAccumulationSteps);
        positiveInt("per_device_eval_batch_size", perDeviceEvalBatchSize);
        if (evalSteps < 0 || saveSteps < 0 || loggingSteps < 0) {
            throw new IllegalArgumentException("eval_steps, save_steps and logging_steps must be >= 0");
        }
        positiveInt("save_total_limit", saveTotalLimit);
        positiveInt("max_length", maxLength);
        positiveInt("max_consecutive_nan_skips", maxConsecutiveNanSkips);
    }

    /** HF Trainer's defaults (TRL's SFT defaults where they differ: completion-only loss on). */
    public static TrainingConfig defaults(Path outputDir) {
        return new TrainingConfig(outputDir, 5e-5, 0.0, 0.9, 0.999, 1e-8, 1.0, "linear", 0, 0.0, 3.0, -1, 8, 1, 8,
                0, 500, 2, 10, 42, 1024, false, true, 5);
    }

    /**
     * The settings that determine the trained weights and metrics, for {@code --resume} to check. Not included: the
     * output directory, logging, checkpoint and evaluation cadence, the NaN guard, and the run's length
     * ({@code max_steps}, {@code num_train_epochs}), which a resumed run may raise to train further.
     */
    public RunFingerprint fingerprint() {
        return new RunFingerprint().put("learning_rate", learningRate).put("weight_decay", weightDecay)
                .put("adam_beta1", adamBeta1).put("adam_beta2", adamBeta2).put("adam_epsilon", adamEpsilon)
                .put("max_grad_norm", maxGradNorm).put("lr_scheduler_type", lrSchedulerType)
                .put("warmup_steps", warmupSteps).put("warmup_ratio", warmupRatio)
                .put("per_device_train_batch_size", perDeviceTrainBatchSize)
                .put("gradient_accumulation_steps", gradientAccumulationSteps).put("seed", seed)
                .put("max_length", maxLength).put("packing", packing).put("completion_only_loss", completionOnlyLoss);
    }

    /** The number of warm-up steps for a run of {@code totalSteps}. */
    public int warmup(int totalSteps) {
        return warmupSteps > 0 ? warmupSteps : (int) Math.ceil(warmupRatio * totalSteps);
    }

    private static void positive(String name, double v) {
        if (!(v > 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException(name + " must be a positive number, got " + v);
        }
    }

    private static void nonNegative(String name, double v) {
        if (!(v >= 0) || Double.isInfinite(v)) {
            throw new IllegalArgumentException(name + " must be >= 0, got " + v);
        }
    }

    private static void positiveInt(String name, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException(name + " must be positive, got " + v);
        }
    }
}
