package dev.rlhf4j.train.grpo;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.OptimizerConfig;
import dev.rlhf4j.train.OptimizerSettings;
import dev.rlhf4j.train.RunFingerprint;
import dev.rlhf4j.train.RunReport;
import dev.rlhf4j.train.TrainingRun;

import java.nio.file.Path;
import java.util.Locale;

/**
 * GRPO's (and RLOO's, REINFORCE++'s) hyper-parameters with TRL's names and defaults, defaults in {@link #DEFAULTS}
 * and validation in the constructor; tests build one with {@link #builder}. One step samples
 * {@code numGenerations} completions for each of {@code perDeviceTrainBatchSize} prompts, then makes
 * {@code numIterations} optimizer steps on them.
 *
 * @param outputDir where checkpoints, metrics, samples and the final policy go
 * @param optimizer AdamW, clipping and the schedule; TRL's learning rate 1e-6
 * @param maxConsecutiveNanSkips abort after this many skipped (NaN/Inf) updates in a row
 * @param numTrainEpochs passes over the prompts (ignored when maxSteps > 0)
 * @param maxSteps steps; -1 to count them from numTrainEpochs
 * @param perDeviceTrainBatchSize prompts per step (each sampled numGenerations times)
 * @param numGenerations completions sampled per prompt: the group G
 * @param localRolloutForwardBatchSize completions per generation, scoring, forward and backward batch
 * @param maxCompletionLength most new tokens per completion
 * @param temperature sampling temperature (also divides the logits of the trained log-probabilities)
 * @param stopAtEos stop at the end-of-sequence token
 * @param missingEosPenalty subtracted from the reward of completions that never emit EOS; NaN = off
 * @param advantage grpo, rloo or reinforce++
 * @param lossType how token losses are averaged (grpo, bnpo, dr_grpo)
 * @param beta KL coefficient β; 0 = no KL and no reference forward
 * @param klIn KL as a k3 term of the loss or subtracted from the reward (k1); null = the estimator's own (loss for
 *     grpo as TRL, reward for rloo and reinforce++ as TRL's RLOO and OpenRLHF)
 * @param epsilon clip range of the ratio
 * @param numIterations updates per batch of completions (μ); the ratio is against the sampling policy
 * @param seed seed of sampling and shuffling
 * @param saveSteps checkpoint every this many steps (and at the end); 0 = only at the end
 * @param saveTotalLimit checkpoints kept
 * @param loggingSteps progress lines every this many steps when the console is not a terminal
 * @param sampleSteps write sample completions to samples.jsonl every this many steps; 0 = never
 * @param numSampleGenerations samples written each time
 * @param reportTo where each step's metrics go: jsonl (metrics.jsonl) or none
 */
