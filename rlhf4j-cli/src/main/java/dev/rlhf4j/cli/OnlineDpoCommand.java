package dev.rlhf4j.cli;

import dev.rlhf4j.model.LoraConfig;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.dpo.DpoLossType;
import dev.rlhf4j.train.online.OnlineDpoConfig;
import dev.rlhf4j.train.online.OnlineDpoRun;
import dev.rlhf4j.train.online.OnlineDpoTrainer;
import dev.rlhf4j.train.online.RewardSource;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code rlhf4j online-dpo}: DPO on pairs sampled from the current policy and judged each step. */
@Command(name = "online-dpo", mixinStandardHelpOptions = true, sortOptions = false,
        defaultValueProvider = OnlineDpoDefaults.class,
        description = {"Online DPO (Guo et al. 2024; TRL's OnlineDPOTrainer): each step samples two responses for "
                + "each of --per-device-train-batch-size prompts from the current policy, a judge picks the better "
                + "of each two (the reward model, the lab's gold reward, or with --annotator-temperature a simulated "
                + "annotator of the lab), exact ties are dropped, and one DPO update is made on the pairs with the "
                + "frozen reference's log-probabilities computed on the fly. Hyper-parameters have TRL's names; each "
                + "can also be given in --config FILE.yaml under its snake_case name.",
                "Writes metrics.jsonl (TRL's OnlineDPO metric names), samples.jsonl (chosen and rejected pairs), "
                        + "checkpoints, train_results.json and the final policy (HF directory) in --out."})
