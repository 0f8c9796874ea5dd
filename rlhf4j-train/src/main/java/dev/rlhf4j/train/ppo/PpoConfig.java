package dev.rlhf4j.train.ppo;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.OptimizerConfig;
import dev.rlhf4j.train.OptimizerSettings;
import dev.rlhf4j.train.RunFingerprint;
import dev.rlhf4j.train.RunReport;
import dev.rlhf4j.train.TrainingRun;

import java.nio.file.Path;
import java.util.Locale;

/**
 * PPO's hyper-parameters with TRL's names and defaults (reasons given where rlhf4j differs), defaults in
 * {@link #DEFAULTS} and validation in the constructor; tests build one with {@link #builder}. One PPO step samples
 * {@link #batchSize()} = {@code perDeviceTrainBatchSize × gradientAccumulationSteps × numMiniBatches} episodes,
 * then makes {@code numPpoEpochs} passes over them in {@code numMiniBatches} optimizer steps each.
 *
 * @param outputDir where checkpoints, metrics, samples and the final policy (and critic/) go
 * @param optimizer AdamW (one per model, same settings), clipping over policy and critic together, and the schedule;
 *     TRL's learning rate 3e-6
 * @param maxConsecutiveNanSkips abort after this many skipped (NaN/Inf) updates in a row
 * @param numTrainEpochs passes over the prompts (ignored when maxSteps > 0)
 * @param maxSteps PPO steps; -1 to count them from numTrainEpochs
 * @param perDeviceTrainBatchSize episodes per micro-batch
 * @param gradientAccumulationSteps micro-batches per minibatch
 * @param numMiniBatches minibatches (optimizer steps) per PPO epoch
 * @param numPpoEpochs passes over each batch of episodes
 * @param localRolloutForwardBatchSize episodes per generation and scoring batch
 * @param responseLength most new tokens per response
 * @param temperature sampling temperature; TRL's default is 0.7, rlhf4j samples at 1 as InstructGPT and the KL
 *     penalty's derivation assume
 * @param stopAtEos stop at the end-of-sequence token (TRL's {@code stop_token="eos"})
 * @param missingEosPenalty subtracted from the score of responses that never emit EOS; NaN = off
 * @param klCoef β of the per-token KL penalty
 * @param klEstimator k1 or k3
 * @param adaptiveKlTarget target KL of the adaptive controller; 0 = fixed {@code klCoef}
 * @param adaptiveKlHorizon horizon of the adaptive controller, in episodes
 * @param whitenRewards whiten the per-token rewards before GAE
 * @param gamma discount
 * @param lam GAE λ
 * @param cliprange policy ratio clip
 * @param cliprangeValue value clip
 * @param vfCoef weight of the value loss
 * @param targetKl stop this batch's PPO epochs once a minibatch's approximate KL exceeds it; 0 = off
 * @param ptxCoef PPO-ptx: weight of the pretraining loss added to the policy's; 0 = off
 * @param ptxBatchSize pretraining sequences per micro-batch
 * @param seed seed of sampling and shuffling
 * @param saveSteps checkpoint every this many steps (and at the end); 0 = only at the end
 * @param saveTotalLimit checkpoints kept
 * @param loggingSteps progress lines every this many steps when the console is not a terminal
 * @param sampleSteps write sample generations to samples.jsonl every this many steps; 0 = never
 * @param numSampleGenerations samples written each time
 * @param reportTo where each step's metrics go: {@code jsonl} (metrics.jsonl) or {@code none}
 */
