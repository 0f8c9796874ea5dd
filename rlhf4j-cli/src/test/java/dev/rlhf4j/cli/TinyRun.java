package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.tokenizer.BpeTrainer;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.train.lab.LabData;
import dev.rlhf4j.train.lab.LabDataset;
import dev.rlhf4j.train.lab.LabWorld;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * A tiny world to run the commands on without downloads: a byte-level BPE tokenizer trained on a little of the lab's
 * corpus, a 2-layer Llama-family model config, lab demonstrations for {@code sft} and lab prompts for {@code ppo
 * --reward lab}. Everything is deterministic.
 */
final class TinyRun {
    private static final ObjectMapper JSON = new ObjectMapper();

    final Path dir, tokenizer, modelYaml, sftData, prompts;

    private TinyRun(Path dir) {
        this.dir = dir;
        this.tokenizer = dir.resolve("tokenizer");
        this.modelYaml = dir.resolve("tiny.yaml");
        this.sftData = dir.resolve("sft.jsonl");
        this.prompts = dir.resolve("prompts.jsonl");
    }

    /** Writes the tokenizer, model config, SFT data and prompts into {@code dir}. */
    static TinyRun create(Path dir) throws IOException {
        TinyRun t = new TinyRun(dir);
        LabWorld w = new LabWorld(0);
        Tokenizer tok = new BpeTrainer(300, List.of(LabDataset.EOS, LabDataset.PAD),
                Map.of("bos_token", LabDataset.EOS, "eos_token", LabDataset.EOS,
                        "pad_token", LabDataset.PAD)).train(LabData.corpus(w, 150, 50));
        tok.save(t.tokenizer);
        Files.writeString(t.modelYaml, "family: llama\ndim: 32\nlayers: 2\nheads: 4\nkv_heads: 2\nmax_seq_len: 96\n");
        StringBuilder sft = new StringBuilder();
        for (String[] d : LabData.demonstrations(w, 24, 2)) {
            sft.append(JSON.writeValueAsString(Map.of("prompt", d[0], "completion", d[1]))).append('\n');
        }
        Files.writeString(t.sftData, sft);
        StringBuilder ps = new StringBuilder();
        for (String p : LabData.prompts(w, 32, 4)) {
            ps.append(JSON.writeValueAsString(Map.of("prompt", p))).append('\n');
        }
        Files.writeString(t.prompts, ps);
        return t;
    }

    /** Arguments of a small {@code sft} run from scratch into {@code out} (extra arguments appended). */
    String[] sft(Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("sft", "--model", modelYaml.toString(), "--tokenizer",
                tokenizer.toString(), "--data", sftData.toString(), "--out", out.toString(), "--max-length", "96",
                "--logging-steps", "1", "--lr-scheduler-type", "cosine"));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    /** Arguments of a small {@code ppo} run of {@code policy} against the lab's gold reward into {@code out}. */
    String[] ppo(Path policy, Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("ppo", "--policy", policy.toString(), "--reward", "lab",
                "--prompts", prompts.toString(), "--out", out.toString(), "--per-device-train-batch-size", "4",
                "--num-mini-batches", "2", "--num-ppo-epochs", "2", "--response-length", "12", "--learning-rate",
                "1e-3", "--sample-steps", "1", "--logging-steps", "1"));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    /** A policy to start PPO from: the tiny model after a few SFT steps, as an HF directory. */
    Path policy() {
        Path out = dir.resolve("policy");
        if (!Files.exists(out.resolve("model.safetensors"))) {
            StringWriter err = new StringWriter();
            int code = Main.run(new PrintWriter(new StringWriter()), new PrintWriter(err),
                    sft(out, "--max-steps", "2", "--learning-rate", "1e-3"));
            if (code != 0) {
                throw new IllegalStateException("the tiny policy failed to train: " + err);
            }
        }
        return out;
    }

    /** Every file under {@code dir} (but the lock file) with its bytes: a directory's whole state. */
    static Map<String, byte[]> snapshot(Path dir) throws IOException {
        Map<String, byte[]> files = new TreeMap<>();
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.filter(Files::isRegularFile).sorted(Comparator.naturalOrder()).toList()) {
                String rel = dir.relativize(p).toString();
                if (!rel.equals(dev.rlhf4j.train.RunDirectory.LOCK)) {
                    files.put(rel, Files.readAllBytes(p));
                }
            }
        }
        return files;
    }
}
