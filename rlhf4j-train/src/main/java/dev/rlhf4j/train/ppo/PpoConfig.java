package dev.rlhf4j.train.ppo;

import dev.rlhf4j.train.RunFingerprint;

import java.nio.file.Path;

/**
 * PPO's hyper-parameters with TRL's names and defaults (reasons given where rlhf4j differs). One PPO step samples
 * {@link #batchSize()} = {@code perDeviceTrainBatchSize × gradientAccumulationSteps × numMiniBatches} episodes,
 * then makes {@code numPpoEpochs} passes over them in {@code numMiniBatches} optimizer steps each.
 */
public final class PpoConfig {
    public Path outputDir;
    // optimisation
    public double learningRate = 3e-6;
    public String lrSchedulerType = "linear";
    public int warmupSteps = 0;
    public double warmupRatio = 0;
    public double weightDecay = 0;
    public double adamBeta1 = 0.9;
    public double adamBeta2 = 0.999;
    public double adamEpsilon = 1e-8;
    public double maxGradNorm = 1.0;
    public int maxConsecutiveNanSkips = 5;
    // how much
    public double numTrainEpochs = 1;
    public int maxSteps = -1;
    public int perDeviceTrainBatchSize = 8;
    public int gradientAccumulationSteps = 1;
    public int numMiniBatches = 1;
    public int numPpoEpochs = 4;
    public int localRolloutForwardBatchSize = 64;
    // rollouts
    public int responseLength = 53;
    /** TRL's default is 0.7; rlhf4j samples at 1, as InstructGPT and the KL penalty's derivation assume. */
    public float temperature = 1f;
    /** Stop at the end-of-sequence token (TRL's {@code stop_token="eos"}). */
    public boolean stopAtEos = true;
    /** Subtracted from the score of responses that never emit EOS; NaN = off. */
    public double missingEosPenalty = Double.NaN;
    // rewards and advantages
    public double klCoef = 0.05;
    public PpoMath.KlEstimator klEstimator = PpoMath.KlEstimator.K1;
    /** Target KL of the adaptive controller; 0 = fixed {@code klCoef}. */
    public double adaptiveKlTarget = 0;
    public double adaptiveKlHorizon = 10000;
    public boolean whitenRewards = false;
    public double gamma = 1.0;
    public double lam = 0.95;
    // losses
    public double cliprange = 0.2;
    public double cliprangeValue = 0.2;
    public double vfCoef = 0.1;
    /** Stop this batch's PPO epochs once a minibatch's approximate KL exceeds it; 0 = off. */
    public double targetKl = 0;
    /** PPO-ptx: weight of the pretraining loss added to the policy's; 0 = off. */
    public double ptxCoef = 0;
    public int ptxBatchSize = 8;
    // bookkeeping
    public long seed = 42;
    public int saveSteps = 0;
    public int saveTotalLimit = 2;
    public int loggingSteps = 1;
    /** Write sample generations to samples.jsonl every N steps; 0 = never. */
    public int sampleSteps = 10;
    public int numSampleGenerations = 4;

    public PpoConfig(Path outputDir) {
        this.outputDir = outputDir;
    }

    /** Episodes per PPO step. */
    public int batchSize() {
        return perDeviceTrainBatchSize * gradientAccumulationSteps * numMiniBatches;
    }

    /**
     * The settings that determine the trained weights and metrics, for {@code --resume} to check. Not included: the
     * output directory, logging, sampling output, checkpoint cadence, the NaN guard, and the run's length
     * ({@code max_steps}, {@code num_train_epochs}), which a resumed run may raise to train further.
     */
    public RunFingerprint fingerprint() {
        return new RunFingerprint().put("learning_rate", learningRate).put("lr_scheduler_type", lrSchedulerType)
                .put("warmup_steps", warmupSteps).put("warmup_ratio", warmupRatio).put("weight_decay", weightDecay)
                .put("adam_beta1", adamBeta1).put("adam_beta2", adamBeta2).put("adam_epsilon", adamEpsilon)
                .put("max_grad_norm", maxGradNorm).put("per_device_train_batch_size", perDeviceTrainBatchSize)
                .put("gradient_accumulation_steps", gradientAccumulationSteps).put("num_mini_batches", numMiniBatches)
                .put("num_ppo_epochs", numPpoEpochs)
                .put("local_rollout_forward_batch_size", localRolloutForwardBatchSize)
                .put("response_length", responseLength).put("temperature", temperature)
                .put("stop_token", stopAtEos ? "eos" : "none").put("missing_eos_penalty", missingEosPenalty)
                .put("kl_coef", klCoef).put("kl_estimator", klEstimator.name().toLowerCase(java.util.Locale.ROOT))
                .put("adaptive_kl_target", adaptiveKlTarget).put("adaptive_kl_horizon", adaptiveKlHorizon)
                .put("whiten_rewards", whitenRewards).put("gamma", gamma).put("lam", lam).put("cliprange", cliprange)
                .put("cliprange_value", cliprangeValue).put("vf_coef", vfCoef).put("target_kl", targetKl)
                .put("ptx_coef", ptxCoef).put("ptx_batch_size", ptxBatchSize).put("seed", seed);
    }

