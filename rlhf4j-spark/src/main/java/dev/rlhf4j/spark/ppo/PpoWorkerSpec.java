package dev.rlhf4j.spark.ppo;

import dev.rlhf4j.model.LoraConfig;
import dev.rlhf4j.model.WeightDtype;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.train.ppo.PpoConfig;
import dev.rlhf4j.train.ppo.PpoCritic;
import dev.rlhf4j.train.ppo.PpoTrainer;
import dev.rlhf4j.train.run.PpoRun;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.Serializable;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;

/**
 * What an executor needs to build its own copy of a PPO run's models, as the driver built them
 * ({@link PpoRun#fromPaths}): the input paths (readable at the same paths on every executor), how the models are
 * held, and the settings a rollout chunk depends on. Paths travel as strings ({@link Path} is not serialisable); the
 * optimizer, the PPO epochs and the PPO-ptx data stay on the driver, which runs the update.
 *
 * @param runId the driver's run: workers built for another run are not reused
 */
public record PpoWorkerSpec(String runId, String policy, String reference, String rewardModel, Long labWorldSeed,
                            String valueModel, String prompts, boolean normalizeReward, double rewardClip,
                            LoraSpec lora, PpoCritic critic, WeightDtype frozenDtype, long seed,
                            int localRolloutForwardBatchSize, int responseLength, float temperature,
                            boolean stopAtEos) implements Serializable {

    /** {@link LoraConfig} as plain values. */
    public record LoraSpec(int r, float alpha, float dropout, List<String> targetModules, boolean useRslora)
            implements Serializable {
        LoraConfig config() {
            return new LoraConfig(r, alpha, dropout, targetModules, useRslora);
        }

        static LoraSpec of(LoraConfig c) {
            return c == null ? null : new LoraSpec(c.r(), c.alpha(), c.dropout(), List.copyOf(c.targetModules()),
                    c.useRslora());
        }
    }

    /** The spec of the run the driver assembled from {@code in} with {@code cfg}. */
    public static PpoWorkerSpec of(String runId, PpoConfig cfg, PpoRun.Inputs in) {
        return new PpoWorkerSpec(runId, str(in.policy()), str(in.reference()), str(in.rewardModel()),
                in.labWorldSeed(), str(in.valueModel()), str(in.prompts()), in.normalizeReward(), in.rewardClip(),
                LoraSpec.of(in.lora()), in.critic(), in.frozenDtype(), cfg.seed(),
                cfg.localRolloutForwardBatchSize(), cfg.responseLength(), cfg.temperature(), cfg.stopAtEos());
    }

    /**
     * Builds this run's trainer on an executor: the same models as the driver's, from the same paths and seed (the
     * new heads and adapters are initialised from the seed, then overwritten by the driver's weights before each
     * rollout). Its rollout chunks are what the driver's own would be.
     */
    public PpoTrainer build() throws IOException {
        // the output directory is the driver's business: a worker writes nothing
        PpoConfig.Builder b = PpoConfig.builder(Path.of(System.getProperty("java.io.tmpdir"), "rlhf4j-ppo-worker"));
        b.seed(seed);
        b.localRolloutForwardBatchSize(localRolloutForwardBatchSize);
        b.responseLength(responseLength);
        b.temperature(temperature);
        b.stopAtEos(stopAtEos);
        PpoRun.Inputs in = new PpoRun.Inputs(path(policy), path(reference), path(rewardModel), labWorldSeed,
                path(valueModel), path(prompts), null, normalizeReward, rewardClip, Safetensors.DType.F32,
                lora == null ? null : lora.config(), critic, frozenDtype);
        return PpoRun.fromPaths(b.build(), in, new PrintWriter(new StringWriter())).trainer();
    }

    private static String str(Path p) {
        return p == null ? null : p.toAbsolutePath().toString();
    }

    private static Path path(String s) {
        return s == null ? null : Path.of(s);
    }
}
