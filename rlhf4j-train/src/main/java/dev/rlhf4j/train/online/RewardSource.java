package dev.rlhf4j.train.online;

import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.lab.GoldReward;
import dev.rlhf4j.train.lab.LabWorld;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.RewardFunction;
import dev.rlhf4j.train.ppo.RewardModelReward;
import dev.rlhf4j.train.reward.RewardStats;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Where scores come from, as {@code best-of-n} and {@code online-dpo} name it: a reward model directory (optionally
 * normalised with the statistics {@code reward train} stored with it), or the lab world's gold reward.
 *
 * @param rewardModel     a reward model directory; null with {@code labWorldSeed}
 * @param labWorldSeed    the seed of the lab world whose gold reward scores episodes; null with a reward model
 * @param normalizeReward normalise the reward model's scores with its stored mean and std
 */
public record RewardSource(Path rewardModel, Long labWorldSeed, boolean normalizeReward) {
    public RewardSource {
        if ((rewardModel == null) == (labWorldSeed == null)) {
            throw new UserError("give exactly one of a reward model and the lab world's reward");
        }
        if (normalizeReward && rewardModel == null) {
            throw new UserError("normalize_reward needs a reward model (the built-in rewards have no statistics)");
        }
    }

    /**
     * The reward function for a policy with tokenizer {@code policyTokenizer} on {@code prompts}; a reward model
     * whose tokenizer differs re-tokenises episodes from their text (refused for rendered conversations, as ppo does).
     */
    public RewardFunction open(Tokenizer policyTokenizer, List<Prompt> prompts, int batchSize, PrintWriter console)
            throws IOException {
        RewardFunction rf = open(policyTokenizer, batchSize);
        checkPrompts(rf, prompts);
        if (rf instanceof RewardModelReward rmr && rmr.retokenizes()) {
            console.println("the reward model's tokenizer differs from the policy's: episodes are re-tokenised from "
                    + "their text for it");
        }
        return rf;
    }

    /** The reward function for a policy with tokenizer {@code policyTokenizer}, its prompts not yet checked. */
    public RewardFunction open(Tokenizer policyTokenizer, int batchSize) throws IOException {
        if (labWorldSeed != null) {
            return new GoldReward(new LabWorld(labWorldSeed));
        }
        Pretrained rm = Pretrained.open(rewardModel, null);
        RewardStats stats = null;
        if (normalizeReward) {
            stats = RewardStats.read(rewardModel).orElseThrow(() -> new UserError(rewardModel
                    + ": --normalize-reward needs the reward statistics in config.json (written by reward train)"));
        }
        if (!rm.model().heads().scalar()) {
            throw new UserError(rewardModel + ": not a reward model (no scalar head score.weight)");
        }
        RewardModelReward rmr = new RewardModelReward(rm.model(), rm.requireTokenizer(), policyTokenizer, stats, 0,
                batchSize);
        rm.model().freeze();
        return rmr;
    }

    /**
     * Refuses conversation prompts for a reward model that re-tokenises episodes from their text: a conversation
     * rendered with the policy's chat template cannot be re-tokenised for it.
     */
    public void checkPrompts(RewardFunction rf, List<Prompt> prompts) {
        if (rf instanceof RewardModelReward rmr && rmr.retokenizes() && prompts.stream().anyMatch(Prompt::chat)) {
            throw new UserError(rewardModel + ": its tokenizer differs from the policy's, and conversation "
                    + "prompts rendered with the policy's chat template cannot be re-tokenised for it; use a "
                    + "reward model with the policy's tokenizer, or plain-text prompts");
        }
    }

    /** The world seed of a built-in reward named {@code lab} (seed 0) or {@code lab:SEED}, as --reward takes it. */
    public static long labSeed(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        if (n.equals("lab")) {
            return 0;
        }
        if (n.startsWith("lab:")) {
            try {
                return Long.parseLong(n.substring(4));
            } catch (NumberFormatException e) {
                throw new UserError("--reward lab:SEED needs a whole number, got '" + name + "'");
            }
        }
        throw new UserError("--reward must be lab or lab:SEED, got '" + name + "'");
    }

    /** The lab world, when the reward is its gold reward; else null. */
    public LabWorld labWorld() {
        return labWorldSeed == null ? null : new LabWorld(labWorldSeed);
    }
}
