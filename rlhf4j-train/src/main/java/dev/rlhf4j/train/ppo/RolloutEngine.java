package dev.rlhf4j.train.ppo;

import java.util.List;
import java.util.Map;

/**
 * Who computes a PPO step's rollout chunks (see {@link RolloutChunk}). The trainer's own engine computes them one
 * after another in this process; a cluster engine (rlhf4j-spark) ships the policy's and critic's current weights to
 * its workers, which compute the chunks in parallel with {@link PpoTrainer#rolloutChunk} on their own copies of the
 * models. Either way the trainer gets the same chunks and runs the update itself.
 */
@FunctionalInterface
public interface RolloutEngine {

    /**
     * The chunks of step {@code step}, in order: chunk {@code c} holds the episodes of the prompts
     * {@code chunks.get(c)} (indices into the trainer's prompts) and starts at offset {@code c ×
     * local_rollout_forward_batch_size} of the step's batch.
     */
    List<RolloutChunk> rollout(int step, List<int[]> chunks);

    /**
     * Metrics of the last {@link #rollout} beyond the trainer's own (a cluster's broadcast time and bytes, say),
     * written with the step's metrics.
     */
    default Map<String, Double> lastMetrics() {
        return Map.of();
    }
}
