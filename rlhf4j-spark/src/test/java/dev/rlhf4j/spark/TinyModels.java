package dev.rlhf4j.spark;

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

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A tiny world for the jobs, with no downloads: a byte-level BPE tokenizer trained on a little of the lab's corpus, a
 * 2-layer Llama-family language model and a reward model of the same shape (both initialised from a seed, saved as HF
 * directories with the tokenizer), the lab's prompts, and prompt/response records. Deterministic.
 */
final class TinyModels {
    private static final ObjectMapper JSON = new ObjectMapper();

    final Path policy, rewardModel, prompts, responses;

    private TinyModels(Path dir) {
        policy = dir.resolve("policy");
        rewardModel = dir.resolve("rm");
        prompts = dir.resolve("prompts.jsonl");
        responses = dir.resolve("responses.jsonl");
    }

    static TinyModels create(Path dir) throws IOException {
        TinyModels t = new TinyModels(dir);
        LabWorld w = new LabWorld(0);
        Tokenizer tok = new BpeTrainer(300, List.of(LabDataset.EOS, LabDataset.PAD),
                Map.of("bos_token", LabDataset.EOS, "eos_token", LabDataset.EOS,
                        "pad_token", LabDataset.PAD)).train(LabData.corpus(w, 150, 50));
        ModelConfig c = ModelConfig.llama(tok.vocabSize(), 32, 2, 4, 2, 64, 96, 1e-5f, 10000.0, Rope.Style.ROTATE_HALF,
                false, false);
        HfCheckpoint.SaveOptions save = HfCheckpoint.SaveOptions.of(Safetensors.DType.F32).withTokenizer(tok);
        HfCheckpoint.save(Transformer.create(c, OutputHeads.LM, 1), t.policy, save);
        HfCheckpoint.save(Transformer.create(c, OutputHeads.SCALAR, 2), t.rewardModel, save);
        StringBuilder ps = new StringBuilder();
        for (String p : LabData.prompts(w, 21, 4)) {
            ps.append(JSON.writeValueAsString(Map.of("prompt", p))).append('\n');
        }
        Files.writeString(t.prompts, ps);
        StringBuilder rs = new StringBuilder();
        for (String[] d : LabData.demonstrations(w, 19, 2)) {
            rs.append(JSON.writeValueAsString(Map.of("prompt", d[0], "response", d[1]))).append('\n');
        }
        Files.writeString(t.responses, rs);
        return t;
    }
}
