package dev.rlhf4j.train.online;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.OptimizerConfig;
import dev.rlhf4j.train.OptimizerSettings;
import dev.rlhf4j.train.RunFingerprint;
import dev.rlhf4j.train.RunReport;
import dev.rlhf4j.train.TrainingRun;
import dev.rlhf4j.train.dpo.DpoLossType;

import java.nio.file.Path;
import java.util.Locale;

/**
 * Online DPO's hyper-parameters with TRL's {@code OnlineDPOConfig} names (defaults in {@link #DEFAULTS}, reasons
 * given where rlhf4j differs; validation in the constructor). One step samples two responses for each of
 * {@code perDeviceTrainBatchSize} prompts from the current policy, has them judged, and makes one DPO update on the
 * pairs that are not ties (Guo et al. 2024, "Direct language model alignment from online AI feedback").
 *
 * @param outputDir where checkpoints, metrics, samples and the final policy go
 * @param optimizer AdamW, gradient clipping and the schedule; TRL's learning rate 5e-7
 * @param maxConsecutiveNanSkips abort after this many skipped (NaN/Inf) updates in a row
 * @param numTrainEpochs passes over the prompts (ignored when maxSteps > 0)
 * @param maxSteps steps; -1 to count them from numTrainEpochs
 * @param perDeviceTrainBatchSize prompts per step (each sampled twice); TRL's 8, rlhf4j's 32 so that a step sees as
 *     many episodes (64) as a PPO step of the lab's runs
 * @param localRolloutForwardBatchSize sequences per generation and forward batch (memory only: the update is the
 *     same, up to rounding)
 * @param maxNewTokens most new tokens per response; TRL's 64, rlhf4j's 48 like the lab's PPO runs
 * @param temperature sampling temperature; TRL's 0.9, rlhf4j samples at 1 as its PPO does, so that the methods are
 *     compared on the same sampler
 * @param missingEosPenalty subtracted from the score of responses that never emit EOS before judging; NaN = off
 * @param beta β of the DPO loss (the strength of the implicit KL to the reference)
 * @param lossType sigmoid or ipo (TRL's OnlineDPOTrainer offers these two)
 * @param seed seed of sampling, prompt order and the simulated annotators
 * @param saveSteps checkpoint every this many steps (and at the end); 0 = only at the end
 * @param saveTotalLimit checkpoints kept
 * @param loggingSteps progress lines every this many steps when the console is not a terminal
 * @param sampleSteps write sample pairs to samples.jsonl every this many steps; 0 = never
 * @param numSampleGenerations pairs written each time
 * @param reportTo where each step's metrics go: {@code jsonl} (metrics.jsonl) or {@code none}
 */
