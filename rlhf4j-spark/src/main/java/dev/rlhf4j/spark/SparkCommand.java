package dev.rlhf4j.spark;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.batch.PromptGeneration;
import dev.rlhf4j.train.online.BestOfNRun;
import dev.rlhf4j.train.online.RewardSource;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code rlhf4j spark}: the batch commands as Spark jobs, run by the {@code rlhf4j} command or, with the same
 * subcommands and options, by spark-submit ({@link SparkMain}). Each writes to {@code --out} exactly what its
 * single-process command prints (see the jobs' classes for how records are partitioned).
 */
@Command(name = "spark", mixinStandardHelpOptions = true,
        description = {"Batch jobs on Apache Spark over large prompt and response files: generate, reward-score, "
                + "best-of-n and lab-score. Each writes exactly what its single-process command writes for the same "
                + "inputs and seed, to --out (JSON Lines, or Parquet when the name ends in .parquet).",
                "Run locally with --master local[N], or submit the rlhf4j-spark jar with spark-submit (see "
                        + "docs/scale-out.md)."},
        subcommands = {SparkCommand.Generate.class, SparkCommand.RewardScore.class, SparkCommand.BestOfN.class,
                SparkCommand.LabScore.class})
public final class SparkCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Where a job runs and writes: {@code --master}, {@code --partitions}, {@code --out}. */
    static final class JobOptions {
        @Option(names = "--master", paramLabel = "URL",
                description = "Spark master: local[N], local[*], spark://HOST:PORT, yarn, k8s://HOST:PORT (default: "
                        + "spark-submit's).")
        String master;
        @Option(names = "--partitions", defaultValue = "0", paramLabel = "N",
                description = "Partitions of the input; 0 = Spark's default parallelism (default: ${DEFAULT-VALUE}).")
        int partitions;
        @Option(names = {"--out", "--output"}, required = true, paramLabel = "FILE",
                description = "Output: JSON Lines, or a Parquet directory when the name ends in .parquet.")
        Path out;
        @Option(names = "--threads", defaultValue = "0", paramLabel = "N",
                description = "Threads per executor JVM; 0 = all its cores (default: ${DEFAULT-VALUE}).")
        int threads;

        /** Checks the options and that the input is there, before Spark starts. */
        void check(String inputOption, Path input) throws IOException {
            if (partitions < 0) {
                throw new UserError("--partitions must be 0 (Spark's default) or a positive number, got "
                        + partitions);
            }
            if (threads < 0) {
                throw new UserError("--threads must be 0 (all cores) or a positive number, got " + threads);
            }
            SparkSessions.checkMaster(master);
            if (!Files.exists(input)) {
                throw new UserError(inputOption + " " + input + ": no such file");
            }
            if (JobIo.parquet(out) ? Files.exists(out) : Files.isDirectory(out)) {
                throw new UserError("--out " + out + (JobIo.parquet(out) ? ": already exists (Parquet output is "
                        + "never overwritten)" : ": is a directory, not a file"));
            }
            if (Files.exists(out) && Files.isSameFile(out, input)) {
                throw new UserError("--out " + out + ": is the input file; write elsewhere");
            }
        }
    }

    /** Runs a job in a session of its own, writes its output, and stops the session. */
    interface Job {
        JavaRDD<String> run(SparkSession spark) throws IOException;
    }

    static long runJob(JobOptions o, String app, Job job) throws IOException {
        SparkSession spark = SparkSessions.open(o.master, app);
        try {
            return JobIo.write(spark, job.run(spark), o.out);
        } finally {
            spark.stop();
        }
    }

    @Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
            description = "rlhf4j generate --json over a prompt file as a Spark job: one JSON line per prompt "
                    + "(prompt, completion, finish_reason, tokens, logprobs) to --out, the same as rlhf4j generate "
                    + "--json prints for the same options and seed.")
    static final class Generate implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @CommandLine.Mixin
        JobOptions job = new JobOptions();
        @Option(names = "--model", required = true, paramLabel = "PATH",
                description = "HF model directory, llama2.c .bin or .gguf, at the same path on every executor.")
        Path model;
        @Option(names = "--tokenizer", paramLabel = "PATH", description = "Tokenizer to use instead of the model's.")
        Path tokenizer;
        @Option(names = "--prompts", required = true, paramLabel = "FILE",
                description = "Prompts as generate --prompts reads them (JSON Lines), or a .parquet file.")
        Path prompts;
        @Option(names = "--max-new-tokens", defaultValue = "128", description = "Tokens to generate at most "
                + "(default: ${DEFAULT-VALUE}).")
        int maxNewTokens;
        @Option(names = "--temperature", defaultValue = "1.0", description = "Sampling temperature; 0 = greedy "
                + "(default: ${DEFAULT-VALUE}).")
        float temperature;
        @Option(names = "--top-k", defaultValue = "0", description = "Keep the k most likely tokens; 0 = off "
                + "(default: ${DEFAULT-VALUE}).")
        int topK;
        @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus sampling mass; 1 = off (default: "
                + "${DEFAULT-VALUE}).")
        float topP;
        @Option(names = "--seed", defaultValue = "0", description = "Seed (default: ${DEFAULT-VALUE}).")
        long seed;
        @Option(names = "--stop", arity = "1..*", paramLabel = "TEXT", description = "Stop once one of these "
                + "strings appears.")
        List<String> stop;
        @Option(names = "--chat", description = "Wrap each plain-text prompt as a user message with the model's chat "
                + "template.")
        boolean chat;
        @Option(names = "--system", paramLabel = "TEXT", description = "System message for --chat.")
        String system;
        @Option(names = "--batch-size", defaultValue = "8", description = "Prompts generated together; the output "
                + "depends on it as generate's does (default: ${DEFAULT-VALUE}).")
        int batchSize;
        @Option(names = "--weights-dtype", defaultValue = "fp32", paramLabel = "DTYPE",
                description = "fp32, bf16 or q8_0, as generate --weights-dtype (default: ${DEFAULT-VALUE}).")
        String weightsDtype;

        @Override
        public Integer call() throws IOException {
            PromptGeneration.Settings g = new PromptGeneration.Settings(maxNewTokens, temperature, topK, topP, seed,
                    stop, chat, system, batchSize);
            GenerateJob.Settings s = new GenerateJob.Settings(model.toAbsolutePath().toString(),
                    tokenizer == null ? null : tokenizer.toAbsolutePath().toString(), weightsDtype, g, job.threads);
            inputPath("--model", model);
            inputPath("--tokenizer", tokenizer);
            job.check("--prompts", prompts);
            long n = runJob(job, "rlhf4j generate", spark -> GenerateJob.run(spark, s,
                    GenerateJob.read(spark, prompts), job.partitions));
            spec.commandLine().getErr().println("generated " + n + " responses to " + job.out);
            return 0;
        }
    }

    @Command(name = "reward-score", mixinStandardHelpOptions = true, sortOptions = false,
            description = "rlhf4j reward score as a Spark job: each {\"prompt\", \"response\"} (or \"completion\") "
                    + "record with a \"reward\" field (and \"reward_normalized\") to --out, the same as rlhf4j reward "
                    + "score prints.")
    static final class RewardScore implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @CommandLine.Mixin
        JobOptions job = new JobOptions();
        @Option(names = "--model", required = true, paramLabel = "PATH",
                description = "Reward model, at the same path on every executor.")
        Path model;
        @Option(names = "--tokenizer", paramLabel = "PATH", description = "Tokenizer to use instead of the model's.")
        Path tokenizer;
        @Option(names = "--data", required = true, paramLabel = "FILE", description = "Prompt/response records "
                + "(JSON Lines, or a .parquet file).")
        Path data;
        @Option(names = "--max-length", defaultValue = "-1",
                description = "Longest sequence (default: 1024, or the model's maximum if smaller).")
        int maxLength;
        @Option(names = "--batch-size", defaultValue = "16", description = "Sequences per batch; the output depends "
                + "on it as reward score's does (default: ${DEFAULT-VALUE}).")
        int batchSize;

        @Override
        public Integer call() throws IOException {
            RewardScoreJob.Settings s = new RewardScoreJob.Settings(model.toAbsolutePath().toString(),
                    tokenizer == null ? null : tokenizer.toAbsolutePath().toString(), maxLength, batchSize,
                    job.threads);
            inputPath("--model", model);
            inputPath("--tokenizer", tokenizer);
            job.check("--data", data);
            long n = runJob(job, "rlhf4j reward score", spark -> RewardScoreJob.run(spark, s,
                    RewardScoreJob.read(spark, data), job.partitions));
            spec.commandLine().getErr().println("scored " + n + " records to " + job.out);
            return 0;
        }
    }

    @Command(name = "best-of-n", mixinStandardHelpOptions = true, sortOptions = false,
            description = "rlhf4j best-of-n as a Spark job: --n samples per prompt from the policy, the one the "
                    + "reward scores highest kept; one {\"prompt\", \"completion\", \"score\", \"scores\"} record "
                    + "per prompt to --out, the same as rlhf4j best-of-n writes.")
    static final class BestOfN implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @CommandLine.Mixin
        JobOptions job = new JobOptions();
        @Option(names = "--policy", required = true, paramLabel = "PATH", description = "The policy to sample from, "
                + "at the same path on every executor.")
        Path policy;
        @Option(names = "--reward-model", paramLabel = "PATH", description = "Reward model that picks the best.")
        Path rewardModel;
        @Option(names = "--normalize-reward", description = "Normalise scores with the mean and std stored with the "
                + "reward model.")
        boolean normalizeReward;
        @Option(names = "--reward", paramLabel = "NAME", description = "A built-in reward instead of a model: 'lab' "
                + "(world seed 0) or 'lab:SEED'.")
        String reward;
        @Option(names = "--prompts", required = true, paramLabel = "FILE", description = "Prompts (JSON Lines, or a "
                + ".parquet file).")
        Path prompts;
        @Option(names = "--n", defaultValue = "8", description = "Samples per prompt (default: ${DEFAULT-VALUE}).")
        int n;
        @Option(names = "--max-new-tokens", defaultValue = "48", description = "Most new tokens per response "
                + "(default: ${DEFAULT-VALUE}).")
        int maxNewTokens;
        @Option(names = "--temperature", defaultValue = "1", description = "Sampling temperature (default: "
                + "${DEFAULT-VALUE}).")
        float temperature;
        @Option(names = "--seed", defaultValue = "0", description = "Seed of sampling (default: ${DEFAULT-VALUE}).")
        long seed;
        @Option(names = "--batch-size", defaultValue = "64", description = "Sequences per generation and scoring "
                + "batch; the output depends on it as best-of-n's does (default: ${DEFAULT-VALUE}).")
        int batchSize;

        @Override
        public Integer call() throws IOException {
            if ((rewardModel == null) == (reward == null)) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "give exactly one of --reward-model PATH and --reward lab");
            }
            if (normalizeReward && rewardModel == null) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--normalize-reward needs "
                        + "--reward-model (the built-in rewards have no statistics)");
            }
            BestOfNRun.Settings sampling = new BestOfNRun.Settings(n, maxNewTokens, temperature, seed, batchSize);
            Long worldSeed = reward == null ? null : RewardSource.labSeed(reward);
            BestOfNJob.Settings s = new BestOfNJob.Settings(policy.toAbsolutePath().toString(),
                    rewardModel == null ? null : rewardModel.toAbsolutePath().toString(), worldSeed, normalizeReward,
                    sampling, job.threads);
            inputPath("--policy", policy);
            inputPath("--reward-model", rewardModel);
            job.check("--prompts", prompts);
            long count = runJob(job, "rlhf4j best-of-n", spark -> BestOfNJob.run(spark, s,
                    BestOfNJob.read(spark, prompts), job.partitions));
            spec.commandLine().getErr().println("best of " + n + " for " + count + " prompts written to " + job.out);
            return 0;
        }
    }

    @Command(name = "lab-score", mixinStandardHelpOptions = true, sortOptions = false,
            description = "rlhf4j lab score as a Spark job: each record with the lab world's gold reward to --out, "
                    + "the same as rlhf4j lab score prints.")
    static final class LabScore implements Callable<Integer> {
        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;
        @CommandLine.Mixin
        JobOptions job = new JobOptions();
        @Option(names = "--data", required = true, paramLabel = "FILE", description = "Records to score (JSON Lines, "
                + "or a .parquet file).")
        Path data;
        @Option(names = "--seed", defaultValue = "0", description = "World seed the data came from (default: "
                + "${DEFAULT-VALUE}).")
        long seed;

        @Override
        public Integer call() throws IOException {
            job.check("--data", data);
            long n = runJob(job, "rlhf4j lab score", spark -> LabScoreJob.run(spark, seed,
                    LabScoreJob.read(spark, data), job.partitions));
            spec.commandLine().getErr().println("scored " + n + " records to " + job.out);
            return 0;
        }
    }

    /** A path that must exist (a model, a tokenizer) when given. */
    static void inputPath(String option, Path path) {
        if (path != null && !Files.exists(path)) {
            throw new UserError(option + " " + path + ": no such file or directory");
        }
    }
}
