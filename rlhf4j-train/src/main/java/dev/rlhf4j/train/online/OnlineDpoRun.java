package dev.rlhf4j.train.online;

import dev.rlhf4j.model.LoraConfig;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.lab.Annotator;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.PromptReader;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;

/**
 * An online DPO run assembled from paths, as {@code rlhf4j online-dpo} runs it and a Java user can: the policy and
 * its frozen reference, the judge (a reward model, the lab's gold reward, or a simulated annotator of the lab), the
 * prompts; the final policy is written as an HF directory.
 *
 * @param trainer the trainer, ready to {@link OnlineDpoTrainer#train}
 * @param policy  the trained policy
 * @param prompts the prompts read
 */
public record OnlineDpoRun(OnlineDpoTrainer trainer, Transformer policy, List<Prompt> prompts) {

    /**
     * Where a run's models and data come from.
     *
     * @param policy               the policy to start from (an SFT model)
     * @param reference            the frozen reference; null: the policy as it starts
     * @param reward               what judges: a reward model or the lab's gold reward
     * @param annotatorTemperature &gt; 0: a simulated annotator of the lab at this temperature judges instead of the
     *                             gold reward's exact comparison (needs the lab's reward); 0 = off
     * @param prompts              the prompts file
     * @param saveDtype            the dtype the final policy is written in
     * @param lora                 LoRA adapters for the policy (its base frozen and shared with the reference); null:
     *                             full fine-tuning
     */
    public record Inputs(Path policy, Path reference, RewardSource reward, double annotatorTemperature, Path prompts,
                         Safetensors.DType saveDtype, LoraConfig lora) {
        /** Full fine-tuning. */
        public Inputs(Path policy, Path reference, RewardSource reward, double annotatorTemperature, Path prompts,
                      Safetensors.DType saveDtype) {
            this(policy, reference, reward, annotatorTemperature, prompts, saveDtype, null);
        }

        /** These inputs with LoRA adapters ({@code null}: full fine-tuning). */
        public Inputs withLora(LoraConfig loraConfig) {
            return new Inputs(policy, reference, reward, annotatorTemperature, prompts, saveDtype, loraConfig);
        }

        public Inputs {
            if (!(annotatorTemperature >= 0) || Double.isInfinite(annotatorTemperature)) {
                throw new UserError("annotator_temperature must be >= 0 (0 = off), got " + annotatorTemperature);
            }
            if (annotatorTemperature > 0 && reward.labWorldSeed() == null) {
                throw new UserError("annotator_temperature needs the lab's reward (the simulated annotators judge by "
                        + "the gold reward)");
            }
        }
    }

    /** Reads the models and data named by {@code in} and builds the trainer; {@code console} gets its notices. */
    public static OnlineDpoRun fromPaths(OnlineDpoConfig cfg, Inputs in, PrintWriter console) throws IOException {
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
        if (in.reference() == null) {
            // under LoRA the reference is the frozen base itself: one copy of the weights
            reference = in.lora() != null ? policy.withoutAdapters() : policy.frozenCopy();
        } else {
            reference = Pretrained.open(in.reference(), null).model();
            if (!reference.heads().lm()) {
                throw new UserError(in.reference() + ": the reference must be a language model (it has no LM head)");
            }
            if (reference.config().vocabSize() != policy.config().vocabSize()) {
                throw new UserError(in.reference() + ": the reference's vocabulary (" + reference.config().vocabSize()
                        + ") differs from the policy's (" + policy.config().vocabSize() + ")");
            }
            reference.freeze();
        }
        List<Prompt> prompts = PromptReader.read(in.prompts(), policyPm.chatTemplate());
        PairJudge judge = in.annotatorTemperature() > 0
                ? PairJudge.annotator(in.reward().labWorld(), new Annotator(in.annotatorTemperature(), 0),
                        cfg.missingEosPenalty())
                : PairJudge.byScore(in.reward().open(tok, prompts, cfg.localRolloutForwardBatchSize(), console),
                        cfg.missingEosPenalty());
        HfCheckpoint.SaveOptions save = HfCheckpoint.SaveOptions.like(policyPm.loaded(), in.saveDtype())
                .withTokenizer(tok);
        OnlineDpoTrainer trainer = new OnlineDpoTrainer(cfg, policy, reference, judge, tok, prompts,
                policyPm.eosIds(), console).writer((m, dir) -> HfCheckpoint.save(m, dir, save));
        return new OnlineDpoRun(trainer, policy, prompts);
    }
}
