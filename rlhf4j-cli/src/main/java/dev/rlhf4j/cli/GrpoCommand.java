package dev.rlhf4j.cli;

import dev.rlhf4j.model.LoraConfig;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.grpo.GrpoConfig;
import dev.rlhf4j.train.grpo.GrpoMath;
import dev.rlhf4j.train.grpo.GrpoTrainer;
import dev.rlhf4j.train.grpo.RuleReward;
import dev.rlhf4j.train.run.GrpoRun;
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

/** {@code rlhf4j grpo}: critic-free RL with groups of samples (GRPO, RLOO, REINFORCE++). */
@Command(name = "grpo", mixinStandardHelpOptions = true, sortOptions = false,
        defaultValueProvider = RecordDefaults.Grpo.class,
        description = {"Optimise a policy (an SFT model) without a critic: sample --num-generations completions per "
                + "prompt, score them (a reward model, the lab's gold reward or a rule), and take the group's other "
                + "samples as the baseline. --advantage grpo: (r − group mean)/(group std + 1e-4), KL as a k3 term of "
                + "the loss (TRL's GRPOTrainer); rloo: r minus the mean of the other G−1, KL in the reward (TRL's "
                + "RLOO); reinforce++: per-token −β·KL with the score at the end, returns whitened over the batch "
                + "(OpenRLHF). Clipped surrogate with --epsilon. Hyper-parameters have TRL's names; each can also be "
                + "given in --config FILE.yaml under its snake_case name.",
                "Writes metrics.jsonl (TRL's GRPO metric names), samples.jsonl, checkpoints, train_results.json and "
                        + "the final policy (HF directory) in --out."})