public record GrpoConfig(Path outputDir,
                         OptimizerConfig optimizer,
                         int maxConsecutiveNanSkips,
                         double numTrainEpochs,
                         int maxSteps,
                         int perDeviceTrainBatchSize,
                         int numGenerations,
                         int localRolloutForwardBatchSize,
                         int maxCompletionLength,
                         float temperature,
                         boolean stopAtEos,
                         double missingEosPenalty,
                         GrpoMath.Advantage advantage,
                         GrpoMath.LossType lossType,
                         double beta,
                         GrpoMath.KlIn klIn,
                         double epsilon,
                         int numIterations,
                         long seed,
                         int saveSteps,
                         int saveTotalLimit,
                         int loggingSteps,
                         int sampleSteps,
                         int numSampleGenerations,
                         String reportTo) {

    /** TRL's defaults (G = 4 rather than 8, and 48 new tokens, to fit a CPU); no output directory. */
    public static final GrpoConfig DEFAULTS = new GrpoConfig(null, OptimizerConfig.DEFAULTS.withLearningRate(1e-6), 5,
            1, -1, 16, 4, 64, 48, 1f, true, Double.NaN, GrpoMath.Advantage.GRPO, GrpoMath.LossType.GRPO, 0.04,
            GrpoMath.KlIn.LOSS, 0.2, 1, 42, 0, 2, 1, 10, 4, RunReport.JSONL);

    /** Checks every value; the message names the option. A null {@code klIn} becomes the estimator's own. */
    public GrpoConfig {
        if (optimizer == null) {
            throw new UserError("the optimizer settings are required");
        }
        if (advantage == null) {
            throw new UserError("advantage must be grpo, rloo or reinforce++");
        }
        if (lossType == null) {
            throw new UserError("loss_type must be grpo, bnpo or dr_grpo");
        }
        if (klIn == null) {
            klIn = advantage == GrpoMath.Advantage.GRPO ? GrpoMath.KlIn.LOSS : GrpoMath.KlIn.REWARD;
        }
        positive("per_device_train_batch_size", perDeviceTrainBatchSize);
        positive("num_generations", numGenerations);
        if (advantage.needsGroup() && numGenerations < 2) {
            throw new UserError("num_generations must be at least 2 for --advantage " + advantage.label()
                    + " (it compares each completion with the others for the same prompt), got " + numGenerations);
        }
        positive("local_rollout_forward_batch_size", localRolloutForwardBatchSize);
        positive("max_completion_length", maxCompletionLength);
        positive("num_iterations", numIterations);
        positive("save_total_limit", saveTotalLimit);
        positive("max_consecutive_nan_skips", maxConsecutiveNanSkips);
        nonNegative("beta", beta);
        nonNegative("logging_steps", loggingSteps);
        nonNegative("save_steps", saveSteps);
        nonNegative("sample_steps", sampleSteps);
        nonNegative("num_sample_generations", numSampleGenerations);
        if (!(temperature > 0) || Float.isInfinite(temperature)) {
            throw new UserError("temperature must be a positive number, got " + temperature);
        }
        if (!(epsilon > 0 && epsilon < 1)) {
            throw new UserError("epsilon must be in (0, 1), got " + epsilon);
        }
        if (maxSteps == 0 || maxSteps < -1) {
            throw new UserError("max_steps must be positive, or -1 to count from num_train_epochs, got " + maxSteps);
        }
        if (maxSteps == -1 && !(numTrainEpochs > 0)) {
            throw new UserError("num_train_epochs must be positive, got " + numTrainEpochs);
        }
        if (!Double.isNaN(missingEosPenalty) && !(missingEosPenalty >= 0)) {
            throw new UserError("missing_eos_penalty must be >= 0, got " + missingEosPenalty);
        }
        reportTo = RunReport.check(reportTo);
    }

    /** A builder that starts from the defaults, writing to {@code outputDir}. */
    public static Builder builder(Path outputDir) {
        return new Builder(DEFAULTS).outputDir(outputDir);
    }

    /** A builder that starts from this configuration. */
    public Builder toBuilder() {
        return new Builder(this);
    }

    /** Completions per step. */
    public int completionsPerStep() {
        return perDeviceTrainBatchSize * numGenerations;
    }

    /** What the run loop needs to know of this configuration. */
    public TrainingRun.Settings runSettings() {
        return new TrainingRun.Settings(outputDir, optimizer, saveSteps, saveTotalLimit, loggingSteps,
                maxConsecutiveNanSkips, reportTo);
    }

    /**
     * The settings that determine the trained weights and metrics, for {@code --resume} to check. Not included: the
     * output directory, logging, sampling output, checkpoint cadence, the NaN guard, and the run's length, which a
     * resumed run may raise to train further.
     */
    public RunFingerprint fingerprint() {
        OptimizerConfig o = optimizer;
        return new RunFingerprint().put("learning_rate", o.learningRate())
                .put("lr_scheduler_type", o.lrSchedulerType()).put("warmup_steps", o.warmupSteps())
                .put("warmup_ratio", o.warmupRatio()).put("weight_decay", o.weightDecay())
                .put("adam_beta1", o.adamBeta1()).put("adam_beta2", o.adamBeta2()).put("adam_epsilon", o.adamEpsilon())
                .put("max_grad_norm", o.maxGradNorm()).put("per_device_train_batch_size", perDeviceTrainBatchSize)
                .put("num_generations", numGenerations)
                .put("local_rollout_forward_batch_size", localRolloutForwardBatchSize)
                .put("max_completion_length", maxCompletionLength).put("temperature", temperature)
                .put("stop_token", stopAtEos ? "eos" : "none").put("missing_eos_penalty", missingEosPenalty)
                .put("advantage", advantage.label()).put("loss_type", lossType.name().toLowerCase(Locale.ROOT))
                .put("beta", beta).put("kl_in", klIn.name().toLowerCase(Locale.ROOT)).put("epsilon", epsilon)
                .put("num_iterations", numIterations).put("seed", seed);
    }

    private static void positive(String name, double v) {
        if (!(v > 0)) {
            throw new UserError(name + " must be positive, got " + v);
        }
    }

    private static void nonNegative(String name, double v) {
        if (!(v >= 0)) {
            throw new UserError(name + " must be >= 0, got " + v);
        }
    }

    /** Builds a {@link GrpoConfig} from the defaults (tests, library users); {@link #build} validates. */
    public static final class Builder extends OptimizerSettings<Builder> {
        private Path outputDir;
        private int maxConsecutiveNanSkips;
        private double numTrainEpochs;
        private int maxSteps;
        private int perDeviceTrainBatchSize;
        private int numGenerations;
        private int localRolloutForwardBatchSize;
        private int maxCompletionLength;
        private float temperature;
        private boolean stopAtEos;
        private double missingEosPenalty;
        private GrpoMath.Advantage advantage;
        private GrpoMath.LossType lossType;
        private double beta;
        private GrpoMath.KlIn klIn;
        private double epsilon;
        private int numIterations;
        private long seed;
        private int saveSteps;
        private int saveTotalLimit;
        private int loggingSteps;
        private int sampleSteps;
        private int numSampleGenerations;
        private String reportTo;

        @Override
        protected Builder self() {
            return this;
        }

        private Builder(GrpoConfig c) {
            super(c.optimizer);
            outputDir = c.outputDir;
            maxConsecutiveNanSkips = c.maxConsecutiveNanSkips;
            numTrainEpochs = c.numTrainEpochs;
            maxSteps = c.maxSteps;
            perDeviceTrainBatchSize = c.perDeviceTrainBatchSize;
            numGenerations = c.numGenerations;
            localRolloutForwardBatchSize = c.localRolloutForwardBatchSize;
            maxCompletionLength = c.maxCompletionLength;
            temperature = c.temperature;
            stopAtEos = c.stopAtEos;
            missingEosPenalty = c.missingEosPenalty;
            advantage = c.advantage;
            lossType = c.lossType;
            beta = c.beta;
            klIn = c.klIn;
            epsilon = c.epsilon;
            numIterations = c.numIterations;
            seed = c.seed;
            saveSteps = c.saveSteps;
            saveTotalLimit = c.saveTotalLimit;
            loggingSteps = c.loggingSteps;
            sampleSteps = c.sampleSteps;
            numSampleGenerations = c.numSampleGenerations;
            reportTo = c.reportTo;
        }

        public Builder outputDir(Path v) {
            outputDir = v;
            return this;
        }

        public Builder maxConsecutiveNanSkips(int v) {
            maxConsecutiveNanSkips = v;
            return this;
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

        public Builder numGenerations(int v) {
            numGenerations = v;
            return this;
        }

        public Builder localRolloutForwardBatchSize(int v) {
            localRolloutForwardBatchSize = v;
            return this;
        }

        public Builder maxCompletionLength(int v) {
            maxCompletionLength = v;
            return this;
        }

        public Builder temperature(float v) {
            temperature = v;
            return this;
        }

        public Builder stopAtEos(boolean v) {
            stopAtEos = v;
            return this;
        }

        public Builder missingEosPenalty(double v) {
            missingEosPenalty = v;
            return this;
        }

        public Builder advantage(GrpoMath.Advantage v) {
            advantage = v;
            return this;
        }

        public Builder lossType(GrpoMath.LossType v) {
            lossType = v;
            return this;
        }

        public Builder beta(double v) {
            beta = v;
            return this;
        }

        public Builder klIn(GrpoMath.KlIn v) {
            klIn = v;
            return this;
        }

        public Builder epsilon(double v) {
            epsilon = v;
            return this;
        }

        public Builder numIterations(int v) {
            numIterations = v;
            return this;
        }

        public Builder seed(long v) {
            seed = v;
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

        public Builder sampleSteps(int v) {
            sampleSteps = v;
            return this;
        }

        public Builder numSampleGenerations(int v) {
            numSampleGenerations = v;
            return this;
        }

        public Builder reportTo(String v) {
            reportTo = v;
            return this;
        }

        public GrpoConfig build() {
            if (outputDir == null) {
                throw new UserError("output_dir is required");
            }
            return new GrpoConfig(outputDir, optimizer, maxConsecutiveNanSkips, numTrainEpochs, maxSteps,
                    perDeviceTrainBatchSize, numGenerations, localRolloutForwardBatchSize, maxCompletionLength,
                    temperature, stopAtEos, missingEosPenalty, advantage, lossType, beta, klIn, epsilon,
                    numIterations, seed, saveSteps, saveTotalLimit, loggingSteps, sampleSteps, numSampleGenerations,
                    reportTo);
        }
    }
}
