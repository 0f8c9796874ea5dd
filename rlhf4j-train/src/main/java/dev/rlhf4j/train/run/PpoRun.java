package dev.rlhf4j.train.run;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.model.LoraConfig;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.WeightDtype;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.train.data.DatasetReader;
import dev.rlhf4j.train.data.Example;
import dev.rlhf4j.train.data.Tokenization;
import dev.rlhf4j.train.lab.GoldReward;
import dev.rlhf4j.train.lab.LabWorld;
import dev.rlhf4j.train.ppo.PpoConfig;
import dev.rlhf4j.train.ppo.PpoCritic;
import dev.rlhf4j.train.ppo.PpoTrainer;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.PromptReader;
import dev.rlhf4j.train.ppo.RewardFunction;
import dev.rlhf4j.train.ppo.RewardModelReward;
import dev.rlhf4j.train.reward.RewardStats;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A PPO run assembled from paths, as {@code rlhf4j ppo} runs it and a Java user can: the policy and its frozen
 * reference, the reward (a reward model, re-tokenising episodes when its tokenizer differs from the policy's, or the
 * lab world's gold reward), the critic (from the value model, else the reward model, else the policy with a new
 * scalar head), the prompts, and the PPO-ptx data; the final policy and critic are written as HF directories.
 *
 * @param trainer the trainer, ready to {@link PpoTrainer#train}
 * @param policy  the trained policy
 * @param critic  the trained critic
 * @param prompts the prompts read
 */
public record PpoRun(PpoTrainer trainer, Transformer policy, Transformer critic, List<Prompt> prompts) {

    /**
     * Where a run's models and data come from.
     *
     * @param policy          the policy to start from (an SFT model with an LM head)
     * @param reference       the frozen reference of the KL penalty; null: the policy as it starts (a later round of
     *                        {@code rlhf4j loop} starts from its last policy but keeps the SFT model as reference)
     * @param rewardModel     a reward model directory; null with {@code labWorldSeed}
     * @param labWorldSeed    the seed of the lab world whose gold reward scores episodes; null with a reward model
     * @param valueModel      the model the critic starts from; null: the reward model, else the policy
     * @param prompts         the prompts file (JSONL: {@code {"prompt"}} or {@code {"messages"}})
     * @param ptxData         pretraining text for PPO-ptx; null unless {@code ptx_coef > 0}
     * @param normalizeReward normalise scores with the statistics stored with the reward model
     * @param rewardClip      clip scores to [-c, c]; 0 = off
     * @param saveDtype       the dtype the final policy and critic are written in
     * @param lora            LoRA adapters for the policy (and the critic), the base weights frozen and shared with the
     *                        reference; null: full fine-tuning
     * @param critic          what the critic is (see {@link PpoCritic})
     * @param frozenDtype     how the frozen weights are held: the reference, the reward model and, under LoRA, the
     *                        base (fp32, or bf16: half the bytes; computation stays fp32)
     */
    public record Inputs(Path policy, Path reference, Path rewardModel, Long labWorldSeed, Path valueModel,
                         Path prompts, Path ptxData, boolean normalizeReward, double rewardClip,
                         Safetensors.DType saveDtype, LoraConfig lora, PpoCritic critic,
                         WeightDtype frozenDtype) {
        /** Full fine-tuning with a separate critic. */
        public Inputs(Path policy, Path reference, Path rewardModel, Long labWorldSeed, Path valueModel, Path prompts,
                      Path ptxData, boolean normalizeReward, double rewardClip, Safetensors.DType saveDtype) {
            this(policy, reference, rewardModel, labWorldSeed, valueModel, prompts, ptxData, normalizeReward,
                    rewardClip, saveDtype, null, PpoCritic.SEPARATE, WeightDtype.FP32);
        }

        /** These inputs with LoRA adapters ({@code null}: full fine-tuning) and the critic {@code critic}. */
        public Inputs with(LoraConfig loraConfig, PpoCritic criticMode) {
            return new Inputs(policy, reference, rewardModel, labWorldSeed, valueModel, prompts, ptxData,
                    normalizeReward, rewardClip, saveDtype, loraConfig, criticMode, frozenDtype);
        }

        /** These inputs with the frozen weights held as {@code dtype}. */
        public Inputs withFrozenDtype(WeightDtype dtype) {
            return new Inputs(policy, reference, rewardModel, labWorldSeed, valueModel, prompts, ptxData,
                    normalizeReward, rewardClip, saveDtype, lora, critic, dtype);
        }

        public Inputs {
            if (critic == null) {
                throw new UserError("the critic must be separate, shared or value-head");
            }
            if (frozenDtype == null) {
                frozenDtype = WeightDtype.FP32;
            }
            if (critic == PpoCritic.SHARED && lora == null) {
                throw new UserError("critic 'shared' shares the policy's frozen base, so it needs LoRA (lora_r); "
                        + "without LoRA use separate or value-head");
            }
            if ((rewardModel == null) == (labWorldSeed == null)) {
                throw new UserError("give exactly one of a reward model and the lab world's reward");
            }
            if (normalizeReward && rewardModel == null) {
                throw new UserError("normalize_reward needs a reward model (the built-in rewards have "
                        + "no statistics)");
            }
            if (!(rewardClip >= 0)) {
                throw new UserError("reward_clip must be >= 0, got " + rewardClip);
            }
        }
    }

    /** Reads the models and data named by {@code in} and builds the trainer; {@code console} gets its notices. */
    public static PpoRun fromPaths(PpoConfig cfg, Inputs in, PrintWriter console) throws IOException {
        Pretrained policyPm = Pretrained.open(in.policy(), null);
        Tokenizer tok = policyPm.requireTokenizer();
        Transformer start = policyPm.model();
        if (!start.heads().lm()) {
            throw new UserError(in.policy() + ": the policy must be a language model (it has no LM "
                    + "head)");
        }
        boolean valueHead = in.critic() == PpoCritic.VALUE_HEAD;
        OutputHeads policyHeads = valueHead ? OutputHeads.BOTH : OutputHeads.LM;
        Transformer policy;
        if (in.lora() != null) {
            // the starting weights are held once: frozen under the adapter, and as they are for the reference
            Transformer base = start.heads() == OutputHeads.LM ? start : start.withHeads(OutputHeads.LM, cfg.seed());
            policy = pack(base, in.frozenDtype()).withLora(in.lora(), policyHeads, cfg.seed());
            policy.lora().baseModel(in.policy().toAbsolutePath().toString());
        } else {
            policy = valueHead ? start.withHeads(OutputHeads.BOTH, cfg.seed()) : start;
        }
        Transformer reference;
        if (in.reference() == null) {
            reference = in.lora() != null ? policy.withoutAdapters()
                    : in.frozenDtype() == WeightDtype.FP32 ? start.frozenCopy() : start.packed(in.frozenDtype());
        } else {
            Pretrained refPm = Pretrained.open(in.reference(), null);
            reference = refPm.model();
            if (!reference.heads().lm()) {
                throw new UserError(in.reference() + ": the reference must be a language model (it has no LM head)");
            }
            if (reference.config().vocabSize() != policy.config().vocabSize()) {
                throw new UserError(in.reference() + ": the reference's vocabulary (" + reference.config().vocabSize()
                        + ") differs from the policy's (" + policy.config().vocabSize() + "); the KL penalty compares "
                        + "their probabilities of the same tokens");
            }
            reference.freeze();
            reference = pack(reference, in.frozenDtype());
        }
        List<Prompt> prompts = PromptReader.read(in.prompts(), policyPm.chatTemplate());
        Transformer rmFrozen = null;
        Pretrained rmPm = null;
        RewardFunction rf;
        Pretrained criticPm;
        if (in.labWorldSeed() != null) {
            rf = new GoldReward(new LabWorld(in.labWorldSeed()));
            criticPm = in.valueModel() == null ? null : Pretrained.open(in.valueModel(), null);
        } else {
            Path rewardModel = in.rewardModel();
            Pretrained rm = Pretrained.open(rewardModel, null);
            RewardStats stats = null;
            if (in.normalizeReward()) {
                stats = RewardStats.read(rewardModel).orElseThrow(() -> new UserError(rewardModel
                        + ": --normalize-reward needs the reward statistics in config.json (written by reward train)"));
            }
            Tokenizer rmTok = rm.requireTokenizer();
            rm.model().freeze();
            rmFrozen = pack(rm.model(), in.frozenDtype());
            rmPm = rm;
            RewardModelReward rmr = new RewardModelReward(rmFrozen, rmTok, tok, stats, in.rewardClip(),
                    cfg.localRolloutForwardBatchSize());
            if (rmr.retokenizes()) {
                if (prompts.stream().anyMatch(Prompt::chat)) {
                    throw new UserError(rewardModel + ": its tokenizer differs from the policy's, and "
                            + "conversation prompts rendered with the policy's chat template cannot be re-tokenised "
                            + "for it; use a reward model with the policy's tokenizer, or plain-text prompts");
                }
                console.println("the reward model's tokenizer differs from the policy's: episodes are re-tokenised "
                        + "from their text for it");
            }
            rm.model().freeze();
            rf = rmr;
            criticPm = in.valueModel() == null ? rm : Pretrained.open(in.valueModel(), null);
        }
        Transformer critic;
        HfCheckpoint.SaveOptions criticSave;
        if (valueHead) {
            critic = policy;
            criticSave = null;
        } else if (criticPm == null || in.critic() == PpoCritic.SHARED) {
            critic = in.lora() != null ? policy.withoutAdapters().withLora(in.lora(), OutputHeads.SCALAR,
                    cfg.seed() + 1) : start.withHeads(OutputHeads.SCALAR, cfg.seed());
            if (critic.hasAdapters()) {
                critic.lora().baseModel(in.policy().toAbsolutePath().toString());
            }
            criticSave = HfCheckpoint.SaveOptions.like(policyPm.loaded(), in.saveDtype()).withTokenizer(tok);
        } else {
            // under LoRA the critic's frozen base is the reward model's weights as the reward holds them
            Transformer v = in.lora() != null && criticPm == rmPm ? rmFrozen : criticPm.model();
            if (in.lora() != null) {
                // the value model's weights stay frozen (shared with the reward model when it is the reward model)
                Transformer base = v.heads() == OutputHeads.SCALAR || v.heads() == OutputHeads.LM ? v
                        : v.withHeads(OutputHeads.SCALAR, cfg.seed());
                critic = base.withLora(in.lora(), OutputHeads.SCALAR, cfg.seed() + 1);
                critic.lora().baseModel(criticPm.loaded().source().toAbsolutePath().toString());
            } else {
                critic = v.heads() == OutputHeads.SCALAR ? v.copy() : v.withHeads(OutputHeads.SCALAR, cfg.seed());
            }
            criticSave = HfCheckpoint.SaveOptions.like(criticPm.loaded(), in.saveDtype()).withTokenizer(tok);
        }
        if (critic.config().vocabSize() != policy.config().vocabSize()) {
            throw new UserError("the value model's vocabulary (" + critic.config().vocabSize()
                    + ") differs from the policy's (" + policy.config().vocabSize() + "): the critic reads the "
                    + "policy's tokens; give --value-model with the policy's tokenizer");
        }
        List<int[]> ptx = List.of();
        if (cfg.ptxCoef() > 0) {
            ptx = new ArrayList<>();
            for (Example e : Tokenization.tokenize(DatasetReader.read(in.ptxData()), tok, policyPm.chatTemplate(),
                    policy.config().maxSeqLen(), false).examples()) {
                ptx.add(e.tokens());
            }
        }
        HfCheckpoint.SaveOptions policySave = HfCheckpoint.SaveOptions.like(policyPm.loaded(), in.saveDtype())
                .withTokenizer(tok);
        PpoTrainer trainer = new PpoTrainer(cfg, policy, reference, critic, rf, tok, prompts, policyPm.eosIds(), ptx,
                console).writers((m, dir) -> HfCheckpoint.save(m, dir, policySave),
                criticSave == null ? null : (m, dir) -> HfCheckpoint.save(m, dir, criticSave));
        return new PpoRun(trainer, policy, critic, prompts);
    }

    /** {@code model} frozen, its matrices held as {@code dtype} (itself for fp32). */
    private static Transformer pack(Transformer model, WeightDtype dtype) {
        if (dtype == WeightDtype.FP32) {
            return model;
        }
        return model.packed(dtype);
    }
}