public final class GrpoCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE.yaml",
            description = "YAML file with any of these options under their snake_case names (flags override it).")
    Path config;
    @Option(names = "--policy", required = true, paramLabel = "PATH", description = "The policy to start from (the "
            + "SFT model).")
    Path policyPath;
    @Option(names = "--ref-model", paramLabel = "PATH", description = "The frozen reference of the KL (default: the "
            + "policy as it starts).")
    Path refModel;
    @Option(names = "--reward-model", paramLabel = "PATH", description = "Reward model (*ForSequenceClassification "
            + "directory).")
    Path rewardModel;
    @Option(names = "--reward", paramLabel = "NAME",
            description = "A reward instead of a model: 'lab' (the lab world's gold reward, world seed 0), "
                    + "'lab:SEED', 'regex:PATTERN' (1 if the completion contains a match, else 0) or 'length:N' "
                    + "(−|words − N|/N).")
    String reward;
    @Option(names = "--normalize-reward", description = "Normalise scores with the mean and std stored with the "
            + "reward model.")
    boolean normalizeReward;
    @Option(names = "--prompts", required = true, paramLabel = "FILE.jsonl",
            description = "Prompts: {\"prompt\": text}, {\"prompt\": [messages]} or {\"messages\": [...]} per line.")
    Path promptsFile;
    @Option(names = {"--out", "--output-dir"}, required = true, paramLabel = "DIR", description = "Output directory.")
    Path out;
    @CommandLine.Mixin
    ResumeOptions output = new ResumeOptions();

    @Option(names = "--advantage", converter = Choice.Advantage.class, completionCandidates = Choice.Advantage.class,
            description = "grpo, rloo or reinforce++ (default: ${DEFAULT-VALUE}).")
    String advantage;
    @Option(names = "--num-generations", description = "Completions per prompt, the group G (default: "
            + "${DEFAULT-VALUE}).")
    int numGenerations;
    @Option(names = "--per-device-train-batch-size", description = "Prompts per step; completions per step = this × "
            + "--num-generations (default: ${DEFAULT-VALUE}).")
    int perDeviceTrainBatchSize;
    @Option(names = "--beta", description = "KL coefficient; 0 = no KL and no reference (default: ${DEFAULT-VALUE}).")
    double beta;
    @Option(names = "--kl-in", converter = Choice.KlIn.class, completionCandidates = Choice.KlIn.class,
            description = "loss (k3 term, as GRPO) or reward (k1 subtracted from the reward, as RLOO and "
                    + "REINFORCE++) (default: loss for grpo, reward for rloo and reinforce++).")
    String klIn;
    @Option(names = "--epsilon", description = "Clip range of the ratio (default: ${DEFAULT-VALUE}).")
    double epsilon;
    @Option(names = "--num-iterations", description = "Updates per batch of completions (default: ${DEFAULT-VALUE}).")
    int numIterations;
    @Option(names = "--loss-type", converter = Choice.GrpoLossType.class,
            completionCandidates = Choice.GrpoLossType.class, description = "grpo (per-sequence mean, then mean), bnpo "
                    + "(token mean) or dr_grpo (sum / (sequences × max length)) (default: ${DEFAULT-VALUE}).")
    String lossType;
    @Option(names = "--max-completion-length", description = "Most new tokens per completion (default: "
            + "${DEFAULT-VALUE}).")
    int maxCompletionLength;
    @Option(names = "--temperature", description = "Sampling temperature (default: ${DEFAULT-VALUE}).")
    float temperature;
    @Option(names = "--stop-token", converter = Choice.StopToken.class,
            completionCandidates = Choice.StopToken.class, description = "eos (stop at the EOS token) or none "
                    + "(default: ${DEFAULT-VALUE}).")
    String stopToken;
    @Option(names = "--missing-eos-penalty", description = "Subtracted from the reward of completions without EOS "
            + "(default: none).")
    Double missingEosPenalty;
    @Option(names = "--local-rollout-forward-batch-size", description = "Completions per generation, scoring and "
            + "forward/backward batch (default: ${DEFAULT-VALUE}).")
    int localRolloutForwardBatchSize;

    @CommandLine.Mixin
    AdamWOptions adamW = new AdamWOptions();
    @Option(names = "--learning-rate", description = "Learning rate (default: ${DEFAULT-VALUE}).")
    double learningRate;
    @Option(names = "--lr-scheduler-type", converter = Choice.LrScheduler.class,
            completionCandidates = Choice.LrScheduler.class, description = "linear, cosine or constant (default: "
                    + "${DEFAULT-VALUE}).")
    String lrSchedulerType;
    @Option(names = "--warmup-steps", description = "Warm-up steps (default: ${DEFAULT-VALUE}).")
    int warmupSteps;
    @Option(names = "--warmup-ratio", description = "Warm-up as a fraction of the steps (default: ${DEFAULT-VALUE}).")
    double warmupRatio;
    @Option(names = "--num-train-epochs", description = "Passes over the prompts (default: ${DEFAULT-VALUE}).")
    double numTrainEpochs;
    @Option(names = "--max-steps", description = "Steps; -1 = from the epochs (default: ${DEFAULT-VALUE}).")
    int maxSteps;
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
    @Option(names = "--sample-steps", description = "Write sample completions every N steps; 0 = never (default: "
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
            throw Checks.usage(spec, "give exactly one of --reward-model PATH and --reward lab|regex:PATTERN|length:N");
        }
        if (normalizeReward && rewardModel == null) {
            throw Checks.usage(spec, "--normalize-reward needs --reward-model (the built-in rewards have no "
                    + "statistics)");
        }
        Long worldSeed = null;
        RuleReward rule = null;
        if (reward != null) {
            String r = reward.toLowerCase(Locale.ROOT);
            if (r.equals("lab") || r.startsWith("lab:")) {
                worldSeed = PpoCommand.labSeed(reward);
            } else {
                rule = RuleReward.parse(reward); // or the one-line error naming the forms --reward takes
            }
        }
        Checks.inputPath("--policy", policyPath);
        Checks.inputPath("--ref-model", refModel);
        Checks.inputPath("--reward-model", rewardModel);
        Checks.inputFile("--prompts", promptsFile);
        Checks.outputDirectory("--out", out);
        GrpoConfig cfg = config();
        Safetensors.DType dtype = Choice.SaveDtype.dtype(saveDtype);
        LoraConfig loraConfig = lora.configWithoutDropout("grpo");
        Map<String, Path> inputs = new LinkedHashMap<>();
        inputs.put("--policy", policyPath);
        inputs.put("--ref-model", refModel);
        inputs.put("--reward-model", rewardModel);
        inputs.put("--prompts", promptsFile);
        RunDirectory.refuseInputs(out, GrpoTrainer.KIND, inputs, false);
        try (RunDirectory run = output.open(out, GrpoTrainer.KIND)) {
            run.verify(lora.addTo(cfg.fingerprint()).file("policy", policyPath).file("ref_model", refModel)
                    .file("reward_model", rewardModel).put("reward", reward).file("prompts", promptsFile)
                    .put("normalize_reward", normalizeReward), output.allowChanges);
            GrpoRun grpo = GrpoRun.fromPaths(cfg, new GrpoRun.Inputs(policyPath, refModel, rewardModel, worldSeed,
                    rule, promptsFile, normalizeReward, dtype).withLora(loraConfig), err);
            err.printf("policy %,d trained parameters; %d prompts; %d completions per step (%d prompts × %d)%n",
                    grpo.policy().trainableCount(), grpo.prompts().size(), cfg.completionsPerStep(),
                    cfg.perDeviceTrainBatchSize(), cfg.numGenerations());
            checkpointing.apply(grpo.policy());
            grpo.trainer().train(run);
        }
        return 0;
    }

    /** The options as a validated {@link GrpoConfig}. */
    GrpoConfig config() {
        boolean stopAtEos = switch (stopToken.toLowerCase(Locale.ROOT)) {
            case "eos" -> true;
            case "none" -> false;
            default -> throw new UserError("--stop-token must be eos or none, got '" + stopToken + "'");
        };
        GrpoMath.Advantage a = GrpoMath.Advantage.parse(advantage);
        if (a.needsGroup() && numGenerations < 2) {
            throw new UserError("--num-generations must be at least 2 for --advantage " + a.label()
                    + " (each completion is compared with the others for its prompt), got " + numGenerations);
        }
        return GrpoConfig.builder(out)
                .optimizer(adamW.optimizer(learningRate, lrSchedulerType, warmupSteps, warmupRatio))
                .numTrainEpochs(numTrainEpochs).maxSteps(maxSteps).perDeviceTrainBatchSize(perDeviceTrainBatchSize)
                .numGenerations(numGenerations).localRolloutForwardBatchSize(localRolloutForwardBatchSize)
                .maxCompletionLength(maxCompletionLength).temperature(temperature).stopAtEos(stopAtEos)
                .missingEosPenalty(missingEosPenalty == null ? Double.NaN : missingEosPenalty).advantage(a)
                .lossType(GrpoMath.LossType.parse(lossType)).beta(beta)
                .klIn(klIn == null ? null : GrpoMath.KlIn.parse(klIn)).epsilon(epsilon).numIterations(numIterations)
                .seed(seed).saveSteps(saveSteps).saveTotalLimit(saveTotalLimit).loggingSteps(loggingSteps)
                .sampleSteps(sampleSteps).numSampleGenerations(numSampleGenerations).maxConsecutiveNanSkips(nanSkips)
                .reportTo(reportTo.value).build();
    }
}
