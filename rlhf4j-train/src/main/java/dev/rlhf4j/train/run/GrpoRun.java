package dev.rlhf4j.train.run;

import dev.rlhf4j.model.LoraConfig;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.grpo.GrpoConfig;
import dev.rlhf4j.train.grpo.GrpoTrainer;
import dev.rlhf4j.train.online.RewardSource;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.PromptReader;
import dev.rlhf4j.train.ppo.RewardFunction;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;

/**
 * A GRPO / RLOO / REINFORCE++ run assembled from paths, as {@code rlhf4j grpo} runs it and a Java user can: the
 * policy and its frozen reference, the reward (a reward model, the lab world's gold reward, or any
 * {@link RewardFunction} such as a {@link dev.rlhf4j.train.grpo.RuleReward}), and the prompts; the final policy is
 * written as an HF directory.
 *
 * @param trainer the trainer, ready to {@link GrpoTrainer#train}
 * @param policy  the trained policy
 * @param prompts the prompts read
 */
public record GrpoRun(GrpoTrainer trainer, Transformer policy, List<Prompt> prompts) {

    /**
     * Where a run's models and data come from; exactly one of {@code rewardModel}, {@code labWorldSeed} and
     * {@code rewardFunction}.
     *
     * @param policy          the policy to start from (an SFT model with an LM head)
     * @param reference       the frozen reference of the KL; null: the policy as it starts (none at all with β = 0)
     * @param rewardModel     a reward model directory
     * @param labWorldSeed    the seed of the lab world whose gold reward scores completions
     * @param rewardFunction  any other reward (a rule)
     * @param prompts         the prompts file (JSONL: {@code {"prompt"}} or {@code {"messages"}})
     * @param normalizeReward normalise scores with the statistics stored with the reward model
     * @param saveDtype       the dtype the final policy is written in
     * @param lora            LoRA adapters for the policy (its base frozen and shared with the reference); null: full
     *                        fine-tuning
     */
    public record Inputs(Path policy, Path reference, Path rewardModel, Long labWorldSeed,
                         RewardFunction rewardFunction, Path prompts, boolean normalizeReward,
                         Safetensors.DType saveDtype, LoraConfig lora) {
        /** Full fine-tuning. */
        public Inputs(Path policy, Path reference, Path rewardModel, Long labWorldSeed, RewardFunction rewardFunction,
                      Path prompts, boolean normalizeReward, Safetensors.DType saveDtype) {
            this(policy, reference, rewardModel, labWorldSeed, rewardFunction, prompts, normalizeReward, saveDtype,
                    null);
        }

        /** These inputs with LoRA adapters ({@code null}: full fine-tuning). */
        public Inputs withLora(LoraConfig loraConfig) {
            return new Inputs(policy, reference, rewardModel, labWorldSeed, rewardFunction, prompts, normalizeReward,
                    saveDtype, loraConfig);
        }

        public Inputs {
            int given = (rewardModel != null ? 1 : 0) + (labWorldSeed != null ? 1 : 0) + (rewardFunction != null ? 1
                    : 0);
            if (given != 1) {
                throw new UserError("give exactly one reward: a reward model, the lab world's reward or a rule");
            }
            if (normalizeReward && rewardModel == null) {
                throw new UserError("normalize_reward needs a reward model (the built-in rewards have no "
                        + "statistics)");
            }
        }
    }

    /** Reads the models and data named by {@code in} and builds the trainer; {@code console} gets its notices. */
    public static GrpoRun fromPaths(GrpoConfig cfg, Inputs in, PrintWriter console) throws IOException {
        Pretrained policyPm = Pretrained.open(in.policy(), null);
        Tokenizer tok = policyPm.requireTokenizer();
        Transformer policy = policyPm.model();
        if (!policy.heads().lm()) {
            throw new UserError(in.policy() + ": the policy must be a language model (it has no LM head)");
        }
        if (in.lora() != null) {
            policy = (policy.heads() == OutputHeads.LM ? policy : policy.withHeads(OutputHeads.LM, cfg.seed()))
                    .withLora(in.lora(), OutputHeads.LM, cfg.seed());
            policy.lora().baseModel(in.policy().toAbsolutePath().toString());
        }
        Transformer reference;
        if (cfg.beta() == 0) {
            reference = null; // no KL: the reference is never run, so none is held
        } else if (in.reference() == null) {
            // under LoRA the reference is the frozen base itself: one copy of the weights
            reference = in.lora() != null ? policy.withoutAdapters() : policy.frozenCopy();
        } else {
            reference = Pretrained.open(in.reference(), null).model();
            if (!reference.heads().lm()) {
                throw new UserError(in.reference() + ": the reference must be a language model (it has no LM head)");
            }
            if (!reference.config().equals(policy.config())) {
                throw new UserError(in.reference() + ": the reference's configuration differs from the policy's; "
                        + "the KL compares their probabilities of the same tokens");
            }
            reference.freeze();
        }
        List<Prompt> prompts = PromptReader.read(in.prompts(), policyPm.chatTemplate());
        // rule rewards are GRPO's own; a reward model and the lab world load as best-of-n and online-dpo load them
        RewardFunction rf = in.rewardFunction() != null ? in.rewardFunction()
                : new RewardSource(in.rewardModel(), in.labWorldSeed(), in.normalizeReward())
                        .open(tok, prompts, cfg.localRolloutForwardBatchSize(), console);
        HfCheckpoint.SaveOptions save = HfCheckpoint.SaveOptions.like(policyPm.loaded(), in.saveDtype())
                .withTokenizer(tok);
        GrpoTrainer trainer = new GrpoTrainer(cfg, policy, reference, rf, tok, prompts, policyPm.eosIds(), console)
                .writer((m, dir) -> HfCheckpoint.save(m, dir, save));
        return new GrpoRun(trainer, policy, prompts);
    }
}
