package dev.rlhf4j.cli;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.online.BestOfN;
import dev.rlhf4j.train.online.BestOfNRun;
import dev.rlhf4j.train.online.RewardSource;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code rlhf4j best-of-n}: n samples per prompt, the reward's best kept. */
@Command(name = "best-of-n", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Sample --n responses per prompt from the policy and keep the one the reward scores highest "
                + "(best-of-n, or rejection sampling): an inference-time baseline, and SFT data for another round.",
                "Writes one JSON line per prompt to --out: {\"prompt\", \"completion\", \"score\", \"scores\": [all n "
                        + "scores]}, which rlhf4j sft --data reads (conversation prompts are written as messages). "
                        + "The mean chosen and sampled scores and the tokens generated go to standard error."})
public final class BestOfNCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--policy", required = true, paramLabel = "PATH", description = "The policy to sample from.")
    Path policy;
    @Option(names = "--reward-model", paramLabel = "PATH", description = "Reward model (*ForSequenceClassification "
            + "directory) that picks the best.")
    Path rewardModel;
    @Option(names = "--normalize-reward", description = "Normalise scores with the mean and std stored with the "
            + "reward model (the choice is the same; the scores written differ).")
    boolean normalizeReward;
    @Option(names = "--reward", paramLabel = "NAME",
            description = "A built-in reward instead of a model: 'lab' (the lab world's gold reward, world seed 0) or "
                    + "'lab:SEED'.")
    String reward;
    @Option(names = "--prompts", required = true, paramLabel = "FILE.jsonl",
            description = "Prompts: {\"prompt\": text}, {\"prompt\": [messages]} or {\"messages\": [...]} per line.")
    Path prompts;
    @Option(names = "--n", defaultValue = "8", description = "Samples per prompt (default: ${DEFAULT-VALUE}).")
    int n;
    @Option(names = {"--out", "--output"}, required = true, paramLabel = "FILE.jsonl", description = "Where the "
            + "chosen responses go.")
    Path out;
    @Option(names = "--max-new-tokens", defaultValue = "48", description = "Most new tokens per response (default: "
            + "${DEFAULT-VALUE}).")
    int maxNewTokens;
    @Option(names = "--temperature", defaultValue = "1", description = "Sampling temperature (default: "
            + "${DEFAULT-VALUE}).")
    float temperature;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of sampling (default: ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--batch-size", defaultValue = "64", description = "Sequences per generation and scoring batch "
            + "(default: ${DEFAULT-VALUE}).")
    int batchSize;
    @CommandLine.Mixin
    ThreadsOption threads = new ThreadsOption();

    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        threads.apply();
        if ((rewardModel == null) == (reward == null)) {
            throw Checks.usage(spec, "give exactly one of --reward-model PATH and --reward lab");
        }
        if (normalizeReward && rewardModel == null) {
            throw Checks.usage(spec, "--normalize-reward needs --reward-model (the built-in rewards have no "
                    + "statistics)");
        }
        Checks.positive("--n", n);
        Checks.positive("--max-new-tokens", maxNewTokens);
        Checks.positive("--temperature", temperature);
        Checks.positive("--batch-size", batchSize);
        Long worldSeed = reward == null ? null : PpoCommand.labSeed(reward);
        Checks.inputPath("--policy", policy);
        Checks.inputPath("--reward-model", rewardModel);
        Checks.inputFile("--prompts", prompts);
        if (Files.isDirectory(out)) {
            throw new UserError("--out " + out + ": is a directory, not a file");
        }
        if (Files.exists(out) && (Files.isSameFile(out, prompts))) {
            throw new UserError("--out " + out + ": is the --prompts file; write the choices elsewhere");
        }
        BestOfNRun run = BestOfNRun.fromPaths(policy, prompts, new RewardSource(rewardModel, worldSeed,
                normalizeReward), new BestOfNRun.Settings(n, maxNewTokens, temperature, seed, batchSize), err);
        run.write(out);
        BestOfN.Result r = run.result();
        err.printf("best of %d over %d prompts by %s: chosen score %.4f, mean sample score %.4f; %,d tokens "
                + "generated; written to %s%n", n, r.choices().size(), run.reward(), r.meanChosenScore(),
                r.meanSampleScore(), r.generatedTokens(), out);
        return 0;
    }
}
