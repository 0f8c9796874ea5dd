package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.tensor.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** pretrain, sft and eval through the command line, on stories260K and its tokenizer (skipped where absent). */
class TrainCommandsTest {
    private static final String STORIES = "models/stories260K/stories260K.bin";
    private StringWriter out = new StringWriter(), err = new StringWriter();

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    private static Path sftData(Path dir) throws Exception {
        Path f = dir.resolve("sft.jsonl");
        StringBuilder sb = new StringBuilder();
        String[][] pairs = {{"Once upon a time, there was a cat.", " The cat liked to play with a red ball."},
                {"Tom had a big dog.", " The dog was happy and ran in the park."},
                {"Lily saw a bird.", " The bird sang a song and flew away."},
                {"Ben found a box.", " In the box there was a little toy car."}};
        for (String[] p : pairs) {
            sb.append(new ObjectMapper().writeValueAsString(java.util.Map.of("prompt", p[0], "completion", p[1])))
                    .append('\n');
        }
        Files.writeString(f, sb.toString());
        return f;
    }

    @Test
    void sftWithAYamlConfigTrainsWritesAndResumes(@TempDir Path tmp) throws Exception {
        Path model = SharedData.require(STORIES);
        Path data = sftData(tmp);
        Path cfg = tmp.resolve("sft.yaml");
        Files.writeString(cfg, "learning_rate: 3.0e-3\nper_device_train_batch_size: 2\nmax_steps: 4\nsave_steps: 2\n"
                + "max_length: 64\nlogging_steps: 1\nlr_scheduler_type: cosine\n");
        Path outDir = tmp.resolve("run");
        assertEquals(0, run("sft", "--config", cfg.toString(), "--model", model.toString(), "--data", data.toString(),
                "--out", outDir.toString(), "--max-steps", "6", "--eval-split", "0.25"), err.toString());
        List<String> lines = Files.readAllLines(outDir.resolve("metrics.jsonl"));
        assertEquals(6, lines.size(), "--max-steps on the command line overrides the file's 4");
        JsonNode first = new ObjectMapper().readTree(lines.get(0));
        assertEquals(3.0e-3, first.get("learning_rate").asDouble(), 1e-12, "cosine starts at the peak from the file");
        assertTrue(new ObjectMapper().readTree(lines.get(5)).has("eval_loss"));
        for (String f : new String[] {"config.json", "model.safetensors", "tokenizer.json", "train_results.json",
                "checkpoint-6/trainer_state.json", "checkpoint-4/optimizer.safetensors"}) {
            assertTrue(Files.exists(outDir.resolve(f)), f);
        }
        // the trained model is an HF directory that the other commands open
        assertEquals(0, run("eval", "--model", outDir.toString(), "--data", data.toString(), "--json"), err.toString());
        JsonNode eval = new ObjectMapper().readTree(out.toString());
        assertTrue(eval.get("loss").asDouble() > 0 && eval.get("perplexity").asDouble() > 1);
        // resume: continue the same run to 8 steps
        assertEquals(0, run("sft", "--config", cfg.toString(), "--model", model.toString(), "--data", data.toString(),
                "--out", outDir.toString(), "--max-steps", "8", "--eval-split", "0.25", "--resume"), err.toString());
        assertEquals(8, Files.readAllLines(outDir.resolve("metrics.jsonl")).size());
        assertTrue(err.toString().contains("resuming from"), err.toString());
    }

    @Test
    void pretrainFromScratchWithAModelConfigAndTokenizer(@TempDir Path tmp) throws Exception {
        Path tok = SharedData.require("models/stories260K/tok512.bin");
        Path text = SharedData.require("text/tinystories-valid-sample.txt");
        Path small = tmp.resolve("small.txt");
        Files.writeString(small, Files.readString(text).substring(0, 20_000));
        Path modelCfg = tmp.resolve("model.yaml");
        Files.writeString(modelCfg, "family: llama\ndim: 32\nlayers: 2\nheads: 4\nkv_heads: 2\nmax_seq_len: 128\n");
        Path outDir = tmp.resolve("pre");
        assertEquals(0, run("pretrain", "--model", modelCfg.toString(), "--tokenizer", tok.toString(), "--data",
                small.toString(), "--out", outDir.toString(), "--max-steps", "3", "--max-length", "128",
                "--per-device-train-batch-size", "4", "--learning-rate", "1e-3"), err.toString());
        assertEquals(3, Files.readAllLines(outDir.resolve("metrics.jsonl")).size());
        assertEquals(0, run("info", "--model", outDir.toString(), "--json"), err.toString());
        assertTrue(out.toString().contains("\"layers\":2"), out.toString());
    }

    @Test
    void badInputStopsBeforeTrainingWithOneLine(@TempDir Path tmp) throws Exception {
        Path model = SharedData.require(STORIES);
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"a\"\n");
        Path outDir = tmp.resolve("never");
        assertEquals(1, run("sft", "--model", model.toString(), "--data", bad.toString(), "--out", outDir.toString()));
        assertTrue(err.toString().contains("bad.jsonl:2"), err.toString());
        assertFalse(Files.exists(outDir.resolve("metrics.jsonl")), "no training started");

        Path cfg = tmp.resolve("typo.yaml");
        Files.writeString(cfg, "learning_rat: 1e-3\n");
        assertEquals(1, run("sft", "--config", cfg.toString(), "--model", model.toString(), "--data", bad.toString(),
                "--out", outDir.toString()));
        assertTrue(err.toString().contains("unknown option 'learning_rat'"), err.toString());

        Path data = sftData(tmp);
        assertEquals(1, run("sft", "--model", model.toString(), "--data", data.toString(), "--out",
                outDir.toString(), "--max-length", "4096"));
        assertTrue(err.toString().contains("maximum sequence length of 512"), err.toString());

        Path file = tmp.resolve("a-file");
        Files.writeString(file, "x");
        assertEquals(1, run("sft", "--model", model.toString(), "--data", data.toString(), "--out",
                file.resolve("sub").toString()));
        assertTrue(err.toString().startsWith("rlhf4j: ") && err.toString().contains("output directory"),
                err.toString());
        assertEquals(1, err.toString().trim().lines().count(), err.toString());
    }
}
