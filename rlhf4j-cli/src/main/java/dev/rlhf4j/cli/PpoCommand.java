package dev.rlhf4j.cli;

import dev.rlhf4j.model.Heads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.data.DatasetReader;
import dev.rlhf4j.train.data.Example;
import dev.rlhf4j.train.data.Tokenization;
import dev.rlhf4j.train.lab.GoldReward;
import dev.rlhf4j.train.lab.LabWorld;
import dev.rlhf4j.train.ppo.PpoConfig;
import dev.rlhf4j.train.ppo.PpoMath;
import dev.rlhf4j.train.ppo.PpoTrainer;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.PromptReader;
import dev.rlhf4j.train.ppo.RewardFunction;
import dev.rlhf4j.train.ppo.RewardModelReward;
import dev.rlhf4j.train.reward.RewardStats;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code rlhf4j ppo}: RLHF of a policy against a reward model with PPO. */
@Command(name = "ppo", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Optimise a policy (an SFT model) against a reward model with PPO, with a per-token KL penalty "
                + "to the frozen starting policy, as InstructGPT and TRL's PPOTrainer do. The critic starts from the "
                + "value model (default: the reward model). Hyper-parameters have TRL's names and defaults; each "
                + "can also be given in --config FILE.yaml under its snake_case name.",
                "Writes metrics.jsonl (TRL's metric names), samples.jsonl, checkpoints, train_results.json, the "
                        + "final policy (HF directory) in --out and the critic in --out/critic."})