public final class OnlineDpoCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE.yaml",
            description = "YAML file with any of these options under their snake_case names (flags override it).")
    Path config;
    @Option(names = "--policy", required = true, paramLabel = "PATH", description = "The policy to start from (the "
            + "SFT model).")
    Path policyPath;
    @Option(names = "--ref-model", paramLabel = "PATH", description = "The frozen reference of the DPO loss "
            + "(default: the policy as it starts).")
    Path refModel;
    @Option(names = "--reward-model", paramLabel = "PATH", description = "Reward model (*ForSequenceClassification "
            + "directory) that judges: the higher score wins.")
    Path rewardModel;
    @Option(names = "--normalize-reward", description = "Normalise scores with the mean and std stored with the "
            + "reward model (the verdicts are the same; the scores logged and the missing-EOS penalty's scale "
            + "differ).")
    boolean normalizeReward;
    @Option(names = "--reward", paramLabel = "NAME",
            description = "A built-in judge instead of a model: 'lab' (the lab world's gold reward, world seed 0) or "
                    + "'lab:SEED'.")
    String reward;
    @Option(names = "--annotator-temperature", defaultValue = "0", paramLabel = "T",
            description = "With --reward lab: a simulated annotator judges, preferring A with probability "
                    + "σ((R_A − R_B)/T) on the gold reward R; 0 = the gold reward's exact comparison (default: "
                    + "${DEFAULT-VALUE}).")
    double annotatorTemperature;
    @Option(names = "--prompts", required = true, paramLabel = "FILE.jsonl",
            description = "Prompts: {\"prompt\": text}, {\"prompt\": [messages]} or {\"messages\": [...]} per line.")
    Path promptsFile;
    @Option(names = {"--out", "--output-dir"}, required = true, paramLabel = "DIR", description = "Output directory.")
    Path out;
    @CommandLine.Mixin
    ResumeOptions output = new ResumeOptions();

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
    @Option(names = "--per-device-train-batch-size", description = "Prompts per step, each sampled twice (default: "
            + "${DEFAULT-VALUE}).")
    int perDeviceTrainBatchSize;
    @Option(names = "--local-rollout-forward-batch-size", description = "Sequences per generation and forward batch "
            + "(memory only; default: ${DEFAULT-VALUE}).")
    int localRolloutForwardBatchSize;
    @Option(names = "--max-new-tokens", description = "Most new tokens per response (default: ${DEFAULT-VALUE}).")
    int maxNewTokens;
    @Option(names = "--temperature", description = "Sampling temperature (default: ${DEFAULT-VALUE}).")
    float temperature;
    @Option(names = "--missing-eos-penalty", description = "Subtracted from the score of responses without EOS "
            + "before judging (default: none).")
    Double missingEosPenalty;
    @Option(names = "--beta", description = "β of the DPO loss (default: ${DEFAULT-VALUE}).")
    double beta;
    @Option(names = "--loss-type", converter = DpoCommand.LossTypes.class,
            completionCandidates = DpoCommand.LossTypes.class, description = "sigmoid or ipo, as TRL's "
                    + "OnlineDPOTrainer offers (default: ${DEFAULT-VALUE}).")
    String lossType;
    @Option(names = "--seed", description = "Seed of sampling, prompt order and annotators (default: "
            + "${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--save-steps", description = "Checkpoint every N steps; 0 = at the end (default: "
            + "${DEFAULT-VALUE}).")
    int saveSteps;
    @Option(names = "--save-total-limit", description = "Checkpoints kept (default: ${DEFAULT-VALUE}).")
    int saveTotalLimit;
    @Option(names = "--logging-steps", description = "Progress lines every N steps when not on a terminal (default: "
            + "${DEFAULT-VALUE}).")
    int loggingSteps;
    @Option(names = "--sample-steps", description = "Write sample pairs every N steps; 0 = never (default: "
            + "${DEFAULT-VALUE}).")
    int sampleSteps;
    @Option(names = "--num-sample-generations", description = "Pairs written each time (default: ${DEFAULT-VALUE}).")
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
            throw Checks.usage(spec, "give exactly one of --reward-model PATH and --reward lab");
        }
        if (normalizeReward && rewardModel == null) {
            throw Checks.usage(spec, "--normalize-reward needs --reward-model (the built-in rewards have no "
                    + "statistics)");
        }
        if (annotatorTemperature != 0 && reward == null) {
            throw Checks.usage(spec, "--annotator-temperature needs --reward lab (the simulated annotators judge by "
                    + "the lab's gold reward)");
        }
        Checks.nonNegative("--annotator-temperature", annotatorTemperature);
        Checks.finite("--annotator-temperature", annotatorTemperature);
        Long worldSeed = reward == null ? null : PpoCommand.labSeed(reward);
        Checks.inputPath("--policy", policyPath);
        Checks.inputPath("--ref-model", refModel);
        Checks.inputPath("--reward-model", rewardModel);
        Checks.inputFile("--prompts", promptsFile);
        Checks.outputDirectory("--out", out);
        OnlineDpoConfig cfg = config();
        Safetensors.DType dtype = Choice.SaveDtype.dtype(saveDtype);
        LoraConfig loraConfig = lora.configWithoutDropout("online-dpo");
        Map<String, Path> inputs = new LinkedHashMap<>();
        inputs.put("--policy", policyPath);
        inputs.put("--ref-model", refModel);
        inputs.put("--reward-model", rewardModel);
        inputs.put("--prompts", promptsFile);
        RunDirectory.refuseInputs(out, OnlineDpoTrainer.KIND, inputs, false);
        OnlineDpoRun.Inputs in = new OnlineDpoRun.Inputs(policyPath, refModel, new RewardSource(rewardModel,
                worldSeed, normalizeReward), annotatorTemperature, promptsFile, dtype).withLora(loraConfig);
        try (RunDirectory run = output.open(out, OnlineDpoTrainer.KIND)) {
            run.verify(lora.addTo(cfg.fingerprint()).file("policy", policyPath).file("ref_model", refModel)
                    .file("reward_model", rewardModel).put("reward", reward)
                    .put("annotator_temperature", annotatorTemperature).file("prompts", promptsFile)
                    .put("normalize_reward", normalizeReward), output.allowChanges);
            OnlineDpoRun r = OnlineDpoRun.fromPaths(cfg, in, err);
            err.printf("policy %,d trained parameters; %d prompts; %d prompts × 2 samples per step%n",
                    r.policy().trainableCount(), r.prompts().size(), cfg.perDeviceTrainBatchSize());
            checkpointing.apply(r.policy());
            r.trainer().train(run);
        }
        return 0;
    }

    /** The options as a validated {@link OnlineDpoConfig}. */
    OnlineDpoConfig config() {
        return OnlineDpoConfig.builder(out)
                .optimizer(adamW.optimizer(learningRate, lrSchedulerType, warmupSteps, warmupRatio))
                .numTrainEpochs(numTrainEpochs).maxSteps(maxSteps).perDeviceTrainBatchSize(perDeviceTrainBatchSize)
                .localRolloutForwardBatchSize(localRolloutForwardBatchSize).maxNewTokens(maxNewTokens)
                .temperature(temperature).missingEosPenalty(missingEosPenalty == null ? Double.NaN : missingEosPenalty)
                .beta(beta).lossType(DpoLossType.parse(lossType)).seed(seed).saveSteps(saveSteps)
                .saveTotalLimit(saveTotalLimit)
                .loggingSteps(loggingSteps).sampleSteps(sampleSteps).numSampleGenerations(numSampleGenerations)
                .maxConsecutiveNanSkips(nanSkips).reportTo(reportTo.value).build();
    }
}
