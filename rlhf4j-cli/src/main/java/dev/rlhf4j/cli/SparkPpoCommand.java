package dev.rlhf4j.cli;

import dev.rlhf4j.spark.SparkSessions;
import dev.rlhf4j.spark.ppo.SparkPpoRollouts;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.ppo.PpoConfig;
import dev.rlhf4j.train.run.PpoRun;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.Locale;

/**
 * {@code rlhf4j spark ppo}: {@code rlhf4j ppo} with its rollouts on a Spark cluster ({@link SparkPpoRollouts}); the
 * update, checkpoints and outputs stay in this process, the driver.
 */
@Command(name = "ppo", mixinStandardHelpOptions = true, sortOptions = false,
        defaultValueProvider = RecordDefaults.Ppo.class,
        description = {"rlhf4j ppo with its rollouts on Apache Spark: each step this process (the driver) broadcasts "
                + "the weights training changed (the policy's, or its LoRA adapters, and the critic's), the "
                + "executors sample and score the step's prompts in chunks of --local-rollout-forward-batch-size "
                + "on their own copies of the models, read once per executor from the same paths, and the driver "
                + "runs the PPO update, writes checkpoints and outputs, and resumes as rlhf4j ppo does.",
                "With --broadcast-dtype fp32 (the default) the run is the one rlhf4j ppo gives with the same inputs "
                        + "and seed: a chunk's sampling seed depends on the seed, the step and the chunk's place "
                        + "in the batch only. Every other option is rlhf4j ppo's."})
final class SparkPpoCommand extends PpoCommand {
    @Option(names = "--master", paramLabel = "URL", order = -2,
            description = "Spark master: local[N], local-cluster[N,C,MB], spark://HOST:PORT, yarn, k8s://HOST:PORT.")
    String master;
    @Option(names = "--broadcast-dtype", defaultValue = "fp32", paramLabel = "DTYPE", order = -1,
            description = "fp32, or bf16: half the bytes broadcast each step, but the executors then sample from "
                    + "the policy rounded to bf16 (default: ${DEFAULT-VALUE}).")
    String broadcastDtype;

    @Override
    public Integer call() throws IOException {
        SparkSessions.checkMaster(master);
        bf16();
        return super.call();
    }

    private boolean bf16() {
        return switch (broadcastDtype.toLowerCase(Locale.ROOT)) {
            case "fp32", "f32" -> false;
            case "bf16" -> true;
            default -> throw new UserError("--broadcast-dtype must be fp32 or bf16, got '" + broadcastDtype + "'");
        };
    }

    @Override
    Rollouts rollouts(PpoConfig cfg, PpoRun.Inputs in, PpoRun ppo, PrintWriter err) {
        SparkPpoRollouts spark = SparkPpoRollouts.start(master, ppo.trainer(), cfg, in, bf16());
        err.printf("rollouts on Spark (%s)%n", spark.describe());
        return new Rollouts() {
            @Override
            public void finished(PrintWriter e) {
                e.printf("spark: %.1f MB of weights broadcast (%s), %.2f s to copy and broadcast them%n",
                        spark.engine().bytesBroadcast() / 1e6, bf16() ? "bf16" : "fp32",
                        spark.engine().broadcastSeconds());
            }

            @Override
            public void close() {
                spark.close();
            }
        };
    }
}
