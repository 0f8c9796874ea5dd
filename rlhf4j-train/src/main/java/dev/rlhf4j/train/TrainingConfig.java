package dev.rlhf4j.train;

import dev.rlhf4j.tensor.UserError;
import java.nio.file.Path;

/**
 * Hyper-parameters of a training run, with HF Trainer / TRL names and defaults (the CLI flags are the same names in
 * kebab case, and a YAML config file uses them as they are). Defaults live in {@link #DEFAULTS} and
 * {@link OptimizerConfig#DEFAULTS}, validation in the constructors; tests build one with {@link #builder}.
 *
 * @param outputDir                 where checkpoints, metrics and the final model go
 * @param optimizer                 AdamW, clipping and the learning-rate schedule
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
 * @param reportTo                  where each step's metrics go: {@code jsonl} (metrics.jsonl) or {@code none}
 */
public record TrainingConfig(Path outputDir, OptimizerConfig optimizer, double numTrainEpochs, int maxSteps,
                             int perDeviceTrainBatchSize, int gradientAccumulationSteps, int perDeviceEvalBatchSize,
                             int evalSteps, int saveSteps, int saveTotalLimit, int loggingSteps, long seed,
                             int maxLength, boolean packing, boolean completionOnlyLoss, int maxConsecutiveNanSkips,
                             String reportTo) {

    /** HF Trainer's defaults (TRL's SFT defaults where they differ: completion-only loss on); no output directory. */
    public static final TrainingConfig DEFAULTS = new TrainingConfig(null, OptimizerConfig.DEFAULTS, 3.0, -1, 8, 1, 8,
            0, 500, 2, 10, 42, 1024, false, true, 5, RunReport.JSONL);

    /** Checks every value (the output directory only where one is given: {@link #DEFAULTS} has none). */
    public TrainingConfig {
        if (optimizer == null) {
            throw new UserError("the optimizer settings are required");
        }
        OptimizerConfig.positive("learning_rate", optimizer.learningRate());
        if (maxSteps <= 0 && maxSteps != -1) {
            throw new UserError("max_steps must be positive, or -1 to use num_train_epochs; got "
                    + maxSteps);
        }
        if (maxSteps == -1) {
            OptimizerConfig.positive("num_train_epochs", numTrainEpochs);
        }
        positiveInt("per_device_train_batch_size", perDeviceTrainBatchSize);
        positiveInt("gradient_accumulation_steps", gradientAccumulationSteps);
        positiveInt("per_device_eval_batch_size", perDeviceEvalBatchSize);
        if (evalSteps < 0 || saveSteps < 0 || loggingSteps < 0) {
            throw new UserError("eval_steps, save_steps and logging_steps must be >= 0");
        }
        positiveInt("save_total_limit", saveTotalLimit);
        positiveInt("max_length", maxLength);
        positiveInt("max_consecutive_nan_skips", maxConsecutiveNanSkips);
        reportTo = RunReport.check(reportTo);
    }

    /** HF Trainer's defaults, writing to {@code outputDir}. */
    public static TrainingConfig defaults(Path outputDir) {
        return builder(outputDir).build();
    }

    /** A builder that starts from the defaults. */
    public static Builder builder(Path outputDir) {
        return new Builder(DEFAULTS.withOutputDir(outputDir));
    }

    /** A builder that starts from this configuration. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    public TrainingConfig withOutputDir(Path dir) {
        if (dir == null) {
            throw new UserError("output_dir is required");
        }
        return new TrainingConfig(dir, optimizer, numTrainEpochs, maxSteps, perDeviceTrainBatchSize,
                gradientAccumulationSteps, perDeviceEvalBatchSize, evalSteps, saveSteps, saveTotalLimit, loggingSteps,
                seed, maxLength, packing, completionOnlyLoss, maxConsecutiveNanSkips, reportTo);
    }

    public double learningRate() {
        return optimizer.learningRate();
    }

    public double weightDecay() {
        return optimizer.weightDecay();
    }

    public double adamBeta1() {
        return optimizer.adamBeta1();
    }

    public double adamBeta2() {
        return optimizer.adamBeta2();
    }

    public double adamEpsilon() {
        return optimizer.adamEpsilon();
    }

    public double maxGradNorm() {
        return optimizer.maxGradNorm();
    }

    public String lrSchedulerType() {
        return optimizer.lrSchedulerType();
    }

    public int warmupSteps() {
        return optimizer.warmupSteps();
    }

    public double warmupRatio() {
        return optimizer.warmupRatio();
    }

    /**
     * The settings that determine the trained weights and metrics, for {@code --resume} to check. Not included: the
     * output directory, logging, checkpoint and evaluation cadence, the NaN guard, and the run's length
     * ({@code max_steps}, {@code num_train_epochs}), which a resumed run may raise to train further.
     */
    public RunFingerprint fingerprint() {
        return optimizer.addTo(new RunFingerprint())
                .put("per_device_train_batch_size", perDeviceTrainBatchSize)
                .put("gradient_accumulation_steps", gradientAccumulationSteps).put("seed", seed)
                .put("max_length", maxLength).put("packing", packing).put("completion_only_loss", completionOnlyLoss);
    }

    /** The number of warm-up steps for a run of {@code totalSteps}. */
    public int warmup(int totalSteps) {
        return optimizer.warmup(totalSteps);
    }

    /** What the run loop needs to know of this configuration. */
    public TrainingRun.Settings runSettings() {
        return new TrainingRun.Settings(outputDir, optimizer, saveSteps, saveTotalLimit, loggingSteps,
                maxConsecutiveNanSkips, reportTo);
    }

    private static void positiveInt(String name, int v) {
        if (v <= 0) {
            throw new UserError(name + " must be positive, got " + v);
        }
    }

    /** Builds a {@link TrainingConfig} from the defaults (tests, library users); {@link #build} validates. */
    public static final class Builder extends OptimizerSettings<Builder> {
        private Path outputDir;
        private double numTrainEpochs;
        private int maxSteps, perDeviceTrainBatchSize, gradientAccumulationSteps, perDeviceEvalBatchSize, evalSteps,
                saveSteps, saveTotalLimit, loggingSteps, maxLength, maxConsecutiveNanSkips;
        private long seed;
        private boolean packing, completionOnlyLoss;
        private String reportTo;

        @Override
        protected Builder self() {
            return this;
        }

        private Builder(TrainingConfig c) {
            super(c.optimizer);
            outputDir = c.outputDir;
            numTrainEpochs = c.numTrainEpochs;
            maxSteps = c.maxSteps;
            perDeviceTrainBatchSize = c.perDeviceTrainBatchSize;
            gradientAccumulationSteps = c.gradientAccumulationSteps;
            perDeviceEvalBatchSize = c.perDeviceEvalBatchSize;
            evalSteps = c.evalSteps;
            saveSteps = c.saveSteps;
            saveTotalLimit = c.saveTotalLimit;
            loggingSteps = c.loggingSteps;
            seed = c.seed;
            maxLength = c.maxLength;
            packing = c.packing;
            completionOnlyLoss = c.completionOnlyLoss;
            maxConsecutiveNanSkips = c.maxConsecutiveNanSkips;
            reportTo = c.reportTo;
        }

        public Builder numTrainEpochs(double v) {
            numTrainEpochs = v;
            return this;
        }

        public Builder maxSteps(int v) {
            maxSteps = v;
            return this;
        }

        public Builder perDeviceTrainBatchSize(int v) {
            perDeviceTrainBatchSize = v;
            return this;
        }

        public Builder gradientAccumulationSteps(int v) {
            gradientAccumulationSteps = v;
            return this;
        }

        public Builder perDeviceEvalBatchSize(int v) {
            perDeviceEvalBatchSize = v;
            return this;
        }

        public Builder evalSteps(int v) {
            evalSteps = v;
            return this;
        }

        public Builder saveSteps(int v) {
            saveSteps = v;
            return this;
        }

        public Builder saveTotalLimit(int v) {
            saveTotalLimit = v;
            return this;
        }

        public Builder loggingSteps(int v) {
            loggingSteps = v;
            return this;
        }

        public Builder seed(long v) {
            seed = v;
            return this;
        }

        public Builder maxLength(int v) {
            maxLength = v;
            return this;
        }

        public Builder packing(boolean v) {
            packing = v;
            return this;
        }

        public Builder completionOnlyLoss(boolean v) {
            completionOnlyLoss = v;
            return this;
        }

        public Builder maxConsecutiveNanSkips(int v) {
            maxConsecutiveNanSkips = v;
            return this;
        }

        public Builder reportTo(String v) {
            reportTo = v;
            return this;
        }

        public TrainingConfig build() {
            return new TrainingConfig(outputDir, optimizer, numTrainEpochs, maxSteps, perDeviceTrainBatchSize,
                    gradientAccumulationSteps, perDeviceEvalBatchSize, evalSteps, saveSteps, saveTotalLimit,
                    loggingSteps, seed, maxLength, packing, completionOnlyLoss, maxConsecutiveNanSkips, reportTo)
                    .withOutputDir(outputDir);
        }
    }
}