    /** Checks every value; the message names the option. */
    public void validate() {
        positive("per_device_train_batch_size", perDeviceTrainBatchSize);
        positive("gradient_accumulation_steps", gradientAccumulationSteps);
        positive("num_mini_batches", numMiniBatches);
        positive("num_ppo_epochs", numPpoEpochs);
        positive("local_rollout_forward_batch_size", localRolloutForwardBatchSize);
        positive("response_length", responseLength);
        positive("save_total_limit", saveTotalLimit);
        positive("max_consecutive_nan_skips", maxConsecutiveNanSkips);
        nonNegative("learning_rate", learningRate);
        nonNegative("weight_decay", weightDecay);
        nonNegative("max_grad_norm", maxGradNorm);
        nonNegative("kl_coef", klCoef);
        nonNegative("adaptive_kl_target", adaptiveKlTarget);
        nonNegative("target_kl", targetKl);
        nonNegative("ptx_coef", ptxCoef);
        nonNegative("vf_coef", vfCoef);
        nonNegative("warmup_steps", warmupSteps);
        nonNegative("logging_steps", loggingSteps);
        if (!(adamBeta1 >= 0 && adamBeta1 < 1) || !(adamBeta2 >= 0 && adamBeta2 < 1)) {
            throw new IllegalArgumentException("adam_beta1 and adam_beta2 must be in [0, 1), got " + adamBeta1 + ", "
                    + adamBeta2);
        }
        positive("adam_epsilon", adamEpsilon);
        if (!java.util.List.of("linear", "cosine", "constant").contains(lrSchedulerType)) {
            throw new IllegalArgumentException("lr_scheduler_type must be linear, cosine or constant, got '"
                    + lrSchedulerType + "'");
        }
        nonNegative("save_steps", saveSteps);
        nonNegative("sample_steps", sampleSteps);
        nonNegative("num_sample_generations", numSampleGenerations);
        if (!(temperature > 0) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a positive number, got " + temperature);
        }
        if (!(cliprange > 0 && cliprange < 1)) {
            throw new IllegalArgumentException("cliprange must be in (0, 1), got " + cliprange);
        }
        if (!(cliprangeValue > 0)) {
            throw new IllegalArgumentException("cliprange_value must be positive, got " + cliprangeValue);
        }
        if (!(gamma >= 0 && gamma <= 1) || !(lam >= 0 && lam <= 1)) {
            throw new IllegalArgumentException("gamma and lam must be in [0, 1], got " + gamma + " and " + lam);
        }
        if (!(warmupRatio >= 0 && warmupRatio < 1)) {
            throw new IllegalArgumentException("warmup_ratio must be in [0, 1), got " + warmupRatio);
        }
        if (maxSteps == 0 || maxSteps < -1) {
            throw new IllegalArgumentException("max_steps must be positive, or -1 to count from num_train_epochs, got "
                    + maxSteps);
        }
        if (maxSteps == -1 && !(numTrainEpochs > 0)) {
            throw new IllegalArgumentException("num_train_epochs must be positive, got " + numTrainEpochs);
        }
        if (adaptiveKlTarget > 0 && !(adaptiveKlHorizon > 0)) {
            throw new IllegalArgumentException("adaptive_kl_horizon must be positive, got " + adaptiveKlHorizon);
        }
        if (ptxCoef > 0) {
            positive("ptx_batch_size", ptxBatchSize);
        }
        if (!Double.isNaN(missingEosPenalty) && !(missingEosPenalty >= 0)) {
            throw new IllegalArgumentException("missing_eos_penalty must be >= 0, got " + missingEosPenalty);
        }
    }

    private static void positive(String name, double v) {
        if (!(v > 0)) {
            throw new IllegalArgumentException(name + " must be positive, got " + v);
        }
    }

    private static void nonNegative(String name, double v) {
        if (!(v >= 0)) {
            throw new IllegalArgumentException(name + " must be >= 0, got " + v);
        }
    }
}
