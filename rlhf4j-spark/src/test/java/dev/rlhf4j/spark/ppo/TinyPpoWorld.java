package dev.rlhf4j.spark.ppo;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.model.tokenizer.BpeTrainer;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.train.lab.LabData;
import dev.rlhf4j.train.lab.LabDataset;
import dev.rlhf4j.train.lab.LabWorld;
import dev.rlhf4j.train.run.PpoRun;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A tiny PPO world on disk, as executors read it: a 2-layer Llama-family policy and an untrained reward model of
 * its shape (a BPE tokenizer trained on a little of the lab's corpus), and 40 of the lab's prompts.
 */
record TinyPpoWorld(Path policy, Path rewardModel, Path prompts) {
    private static final ObjectMapper JSON = new ObjectMapper();

    static TinyPpoWorld create(Path dir) throws IOException {
        LabWorld w = new LabWorld(0);
        Tokenizer tok = new BpeTrainer(300, List.of(LabDataset.EOS, LabDataset.PAD),
                Map.of("bos_token", LabDataset.EOS, "eos_token", LabDataset.EOS,
                        "pad_token", LabDataset.PAD)).train(LabData.corpus(w, 150, 50));
        ModelConfig cfg = ModelConfig.llama(tok.vocabSize(), 32, 2, 4, 2, 64, 96, 1e-5f, 10000.0,
                Rope.Style.ROTATE_HALF, true, false);
        TinyPpoWorld t = new TinyPpoWorld(dir.resolve("policy"), dir.resolve("rm"), dir.resolve("prompts.jsonl"));
        HfCheckpoint.save(Transformer.create(cfg, OutputHeads.LM, 1), t.policy,
                HfCheckpoint.SaveOptions.of(Safetensors.DType.F32).withTokenizer(tok));
        HfCheckpoint.save(Transformer.create(cfg, OutputHeads.SCALAR, 2), t.rewardModel,
                HfCheckpoint.SaveOptions.of(Safetensors.DType.F32).withTokenizer(tok));
        StringBuilder ps = new StringBuilder();
        for (String p : LabData.prompts(w, 40, 4)) {
            ps.append(JSON.writeValueAsString(Map.of("prompt", p))).append('\n');
        }
        Files.writeString(t.prompts, ps);
        return t;
    }

    /** PPO's inputs: the policy, and the reward model or (with {@code labReward}) the lab's gold reward. */
    PpoRun.Inputs inputs(boolean labReward) {
        return new PpoRun.Inputs(policy, null, labReward ? null : rewardModel, labReward ? 3L : null, null, prompts,
                null, false, 0, Safetensors.DType.F32);
    }
}