public record PpoConfig(Path outputDir, OptimizerConfig optimizer, int maxConsecutiveNanSkips, double numTrainEpochs,
                        int maxSteps, int perDeviceTrainBatchSize, int gradientAccumulationSteps, int numMiniBatches,
                        int numPpoEpochs, int localRolloutForwardBatchSize, int responseLength, float temperature,
                        boolean stopAtEos, double missingEosPenalty, double klCoef, PpoMath.KlEstimator klEstimator,
                        double adaptiveKlTarget, double adaptiveKlHorizon, boolean whitenRewards, double gamma,
                        double lam, double cliprange, double cliprangeValue, double vfCoef, double targetKl,
                        double ptxCoef, int ptxBatchSize, long seed, int saveSteps, int saveTotalLimit,
                        int loggingSteps, int sampleSteps, int numSampleGenerations, String reportTo) {

    /** TRL's defaults, with rlhf4j's where a reason is given; no output directory. */
    public static final PpoConfig DEFAULTS = new PpoConfig(null, OptimizerConfig.DEFAULTS.withLearningRate(3e-6), 5, 1,
            -1, 8, 1, 1, 4, 64, 53, 1f, true, Double.NaN, 0.05, PpoMath.KlEstimator.K1, 0, 10000, false, 1.0, 0.95, 0.2,
            0.2, 0.1, 0, 0, 8, 42, 0, 2, 1, 10, 4, RunReport.JSONL);

    /** Checks every value; the message names the option. The output directory is checked where one is given. */
    public PpoConfig {
        if (optimizer == null) {
            throw new UserError("the optimizer settings are required");
        }
        positive("per_device_train_batch_size", perDeviceTrainBatchSize);
        positive("gradient_accumulation_steps", gradientAccumulationSteps);
        positive("num_mini_batches", numMiniBatches);
        positive("num_ppo_epochs", numPpoEpochs);
        positive("local_rollout_forward_batch_size", localRolloutForwardBatchSize);
        positive("response_length", responseLength);
        positive("save_total_limit", saveTotalLimit);
        positive("max_consecutive_nan_skips", maxConsecutiveNanSkips);
        nonNegative("kl_coef", klCoef);
        nonNegative("adaptive_kl_target", adaptiveKlTarget);
        nonNegative("target_kl", targetKl);
        nonNegative("ptx_coef", ptxCoef);
        nonNegative("vf_coef", vfCoef);
        nonNegative("logging_steps", loggingSteps);
        nonNegative("save_steps", saveSteps);
        nonNegative("sample_steps", sampleSteps);
        nonNegative("num_sample_generations", numSampleGenerations);
        if (!(temperature > 0) || Float.isInfinite(temperature)) {
            throw new UserError("temperature must be a positive number, got " + temperature);
        }
        if (!(cliprange > 0 && cliprange < 1)) {
            throw new UserError("cliprange must be in (0, 1), got " + cliprange);
        }
        if (!(cliprangeValue > 0)) {
            throw new UserError("cliprange_value must be positive, got " + cliprangeValue);
        }
        if (!(gamma >= 0 && gamma <= 1) || !(lam >= 0 && lam <= 1)) {
            throw new UserError("gamma and lam must be in [0, 1], got " + gamma + " and " + lam);
        }
        if (maxSteps == 0 || maxSteps < -1) {
            throw new UserError("max_steps must be positive, or -1 to count from num_train_epochs, got "
                    + maxSteps);
        }
        if (maxSteps == -1 && !(numTrainEpochs > 0)) {
            throw new UserError("num_train_epochs must be positive, got " + numTrainEpochs);
        }
        if (adaptiveKlTarget > 0 && !(adaptiveKlHorizon > 0)) {
            throw new UserError("adaptive_kl_horizon must be positive, got " + adaptiveKlHorizon);
        }
        if (ptxCoef > 0) {
            positive("ptx_batch_size", ptxBatchSize);
        }
        if (!Double.isNaN(missingEosPenalty) && !(missingEosPenalty >= 0)) {
            throw new UserError("missing_eos_penalty must be >= 0, got " + missingEosPenalty);
        }
        if (klEstimator == null) {
            throw new UserError("kl_estimator must be k1 or k3");
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

    /** Episodes per PPO step. */
    public int batchSize() {
        return perDeviceTrainBatchSize * gradientAccumulationSteps * numMiniBatches;
    }

    /** What the run loop needs to know of this configuration. */
    public TrainingRun.Settings runSettings() {
        return new TrainingRun.Settings(outputDir, optimizer, saveSteps, saveTotalLimit, loggingSteps,
                maxConsecutiveNanSkips, reportTo);
    }

    /**
     * The settings that determine the trained weights and metrics, for {@code --resume} to check. Not included: the
     * output directory, logging, sampling output, checkpoint cadence, the NaN guard, and the run's length
     * ({@code max_steps}, {@code num_train_epochs}), which a resumed run may raise to train further.
     */
    public RunFingerprint fingerprint() {
        OptimizerConfig o = optimizer;
        return new RunFingerprint().put("learning_rate", o.learningRate())
                .put("lr_scheduler_type", o.lrSchedulerType()).put("warmup_steps", o.warmupSteps())
                .put("warmup_ratio", o.warmupRatio()).put("weight_decay", o.weightDecay())
                .put("adam_beta1", o.adamBeta1()).put("adam_beta2", o.adamBeta2()).put("adam_epsilon", o.adamEpsilon())
                .put("max_grad_norm", o.maxGradNorm()).put("per_device_train_batch_size", perDeviceTrainBatchSize)
                .put("gradient_accumulation_steps", gradientAccumulationSteps).put("num_mini_batches", numMiniBatches)
                .put("num_ppo_epochs", numPpoEpochs)
                .put("local_rollout_forward_batch_size", localRolloutForwardBatchSize)
                .put("response_length", responseLength).put("temperature", temperature)
                .put("stop_token", stopAtEos ? "eos" : "none").put("missing_eos_penalty", missingEosPenalty)
                .put("kl_coef", klCoef).put("kl_estimator", klEstimator.name().toLowerCase(Locale.ROOT))
                .put("adaptive_kl_target", adaptiveKlTarget).put("adaptive_kl_horizon", adaptiveKlHorizon)
                .put("whiten_rewards", whitenRewards).put("gamma", gamma).put("lam", lam).put("cliprange", cliprange)
                .put("cliprange_value", cliprangeValue).put("vf_coef", vfCoef).put("target_kl", targetKl)
                .put("ptx_coef", ptxCoef).put("ptx_batch_size", ptxBatchSize).put("seed", seed);
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

    /** Builds a {@link PpoConfig} from the defaults (tests, library users); {@link #build} validates. */
    public static final class Builder extends OptimizerSettings<Builder> {
        private Path outputDir;
        private int maxConsecutiveNanSkips;
        private double numTrainEpochs;
        private int maxSteps;
        private int perDeviceTrainBatchSize;
        private int gradientAccumulationSteps;
        private int numMiniBatches;
        private int numPpoEpochs;
        private int localRolloutForwardBatchSize;
        private int responseLength;
        private float temperature;
        private boolean stopAtEos;
        private double missingEosPenalty;
        private double klCoef;
        private PpoMath.KlEstimator klEstimator;
        private double adaptiveKlTarget;
        private double adaptiveKlHorizon;
        private boolean whitenRewards;
        private double gamma;
        private double lam;
        private double cliprange;
        private double cliprangeValue;
        private double vfCoef;
        private double targetKl;
        private double ptxCoef;
        private int ptxBatchSize;
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

        private Builder(PpoConfig c) {
            super(c.optimizer);
            outputDir = c.outputDir;
            maxConsecutiveNanSkips = c.maxConsecutiveNanSkips;
            numTrainEpochs = c.numTrainEpochs;
            maxSteps = c.maxSteps;
            perDeviceTrainBatchSize = c.perDeviceTrainBatchSize;
            gradientAccumulationSteps = c.gradientAccumulationSteps;
            numMiniBatches = c.numMiniBatches;
            numPpoEpochs = c.numPpoEpochs;
            localRolloutForwardBatchSize = c.localRolloutForwardBatchSize;
            responseLength = c.responseLength;
            temperature = c.temperature;
            stopAtEos = c.stopAtEos;
            missingEosPenalty = c.missingEosPenalty;
            klCoef = c.klCoef;
            klEstimator = c.klEstimator;
            adaptiveKlTarget = c.adaptiveKlTarget;
            adaptiveKlHorizon = c.adaptiveKlHorizon;
            whitenRewards = c.whitenRewards;
            gamma = c.gamma;
            lam = c.lam;
            cliprange = c.cliprange;
            cliprangeValue = c.cliprangeValue;
            vfCoef = c.vfCoef;
            targetKl = c.targetKl;
            ptxCoef = c.ptxCoef;
            ptxBatchSize = c.ptxBatchSize;
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

        public Builder gradientAccumulationSteps(int v) {
            gradientAccumulationSteps = v;
            return this;
        }

        public Builder numMiniBatches(int v) {
            numMiniBatches = v;
            return this;
        }

        public Builder numPpoEpochs(int v) {
            numPpoEpochs = v;
            return this;
        }

        public Builder localRolloutForwardBatchSize(int v) {
            localRolloutForwardBatchSize = v;
            return this;
        }

        public Builder responseLength(int v) {
            responseLength = v;
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

        public Builder klCoef(double v) {
            klCoef = v;
            return this;
        }

        public Builder klEstimator(PpoMath.KlEstimator v) {
            klEstimator = v;
            return this;
        }

        public Builder adaptiveKlTarget(double v) {
            adaptiveKlTarget = v;
            return this;
        }

        public Builder adaptiveKlHorizon(double v) {
            adaptiveKlHorizon = v;
            return this;
        }

        public Builder whitenRewards(boolean v) {
            whitenRewards = v;
            return this;
        }

        public Builder gamma(double v) {
            gamma = v;
            return this;
        }

        public Builder lam(double v) {
            lam = v;
            return this;
        }

        public Builder cliprange(double v) {
            cliprange = v;
            return this;
        }

        public Builder cliprangeValue(double v) {
            cliprangeValue = v;
            return this;
        }

        public Builder vfCoef(double v) {
            vfCoef = v;
            return this;
        }

        public Builder targetKl(double v) {
            targetKl = v;
            return this;
        }

        public Builder ptxCoef(double v) {
            ptxCoef = v;
            return this;
        }

        public Builder ptxBatchSize(int v) {
            ptxBatchSize = v;
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

        public PpoConfig build() {
            if (outputDir == null) {
                throw new UserError("output_dir is required");
            }
            return new PpoConfig(outputDir, optimizer, maxConsecutiveNanSkips, numTrainEpochs, maxSteps,
                    perDeviceTrainBatchSize, gradientAccumulationSteps, numMiniBatches, numPpoEpochs,
                    localRolloutForwardBatchSize, responseLength, temperature, stopAtEos, missingEosPenalty, klCoef,
                    klEstimator, adaptiveKlTarget, adaptiveKlHorizon, whitenRewards, gamma, lam, cliprange,
                    cliprangeValue, vfCoef, targetKl, ptxCoef, ptxBatchSize, seed, saveSteps, saveTotalLimit,
                    loggingSteps, sampleSteps, numSampleGenerations, reportTo);
        }
    }
}
