package dev.rlhf4j.cli;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.model.LoraConfig;
import dev.rlhf4j.model.WeightDtype;
import dev.rlhf4j.train.online.RewardSource;
import dev.rlhf4j.train.ppo.PpoConfig;
import dev.rlhf4j.train.ppo.PpoCritic;
import dev.rlhf4j.train.ppo.PpoMath;
import dev.rlhf4j.train.run.PpoRun;
import dev.rlhf4j.train.ppo.PpoTrainer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code rlhf4j ppo}: RLHF of a policy against a reward model with PPO. */
@Command(name = "ppo", mixinStandardHelpOptions = true, sortOptions = false,
        defaultValueProvider = RecordDefaults.Ppo.class,
        description = {"Optimise a policy (an SFT model) against a reward model with PPO, with a per-token KL penalty "
                + "to the frozen starting policy, as InstructGPT and TRL's PPOTrainer do. The critic starts from the "
                + "value model (default: the reward model). Hyper-parameters have TRL's names and defaults; each "
                + "can also be given in --config FILE.yaml under its snake_case name.",
                "Writes metrics.jsonl (TRL's metric names), samples.jsonl, checkpoints, train_results.json, the "
                        + "final policy (HF directory) in --out and the critic in --out/critic."})
public class PpoCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE.yaml",
            description = "YAML file with any of these options under their snake_case names (flags override it).")
    Path config;
    @Option(names = "--policy", required = true, paramLabel = "PATH", description = "The policy to start from (the "
            + "SFT model).")
    Path policyPath;
    @Option(names = "--ref-model", paramLabel = "PATH", description = "The frozen reference of the KL penalty "
            + "(default: the policy as it starts; rlhf4j loop gives the SFT model to later rounds).")
    Path refModel;
    @Option(names = "--reward-model", paramLabel = "PATH", description = "Reward model (*ForSequenceClassification "
            + "directory).")
    Path rewardModel;
    @Option(names = "--reward", paramLabel = "NAME",
            description = "A built-in reward instead of a model: 'lab' (the lab world's gold reward, world seed 0) or "
                    + "'lab:SEED'.")
    String reward;
    @Option(names = "--value-model", paramLabel = "PATH",
            description = "Model the critic starts from (default: the reward model; with --reward, the policy with a "
                    + "new scalar head).")
    Path valueModel;
    @Option(names = "--prompts", required = true, paramLabel = "FILE.jsonl",
            description = "Prompts: {\"prompt\": text}, {\"prompt\": [messages]} or {\"messages\": [...]} per line.")
    Path promptsFile;
    @Option(names = {"--out", "--output-dir"}, required = true, paramLabel = "DIR", description = "Output directory.")
    Path out;
    @CommandLine.Mixin
    ResumeOptions output = new ResumeOptions();
    @Option(names = "--ptx-data", paramLabel = "FILE", description = "Pretraining text for PPO-ptx (with --ptx-coef).")
    Path ptxData;

    @CommandLine.Mixin
    AdamWOptions adamW = new AdamWOptions();
    @Option(names = "--learning-rate", description = "Learning rate of policy and critic (default: ${DEFAULT-VALUE}).")
    double learningRate;
    @Option(names = "--lr-scheduler-type", converter = Choice.LrScheduler.class,
            completionCandidates = Choice.LrScheduler.class, description = "linear, cosine or constant (default: "
                    + "${DEFAULT-VALUE}).")
    String lrSchedulerType;
    @Option(names = "--warmup-steps", description = "Warm-up PPO steps (default: ${DEFAULT-VALUE}).")
    int warmupSteps;
    @Option(names = "--warmup-ratio", description = "Warm-up as a fraction of the steps (default: ${DEFAULT-VALUE}).")
    double warmupRatio;
    @Option(names = "--num-train-epochs", description = "Passes over the prompts (default: ${DEFAULT-VALUE}).")
    double numTrainEpochs;
    @Option(names = "--max-steps", description = "PPO steps; -1 = from the epochs (default: ${DEFAULT-VALUE}).")
    int maxSteps;
    @Option(names = "--per-device-train-batch-size", description = "Episodes per micro-batch (default: "
            + "${DEFAULT-VALUE}).")
    int perDeviceTrainBatchSize;
    @Option(names = "--gradient-accumulation-steps", description = "Micro-batches per minibatch (default: "
            + "${DEFAULT-VALUE}).")
    int gradientAccumulationSteps;
    @Option(names = "--num-mini-batches", description = "Minibatches per PPO epoch; episodes per step = batch size × "
            + "accumulation × this (default: ${DEFAULT-VALUE}).")
    int numMiniBatches;
    @Option(names = "--num-ppo-epochs", description = "Passes over each batch of episodes (default: ${DEFAULT-VALUE}).")
    int numPpoEpochs;
    @Option(names = "--local-rollout-forward-batch-size", description = "Episodes per generation and scoring batch "
            + "(default: ${DEFAULT-VALUE}).")
    int localRolloutForwardBatchSize;
    @Option(names = "--response-length", description = "Most new tokens per response (default: ${DEFAULT-VALUE}).")
    int responseLength;
    @Option(names = "--temperature", description = "Sampling temperature (default: ${DEFAULT-VALUE}).")
    float temperature;
    @Option(names = "--stop-token", converter = Choice.StopToken.class,
            completionCandidates = Choice.StopToken.class, description = "eos (stop at the EOS token) or none "
                    + "(default: ${DEFAULT-VALUE}).")
    String stopToken;
    @Option(names = "--missing-eos-penalty", description = "Subtracted from the score of responses without EOS "
            + "(default: none).")
    Double missingEosPenalty;
    @Option(names = "--kl-coef", description = "β of the per-token KL penalty (default: ${DEFAULT-VALUE}).")
    double klCoef;
    @Option(names = "--kl-estimator", converter = Choice.KlEstimator.class,
            completionCandidates = Choice.KlEstimator.class, description = "k1 or k3 (default: ${DEFAULT-VALUE}).")
    String klEstimator;
    @Option(names = "--adaptive-kl-target", description = "Target KL of the adaptive controller; 0 = fixed β "
            + "(default: ${DEFAULT-VALUE}).")
    double adaptiveKlTarget;
    @Option(names = "--adaptive-kl-horizon", description = "Horizon of the adaptive controller in episodes (default: "
            + "${DEFAULT-VALUE}).")
    double adaptiveKlHorizon;
    @Option(names = "--whiten-rewards", description = "Whiten the per-token rewards before GAE.")
    boolean whitenRewards;
    @Option(names = "--gamma", description = "Discount (default: ${DEFAULT-VALUE}).")
    double gamma;
    @Option(names = "--lam", description = "GAE lambda (default: ${DEFAULT-VALUE}).")
    double lam;
    @Option(names = "--cliprange", description = "Policy ratio clip (default: ${DEFAULT-VALUE}).")
    double cliprange;
    @Option(names = "--cliprange-value", description = "Value clip (default: ${DEFAULT-VALUE}).")
    double cliprangeValue;
    @Option(names = "--vf-coef", description = "Weight of the value loss (default: ${DEFAULT-VALUE}).")
    double vfCoef;
    @Option(names = "--target-kl", description = "Stop a batch's PPO epochs when approx KL exceeds it; 0 = off "
            + "(default: ${DEFAULT-VALUE}).")
    double targetKl;
    @Option(names = "--ptx-coef", description = "PPO-ptx weight of the pretraining loss; 0 = off (default: "
            + "${DEFAULT-VALUE}).")
    double ptxCoef;
    @Option(names = "--ptx-batch-size", description = "Pretraining sequences per micro-batch (default: "
            + "${DEFAULT-VALUE}).")
    int ptxBatchSize;
    @Option(names = "--normalize-reward", description = "Normalise scores with the mean and std stored with the "
            + "reward model.")
    boolean normalizeReward;
    @Option(names = "--reward-clip", defaultValue = "0", description = "Clip scores to [-c, c]; 0 = off (default: "
            + "${DEFAULT-VALUE}).")
    double rewardClip;
    @Option(names = "--seed", description = "Seed of sampling and shuffling (default: ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--save-steps", description = "Checkpoint every N steps; 0 = at the end (default: "
            + "${DEFAULT-VALUE}).")
    int saveSteps;
    @Option(names = "--save-total-limit", description = "Checkpoints kept (default: ${DEFAULT-VALUE}).")
    int saveTotalLimit;
    @Option(names = "--logging-steps", description = "Progress lines every N steps when not on a terminal (default: "
            + "${DEFAULT-VALUE}).")
    int loggingSteps;
    @Option(names = "--sample-steps", description = "Write sample generations every N steps; 0 = never (default: "
            + "${DEFAULT-VALUE}).")
    int sampleSteps;
    @Option(names = "--num-sample-generations", description = "Samples written each time (default: ${DEFAULT-VALUE}).")
    int numSampleGenerations;
    @Option(names = "--max-consecutive-nan-skips", description = "Abort after this many skipped updates in a row "
            + "(default: ${DEFAULT-VALUE}).")
    int nanSkips;
    @Option(names = "--save-dtype", defaultValue = "f32", converter = Choice.SaveDtype.class,
            completionCandidates = Choice.SaveDtype.class, description = "f32 or bf16 (default: ${DEFAULT-VALUE}).")
    String saveDtype;
    @CommandLine.Mixin
    LoraOptions lora = new LoraOptions();
    @CommandLine.Mixin
    CheckpointingOption checkpointing = new CheckpointingOption();
    @Option(names = "--critic", defaultValue = "separate", paramLabel = "KIND",
            description = "The critic: separate (its own model, from --value-model or the reward model; under LoRA "
                    + "their frozen weights with its own adapter), shared (LoRA only: the policy's frozen base with "
                    + "its own adapter and head), or value-head (a head on the policy's trunk, one forward and "
                    + "backward for both) (default: ${DEFAULT-VALUE}).")
    String critic;
    @Option(names = "--frozen-dtype", defaultValue = "fp32", paramLabel = "DTYPE",
            description = "How the frozen weights are held: the reference, the reward model and, under LoRA, the base "
                    + "(and the critic's base): fp32 or bf16 (half the bytes; computation stays fp32) (default: "
                    + "${DEFAULT-VALUE}).")
    String frozenDtype;
    @CommandLine.Mixin
    ReportToOption reportTo = new ReportToOption();
    @CommandLine.Mixin
    ThreadsOption threads = new ThreadsOption();

    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        // every option is checked before a model is read or the output directory is touched
        threads.apply();
        if ((rewardModel == null) == (reward == null)) {
            throw Checks.usage(spec, "give exactly one of --reward-model PATH and --reward lab");
        }
        long worldSeed = reward == null ? 0 : labSeed(reward);
        if (ptxCoef > 0 && ptxData == null) {
            throw Checks.usage(spec, "--ptx-coef needs --ptx-data FILE");
        }
        if (normalizeReward && rewardModel == null) {
            throw Checks.usage(spec, "--normalize-reward needs --reward-model (the built-in rewards have no "
                    + "statistics)");
        }
        Checks.inputPath("--policy", policyPath);
        Checks.inputPath("--ref-model", refModel);
        Checks.inputPath("--reward-model", rewardModel);
        Checks.inputPath("--value-model", valueModel);
        Checks.inputFile("--prompts", promptsFile);
        Checks.inputFile("--ptx-data", ptxData);
        Checks.outputDirectory("--out", out);
        Checks.nonNegative("--reward-clip", rewardClip);
        PpoConfig cfg = config();
        LoraConfig loraConfig = lora.configWithoutDropout("ppo");
        PpoCritic criticMode = PpoCritic.parse(critic);
        WeightDtype frozen = GenerateCommand.weightDtype("--frozen-dtype", frozenDtype);
        if (frozen == WeightDtype.Q8_0) {
            throw new UserError("--frozen-dtype must be fp32 or bf16 (Q8_0 is for generation from GGUF files)");
        }
        if (criticMode == PpoCritic.SHARED && loraConfig == null) {
            throw Checks.usage(spec, "--critic shared shares the policy's frozen base: it needs --lora-r");
        }
        if (criticMode != PpoCritic.SEPARATE && valueModel != null) {
            throw Checks.usage(spec, "--value-model is the separate critic's start; --critic " + criticMode.cliName()
                    + " builds the critic on the policy");
        }
        Safetensors.DType dtype = Choice.SaveDtype.dtype(saveDtype);
        Map<String, Path> inputs = new LinkedHashMap<>();
        inputs.put("--policy", policyPath);
        inputs.put("--ref-model", refModel);
        inputs.put("--reward-model", rewardModel);
        inputs.put("--value-model", valueModel);
        inputs.put("--prompts", promptsFile);
        inputs.put("--ptx-data", ptxData);
        RunDirectory.refuseInputs(out, PpoTrainer.KIND, inputs, false);
        try (RunDirectory run = output.open(out, PpoTrainer.KIND)) {
            run.verify(lora.addTo(cfg.fingerprint()).file("policy", policyPath).file("ref_model", refModel)
                    .file("reward_model", rewardModel)
                    .put("reward", reward).file("value_model", valueModel).file("prompts", promptsFile)
                    .file("ptx_data", ptxData).put("normalize_reward", normalizeReward).put("reward_clip", rewardClip)
                    .put("critic", criticMode.cliName()).put("frozen_dtype", frozen.label()), output.allowChanges);
            train(cfg, dtype, worldSeed, loraConfig, criticMode, frozen, run, err);
        }
        return 0;
    }

    private void train(PpoConfig cfg, Safetensors.DType dtype, long worldSeed, LoraConfig loraConfig,
                       PpoCritic criticMode, WeightDtype frozen, RunDirectory run, PrintWriter err)
            throws IOException {
        PpoRun.Inputs in = new PpoRun.Inputs(policyPath, refModel, rewardModel, reward == null ? null : worldSeed,
                valueModel, promptsFile, ptxData, normalizeReward, rewardClip, dtype).with(loraConfig, criticMode)
                .withFrozenDtype(frozen);
        PpoRun ppo = PpoRun.fromPaths(cfg, in, err);
        err.printf("policy %,d trained parameters, critic %s; %d prompts; %d episodes per step%n",
                ppo.policy().trainableCount(), ppo.critic() == ppo.policy() ? "a value head on the policy"
                        : String.format("%,d trained parameters", ppo.critic().trainableCount()),
                ppo.prompts().size(), cfg.batchSize());
        checkpointing.apply(ppo.policy(), ppo.critic());
        try (Rollouts rollouts = rollouts(cfg, in, ppo, err)) {
            ppo.trainer().train(run);
            rollouts.finished(err);
        }
    }

    /** Where a run's rollouts are computed, and what is released when the run ends. */
    interface Rollouts extends AutoCloseable {
        /** Called after the last step: a summary line, if any. */
        default void finished(PrintWriter err) {
        }

        @Override
        void close();
    }

    /** Where the rollouts run: in this process; {@code spark ppo} runs them on a Spark cluster. */
    Rollouts rollouts(PpoConfig cfg, PpoRun.Inputs in, PpoRun ppo, PrintWriter err) {
        return () -> { };
    }

    static long labSeed(String name) {
        return RewardSource.labSeed(name);
    }

    /** The options as a validated {@link PpoConfig}. */
    PpoConfig config() {
        boolean stopAtEos = switch (stopToken.toLowerCase(Locale.ROOT)) {
            case "eos" -> true;
            case "none" -> false;
            default -> throw new UserError("--stop-token must be eos or none, got '" + stopToken + "'");
        };
        return PpoConfig.builder(out)
                .optimizer(adamW.optimizer(learningRate, lrSchedulerType, warmupSteps, warmupRatio))
                .numTrainEpochs(numTrainEpochs).maxSteps(maxSteps).perDeviceTrainBatchSize(perDeviceTrainBatchSize)
                .gradientAccumulationSteps(gradientAccumulationSteps).numMiniBatches(numMiniBatches)
                .numPpoEpochs(numPpoEpochs).localRolloutForwardBatchSize(localRolloutForwardBatchSize)
                .responseLength(responseLength).temperature(temperature).stopAtEos(stopAtEos)
                .missingEosPenalty(missingEosPenalty == null ? Double.NaN : missingEosPenalty).klCoef(klCoef)
                .klEstimator(PpoMath.KlEstimator.parse(klEstimator)).adaptiveKlTarget(adaptiveKlTarget)
                .adaptiveKlHorizon(adaptiveKlHorizon).whitenRewards(whitenRewards).gamma(gamma).lam(lam)
                .cliprange(cliprange).cliprangeValue(cliprangeValue).vfCoef(vfCoef).targetKl(targetKl)
                .ptxCoef(ptxCoef).ptxBatchSize(ptxBatchSize).seed(seed).saveSteps(saveSteps)
                .saveTotalLimit(saveTotalLimit).loggingSteps(loggingSteps).sampleSteps(sampleSteps)
                .numSampleGenerations(numSampleGenerations).maxConsecutiveNanSkips(nanSkips).reportTo(reportTo.value)
                .build();
    }
}
