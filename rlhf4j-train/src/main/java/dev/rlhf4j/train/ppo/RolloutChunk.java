package dev.rlhf4j.train.ppo;

import java.io.Serializable;
import java.util.List;

/**
 * One chunk of a PPO step's rollout: {@code local_rollout_forward_batch_size} consecutive prompts of the step's batch
 * (the last chunk may be smaller), sampled as one batch and run through the policy, the reference, the critic and
 * the reward as one batch. A chunk is the unit of rollout work, locally and on a cluster: it depends only on the
 * models' weights, the step, the chunk's offset {@code from} in the step's batch and its prompts, so whoever
 * computes it gets the same numbers.
 *
 * @param from        the offset of the chunk's first episode in the step's batch
 * @param episodes    the sampled episodes
 * @param logprobs    the sampling policy's log-probability of each response token
 * @param refLogprobs the frozen reference's
 * @param values      the critic's value before each response token
 * @param scores      the reward function's score of each episode (before the missing-EOS penalty)
 * @param nanos       time spent sampling, in the policy (and critic) forward, in the reference and scoring
 */
public record RolloutChunk(int from, List<Episode> episodes, double[][] logprobs, double[][] refLogprobs,
                           double[][] values, double[] scores, Timing nanos) implements Serializable {

    /** Where a chunk's time went, in nanoseconds. */
    public record Timing(long sampling, long forward, long reference, long scoring) implements Serializable {
        /** The sum of two chunks' times. */
        public Timing plus(Timing o) {
            return new Timing(sampling + o.sampling, forward + o.forward, reference + o.reference,
                    scoring + o.scoring);
        }
    }

    public RolloutChunk {
        int n = episodes.size();
        if (logprobs.length != n || refLogprobs.length != n || values.length != n || scores.length != n) {
            throw new IllegalArgumentException("rollout chunk at " + from + ": " + n + " episodes but "
                    + logprobs.length + "/" + refLogprobs.length + "/" + values.length + "/" + scores.length
                    + " log-prob, reference, value and score rows");
        }
    }
}