public record OnlineDpoConfig(Path outputDir, OptimizerConfig optimizer, int maxConsecutiveNanSkips,
                              double numTrainEpochs, int maxSteps, int perDeviceTrainBatchSize,
                              int localRolloutForwardBatchSize, int maxNewTokens, float temperature,
                              double missingEosPenalty, double beta, DpoLossType lossType, long seed, int saveSteps,
                              int saveTotalLimit, int loggingSteps, int sampleSteps, int numSampleGenerations,
                              String reportTo) {

    /** TRL's defaults, with rlhf4j's where a reason is given; no output directory. */
    public static final OnlineDpoConfig DEFAULTS = new OnlineDpoConfig(null,
            OptimizerConfig.DEFAULTS.withLearningRate(5e-7), 5, 1, -1, 32, 64, 48, 1f, Double.NaN, 0.1,
            DpoLossType.SIGMOID, 42, 0, 2, 10, 10, 4, RunReport.JSONL);

    /** Checks every value; the message names the option. */
    public OnlineDpoConfig {
        if (optimizer == null) {
            throw new UserError("the optimizer settings are required");
        }
        positive("per_device_train_batch_size", perDeviceTrainBatchSize);
        positive("local_rollout_forward_batch_size", localRolloutForwardBatchSize);
        positive("max_new_tokens", maxNewTokens);
        positive("save_total_limit", saveTotalLimit);
        positive("max_consecutive_nan_skips", maxConsecutiveNanSkips);
        nonNegative("logging_steps", loggingSteps);
        nonNegative("save_steps", saveSteps);
        nonNegative("sample_steps", sampleSteps);
        nonNegative("num_sample_generations", numSampleGenerations);
        if (!(temperature > 0) || Float.isInfinite(temperature)) {
            throw new UserError("temperature must be a positive number, got " + temperature);
        }
        if (!(beta > 0) || Double.isInfinite(beta)) {
            throw new UserError("beta must be a positive number, got " + beta);
        }
        if (lossType != DpoLossType.SIGMOID && lossType != DpoLossType.IPO) {
            throw new UserError("loss_type must be sigmoid or ipo for online DPO, got "
                    + (lossType == null ? "none" : lossType.cliName()));
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

    /** What the run loop needs to know of this configuration. */
    public TrainingRun.Settings runSettings() {
        return new TrainingRun.Settings(outputDir, optimizer, saveSteps, saveTotalLimit, loggingSteps,
                maxConsecutiveNanSkips, reportTo);
    }

    /**
     * The settings that determine the trained weights and metrics, for {@code --resume} to check; not the output
     * directory, logging, samples, checkpoint cadence, the NaN guard or the run's length.
     */
    public RunFingerprint fingerprint() {
        OptimizerConfig o = optimizer;
        return new RunFingerprint().put("learning_rate", o.learningRate())
                .put("lr_scheduler_type", o.lrSchedulerType()).put("warmup_steps", o.warmupSteps())
                .put("warmup_ratio", o.warmupRatio()).put("weight_decay", o.weightDecay())
                .put("adam_beta1", o.adamBeta1()).put("adam_beta2", o.adamBeta2()).put("adam_epsilon", o.adamEpsilon())
                .put("max_grad_norm", o.maxGradNorm()).put("per_device_train_batch_size", perDeviceTrainBatchSize)
                .put("local_rollout_forward_batch_size", localRolloutForwardBatchSize)
                .put("max_new_tokens", maxNewTokens).put("temperature", temperature)
                .put("missing_eos_penalty", missingEosPenalty).put("beta", beta)
                .put("loss_type", lossType.name().toLowerCase(Locale.ROOT)).put("seed", seed);
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

    /** Builds an {@link OnlineDpoConfig} from the defaults (tests, library users); {@link #build} validates. */
    public static final class Builder extends OptimizerSettings<Builder> {
        private Path outputDir;
        private int maxConsecutiveNanSkips;
        private double numTrainEpochs;
        private int maxSteps;
        private int perDeviceTrainBatchSize;
        private int localRolloutForwardBatchSize;
        private int maxNewTokens;
        private float temperature;
        private double missingEosPenalty;
        private double beta;
        private DpoLossType lossType;
        private long seed;
        private int saveSteps;
        private int saveTotalLimit;
        private int loggingSteps;
        private int sampleSteps;
        private int numSampleGenerations;
        private String reportTo;

        private Builder(OnlineDpoConfig c) {
            super(c.optimizer);
            outputDir = c.outputDir;
            maxConsecutiveNanSkips = c.maxConsecutiveNanSkips;
            numTrainEpochs = c.numTrainEpochs;
            maxSteps = c.maxSteps;
            perDeviceTrainBatchSize = c.perDeviceTrainBatchSize;
            localRolloutForwardBatchSize = c.localRolloutForwardBatchSize;
            maxNewTokens = c.maxNewTokens;
            temperature = c.temperature;
            missingEosPenalty = c.missingEosPenalty;
            beta = c.beta;
            lossType = c.lossType;
            seed = c.seed;
            saveSteps = c.saveSteps;
            saveTotalLimit = c.saveTotalLimit;
            loggingSteps = c.loggingSteps;
            sampleSteps = c.sampleSteps;
            numSampleGenerations = c.numSampleGenerations;
            reportTo = c.reportTo;
        }

        @Override
        protected Builder self() {
            return this;
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

        public Builder localRolloutForwardBatchSize(int v) {
            localRolloutForwardBatchSize = v;
            return this;
        }

        public Builder maxNewTokens(int v) {
            maxNewTokens = v;
            return this;
        }

        public Builder temperature(float v) {
            temperature = v;
            return this;
        }

        public Builder missingEosPenalty(double v) {
            missingEosPenalty = v;
            return this;
        }

        public Builder beta(double v) {
            beta = v;
            return this;
        }

        public Builder lossType(DpoLossType v) {
            lossType = v;
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

        public OnlineDpoConfig build() {
            return new OnlineDpoConfig(outputDir, optimizer, maxConsecutiveNanSkips, numTrainEpochs, maxSteps,
                    perDeviceTrainBatchSize, localRolloutForwardBatchSize, maxNewTokens, temperature,
                    missingEosPenalty, beta, lossType, seed, saveSteps, saveTotalLimit, loggingSteps, sampleSteps,
                    numSampleGenerations, reportTo);
        }
    }
}