public final class PpoCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE.yaml",
            description = "YAML file with any of these options under their snake_case names (flags override it).")
    Path config;
    @Option(names = "--policy", required = true, paramLabel = "PATH", description = "The policy to start from (the SFT model).")
    Path policyPath;
    @Option(names = "--reward-model", paramLabel = "PATH", description = "Reward model (*ForSequenceClassification directory).")
    Path rewardModel;
    @Option(names = "--reward", paramLabel = "NAME",
            description = "A built-in reward instead of a model: 'lab' (the lab world's gold reward, world seed 0) or "
                    + "'lab:SEED'.")
    String reward;
    @Option(names = "--value-model", paramLabel = "PATH",
            description = "Model the critic starts from (default: the reward model; with --reward, the policy with a new "
                    + "scalar head).")
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
    @Option(names = "--learning-rate", defaultValue = "3e-6", description = "Learning rate of policy and critic (default: ${DEFAULT-VALUE}).")
    double learningRate;
    @Option(names = "--lr-scheduler-type", defaultValue = "linear", converter = Choice.LrScheduler.class,
            completionCandidates = Choice.LrScheduler.class, description = "linear, cosine or constant (default: ${DEFAULT-VALUE}).")
    String lrSchedulerType;
    @Option(names = "--warmup-steps", defaultValue = "0", description = "Warm-up PPO steps (default: ${DEFAULT-VALUE}).")
    int warmupSteps;
    @Option(names = "--warmup-ratio", defaultValue = "0.0", description = "Warm-up as a fraction of the steps (default: ${DEFAULT-VALUE}).")
    double warmupRatio;
    @Option(names = "--num-train-epochs", defaultValue = "1", description = "Passes over the prompts (default: ${DEFAULT-VALUE}).")
    double numTrainEpochs;
    @Option(names = "--max-steps", defaultValue = "-1", description = "PPO steps; -1 = from the epochs (default: ${DEFAULT-VALUE}).")
    int maxSteps;
    @Option(names = "--per-device-train-batch-size", defaultValue = "8", description = "Episodes per micro-batch (default: ${DEFAULT-VALUE}).")
    int perDeviceTrainBatchSize;
    @Option(names = "--gradient-accumulation-steps", defaultValue = "1", description = "Micro-batches per minibatch (default: ${DEFAULT-VALUE}).")
    int gradientAccumulationSteps;
    @Option(names = "--num-mini-batches", defaultValue = "1",
            description = "Minibatches per PPO epoch; episodes per step = batch size × accumulation × this (default: ${DEFAULT-VALUE}).")
    int numMiniBatches;
    @Option(names = "--num-ppo-epochs", defaultValue = "4", description = "Passes over each batch of episodes (default: ${DEFAULT-VALUE}).")
    int numPpoEpochs;
    @Option(names = "--local-rollout-forward-batch-size", defaultValue = "64", description = "Episodes per generation and scoring batch (default: ${DEFAULT-VALUE}).")
    int localRolloutForwardBatchSize;
    @Option(names = "--response-length", defaultValue = "53", description = "Most new tokens per response (default: ${DEFAULT-VALUE}).")
    int responseLength;
    @Option(names = "--temperature", defaultValue = "1.0", description = "Sampling temperature (default: ${DEFAULT-VALUE}).")
    float temperature;
    @Option(names = "--stop-token", defaultValue = "eos", converter = Choice.StopToken.class,
            completionCandidates = Choice.StopToken.class, description = "eos (stop at the EOS token) or none (default: ${DEFAULT-VALUE}).")
    String stopToken;
    @Option(names = "--missing-eos-penalty", description = "Subtracted from the score of responses without EOS (default: none).")
    Double missingEosPenalty;
    @Option(names = "--kl-coef", defaultValue = "0.05", description = "β of the per-token KL penalty (default: ${DEFAULT-VALUE}).")
    double klCoef;
    @Option(names = "--kl-estimator", defaultValue = "k1", converter = Choice.KlEstimator.class,
            completionCandidates = Choice.KlEstimator.class, description = "k1 or k3 (default: ${DEFAULT-VALUE}).")
    String klEstimator;
    @Option(names = "--adaptive-kl-target", defaultValue = "0", description = "Target KL of the adaptive controller; 0 = fixed β (default: ${DEFAULT-VALUE}).")
    double adaptiveKlTarget;
    @Option(names = "--adaptive-kl-horizon", defaultValue = "10000", description = "Horizon of the adaptive controller in episodes (default: ${DEFAULT-VALUE}).")
    double adaptiveKlHorizon;
    @Option(names = "--whiten-rewards", description = "Whiten the per-token rewards before GAE.")
    boolean whitenRewards;
    @Option(names = "--gamma", defaultValue = "1.0", description = "Discount (default: ${DEFAULT-VALUE}).")
    double gamma;
    @Option(names = "--lam", defaultValue = "0.95", description = "GAE lambda (default: ${DEFAULT-VALUE}).")
    double lam;
    @Option(names = "--cliprange", defaultValue = "0.2", description = "Policy ratio clip (default: ${DEFAULT-VALUE}).")
    double cliprange;
    @Option(names = "--cliprange-value", defaultValue = "0.2", description = "Value clip (default: ${DEFAULT-VALUE}).")
    double cliprangeValue;
    @Option(names = "--vf-coef", defaultValue = "0.1", description = "Weight of the value loss (default: ${DEFAULT-VALUE}).")
    double vfCoef;
    @Option(names = "--target-kl", defaultValue = "0", description = "Stop a batch's PPO epochs when approx KL exceeds it; 0 = off (default: ${DEFAULT-VALUE}).")
    double targetKl;
    @Option(names = "--ptx-coef", defaultValue = "0", description = "PPO-ptx weight of the pretraining loss; 0 = off (default: ${DEFAULT-VALUE}).")
    double ptxCoef;
    @Option(names = "--ptx-batch-size", defaultValue = "8", description = "Pretraining sequences per micro-batch (default: ${DEFAULT-VALUE}).")
    int ptxBatchSize;
    @Option(names = "--normalize-reward", description = "Normalise scores with the mean and std stored with the reward model.")
    boolean normalizeReward;
    @Option(names = "--reward-clip", defaultValue = "0", description = "Clip scores to [-c, c]; 0 = off (default: ${DEFAULT-VALUE}).")
    double rewardClip;
    @Option(names = "--seed", defaultValue = "42", description = "Seed of sampling and shuffling (default: ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--save-steps", defaultValue = "0", description = "Checkpoint every N steps; 0 = at the end (default: ${DEFAULT-VALUE}).")
    int saveSteps;
    @Option(names = "--save-total-limit", defaultValue = "2", description = "Checkpoints kept (default: ${DEFAULT-VALUE}).")
    int saveTotalLimit;
    @Option(names = "--logging-steps", defaultValue = "1", description = "Progress lines every N steps when not on a terminal (default: ${DEFAULT-VALUE}).")
    int loggingSteps;
    @Option(names = "--sample-steps", defaultValue = "10", description = "Write sample generations every N steps; 0 = never (default: ${DEFAULT-VALUE}).")
    int sampleSteps;
    @Option(names = "--num-sample-generations", defaultValue = "4", description = "Samples written each time (default: ${DEFAULT-VALUE}).")
    int numSampleGenerations;
    @Option(names = "--max-consecutive-nan-skips", defaultValue = "5", description = "Abort after this many skipped updates in a row (default: ${DEFAULT-VALUE}).")
    int nanSkips;
    @Option(names = "--save-dtype", defaultValue = "f32", converter = Choice.SaveDtype.class,
            completionCandidates = Choice.SaveDtype.class, description = "f32 or bf16 (default: ${DEFAULT-VALUE}).")
    String saveDtype;
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
            throw Checks.usage(spec, "--normalize-reward needs --reward-model (the built-in rewards have no statistics)");
        }
        Checks.inputPath("--policy", policyPath);
        Checks.inputPath("--reward-model", rewardModel);
        Checks.inputPath("--value-model", valueModel);
        Checks.inputFile("--prompts", promptsFile);
        Checks.inputFile("--ptx-data", ptxData);
        Checks.outputDirectory("--out", out);
        Checks.nonNegative("--reward-clip", rewardClip);
        PpoConfig cfg = config();
        cfg.validate();
        Safetensors.DType dtype = TrainCommand.saveDtype(saveDtype);
        Map<String, Path> inputs = new LinkedHashMap<>();
        inputs.put("--policy", policyPath);
        inputs.put("--reward-model", rewardModel);
        inputs.put("--value-model", valueModel);
        inputs.put("--prompts", promptsFile);
        inputs.put("--ptx-data", ptxData);
        RunDirectory.refuseInputs(out, PpoTrainer.KIND, inputs, false);
        try (RunDirectory run = output.open(out, PpoTrainer.KIND)) {
            run.verify(cfg.fingerprint().file("policy", policyPath).file("reward_model", rewardModel)
                    .put("reward", reward).file("value_model", valueModel).file("prompts", promptsFile)
                    .file("ptx_data", ptxData).put("normalize_reward", normalizeReward).put("reward_clip", rewardClip),
                    output.allowChanges);
            train(cfg, dtype, worldSeed, run, err);
        }
        return 0;
    }

    private void train(PpoConfig cfg, Safetensors.DType dtype, long worldSeed, RunDirectory run, PrintWriter err)
            throws IOException {
        Pretrained policyPm = Pretrained.open(policyPath, null);
        Tokenizer tok = policyPm.requireTokenizer();
        Transformer policy = policyPm.model();
        if (!policy.heads().lm()) {
            throw new IllegalArgumentException(policyPath + ": the policy must be a language model (it has no LM head)");
        }
        Transformer reference = policy.frozenCopy();
        List<Prompt> prompts = PromptReader.read(promptsFile, policyPm.chatTemplate());
        RewardFunction rf;
        Pretrained criticPm;
        if (reward != null) {
            rf = new GoldReward(new LabWorld(worldSeed));
            criticPm = valueModel == null ? null : Pretrained.open(valueModel, null);
        } else {
            Pretrained rm = Pretrained.open(rewardModel, null);
            RewardStats stats = null;
            if (normalizeReward) {
                stats = RewardStats.read(rewardModel).orElseThrow(() -> new IllegalArgumentException(rewardModel
                        + ": --normalize-reward needs the reward statistics in config.json (written by reward train)"));
            }
            Tokenizer rmTok = rm.requireTokenizer();
            RewardModelReward rmr = new RewardModelReward(rm.model(), rmTok, tok, stats, rewardClip,
                    localRolloutForwardBatchSize);
            if (rmr.retokenizes()) {
                if (prompts.stream().anyMatch(Prompt::chat)) {
                    throw new IllegalArgumentException(rewardModel + ": its tokenizer differs from the policy's, and "
                            + "conversation prompts rendered with the policy's chat template cannot be re-tokenised "
                            + "for it; use a reward model with the policy's tokenizer, or plain-text prompts");
                }
                err.println("the reward model's tokenizer differs from the policy's: episodes are re-tokenised from "
                        + "their text for it");
            }
            rm.model().freeze();
            rf = rmr;
            criticPm = valueModel == null ? rm : Pretrained.open(valueModel, null);
        }
        Transformer critic;
        HfCheckpoint.SaveOptions criticSave;
        if (criticPm == null) {
            critic = policy.withHeads(Heads.SCALAR, seed);
            criticSave = HfCheckpoint.SaveOptions.like(policyPm.loaded(), dtype).withTokenizer(tok);
        } else {
            Transformer v = criticPm.model();
            critic = v.heads() == Heads.SCALAR ? v.copy() : v.withHeads(Heads.SCALAR, seed);
            criticSave = HfCheckpoint.SaveOptions.like(criticPm.loaded(), dtype).withTokenizer(tok);
        }
        if (critic.config().vocabSize() != policy.config().vocabSize()) {
            throw new IllegalArgumentException("the value model's vocabulary (" + critic.config().vocabSize()
                    + ") differs from the policy's (" + policy.config().vocabSize() + "): the critic reads the "
                    + "policy's tokens; give --value-model with the policy's tokenizer");
        }
        List<int[]> ptx = List.of();
        if (ptxCoef > 0) {
            ptx = new ArrayList<>();
            for (Example e : Tokenization.tokenize(DatasetReader.read(ptxData), tok, policyPm.chatTemplate(),
                    policy.config().maxSeqLen(), false).examples()) {
                ptx.add(e.tokens());
            }
        }
        HfCheckpoint.SaveOptions policySave = HfCheckpoint.SaveOptions.like(policyPm.loaded(), dtype).withTokenizer(tok);
        PpoTrainer trainer = new PpoTrainer(cfg, policy, reference, critic, rf, tok, prompts, policyPm.eosIds(), ptx,
                err).writers((m, dir) -> HfCheckpoint.save(m, dir, policySave),
                (m, dir) -> HfCheckpoint.save(m, dir, criticSave));
        err.printf("policy %,d parameters, critic %,d; %d prompts; %d episodes per step%n", policy.parameterCount(),
                critic.parameterCount(), prompts.size(), cfg.batchSize());
        trainer.train(run);
    }

    static long labSeed(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        if (n.equals("lab")) {
            return 0;
        }
        if (n.startsWith("lab:")) {
            try {
                return Long.parseLong(n.substring(4));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--reward lab:SEED needs a whole number, got '" + name + "'");
            }
        }
        throw new IllegalArgumentException("--reward must be lab or lab:SEED, got '" + name + "'");
    }

    PpoConfig config() {
        PpoConfig c = new PpoConfig(out);
        c.learningRate = learningRate;
        c.lrSchedulerType = lrSchedulerType;
        c.warmupSteps = warmupSteps;
        c.warmupRatio = warmupRatio;
        c.weightDecay = adamW.weightDecay;
        c.adamBeta1 = adamW.adamBeta1;
        c.adamBeta2 = adamW.adamBeta2;
        c.adamEpsilon = adamW.adamEpsilon;
        c.maxGradNorm = adamW.maxGradNorm;
        c.numTrainEpochs = numTrainEpochs;
        c.maxSteps = maxSteps;
        c.perDeviceTrainBatchSize = perDeviceTrainBatchSize;
        c.gradientAccumulationSteps = gradientAccumulationSteps;
        c.numMiniBatches = numMiniBatches;
        c.numPpoEpochs = numPpoEpochs;
        c.localRolloutForwardBatchSize = localRolloutForwardBatchSize;
        c.responseLength = responseLength;
        c.temperature = temperature;
        c.stopAtEos = switch (stopToken.toLowerCase(Locale.ROOT)) {
            case "eos" -> true;
            case "none" -> false;
            default -> throw new IllegalArgumentException("--stop-token must be eos or none, got '" + stopToken + "'");
        };
        c.missingEosPenalty = missingEosPenalty == null ? Double.NaN : missingEosPenalty;
        c.klCoef = klCoef;
        c.klEstimator = PpoMath.KlEstimator.parse(klEstimator);
        c.adaptiveKlTarget = adaptiveKlTarget;
        c.adaptiveKlHorizon = adaptiveKlHorizon;
        c.whitenRewards = whitenRewards;
        c.gamma = gamma;
        c.lam = lam;
        c.cliprange = cliprange;
        c.cliprangeValue = cliprangeValue;
        c.vfCoef = vfCoef;
        c.targetKl = targetKl;
        c.ptxCoef = ptxCoef;
        c.ptxBatchSize = ptxBatchSize;
        c.seed = seed;
        c.saveSteps = saveSteps;
        c.saveTotalLimit = saveTotalLimit;
        c.loggingSteps = loggingSteps;
        c.sampleSteps = sampleSteps;
        c.numSampleGenerations = numSampleGenerations;
        c.maxConsecutiveNanSkips = nanSkips;
        return c;
    }
}
