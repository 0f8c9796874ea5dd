package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code rlhf4j online-dpo} on the tiny lab model. */
class OnlineDpoCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path shared;
    private static TinyRun tiny;
    private StringWriter out = new StringWriter(), err = new StringWriter();

    @BeforeAll
    static void tinyWorld() throws Exception {
        tiny = TinyRun.create(shared);
        tiny.policy();
    }

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    private String[] args(Path dir, String... extra) {
        List<String> a = new ArrayList<>(List.of("online-dpo", "--policy", tiny.policy().toString(), "--prompts",
                tiny.prompts.toString(), "--out", dir.toString(), "--per-device-train-batch-size", "4",
                "--max-new-tokens", "12", "--learning-rate", "1e-3", "--logging-steps", "1", "--sample-steps", "1"));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    @Test
    void trainsAgainstTheGoldRewardWritesTrlMetricsAndResumes(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("odpo");
        Path cfg = tmp.resolve("odpo.yaml");
        Files.writeString(cfg, "beta: 0.2\nmax_steps: 2\nsave_steps: 1\n");
        assertEquals(0, run(args(dir, "--reward", "lab", "--config", cfg.toString())), err.toString());
        List<String> lines = Files.readAllLines(dir.resolve("metrics.jsonl"));
        assertEquals(2, lines.size());
        JsonNode m = JSON.readTree(lines.get(0));
        assertEquals(0.2, m.get("beta").asDouble(), 0, "beta from the config file");
        assertEquals(8, m.get("episode").asInt(), "4 prompts × 2 samples");
        for (String k : List.of("objective/kl", "objective/entropy", "objective/non_score_reward",
                "objective/rlhf_reward", "objective/scores", "val/contain_eos_token", "beta", "lr", "pairs")) {
            assertTrue(m.has(k), "metrics.jsonl lacks " + k + ": " + m);
        }
        assertTrue(m.get("pairs").asInt() > 0, "the gold reward separates some of the two samples: " + m);
        for (String k : List.of("rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
                "logps/chosen", "logps/rejected", "loss", "objective/scores_margin")) {
            assertTrue(m.has(k), "metrics.jsonl lacks " + k);
        }
        assertTrue(Files.exists(dir.resolve("model.safetensors")) && Files.exists(dir.resolve("tokenizer.json")));
        assertTrue(Files.exists(dir.resolve("samples.jsonl")));
        assertTrue(err.toString().contains("judge: the lab's gold reward"), err.toString());

        // killed after step 1: resuming from checkpoint-1 gives step 2 exactly as the uninterrupted run did
        Path cut = tmp.resolve("cut");
        assertEquals(0, run(args(cut, "--reward", "lab", "--config", cfg.toString(), "--max-steps", "1")),
                err.toString());
        assertEquals(0, run(args(cut, "--reward", "lab", "--config", cfg.toString(), "--resume")), err.toString());
        assertTrue(err.toString().contains("resuming from"), err.toString());
        List<String> resumed = Files.readAllLines(cut.resolve("metrics.jsonl"));
        assertEquals(2, resumed.size());
        // (loss is absent from a step whose two samples tied on every prompt: compared as absent then)
        for (String k : List.of("objective/scores", "objective/kl", "loss", "pairs", "episode")) {
            assertEquals(JSON.readTree(lines.get(1)).path(k), JSON.readTree(resumed.get(1)).path(k), k);
        }
        assertEquals(0, run(args(dir, "--reward", "lab", "--config", cfg.toString(), "--max-steps", "3",
                "--resume")), err.toString());
        assertEquals(3, Files.readAllLines(dir.resolve("metrics.jsonl")).size());
    }

    @Test
    void aSimulatedAnnotatorJudgesAndIpoTrains(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("ann");
        assertEquals(0, run(args(dir, "--reward", "lab:0", "--annotator-temperature", "0.5", "--loss-type", "ipo",
                "--max-steps", "1")), err.toString());
        assertTrue(err.toString().contains("a simulated annotator of the lab"), err.toString());
        JsonNode m = JSON.readTree(Files.readAllLines(dir.resolve("metrics.jsonl")).get(0));
        assertTrue(m.get("pairs").asInt() > 0 && m.has("loss"), m.toString());
    }

    @Test
    void errorsAreOneLine(@TempDir Path tmp) throws Exception {
        Path o = tmp.resolve("o");
        assertEquals(1, run(args(o, "--reward", "lab", "--beta", "0")));
        assertTrue(err.toString().contains("beta must be a positive number"), err.toString());
        assertEquals(1, run(args(o, "--reward", "lab", "--loss-type", "hinge")));
        assertTrue(err.toString().contains("loss_type must be sigmoid or ipo for online DPO, got hinge"),
                err.toString());
        // a name no DPO loss has is a usage error, caught by the converter dpo uses too
        assertEquals(2, run(args(o, "--reward", "lab", "--loss-type", "kto")));
        assertTrue(err.toString().contains("'kto' is not one of sigmoid, ipo, hinge, robust"), err.toString());
        assertEquals(2, run(args(o)));
        assertTrue(err.toString().contains("exactly one of --reward-model"), err.toString());
        assertEquals(2, run(args(o, "--reward-model", tiny.policy().toString(), "--annotator-temperature", "1")));
        assertTrue(err.toString().contains("--annotator-temperature needs --reward lab"), err.toString());
        assertEquals(2, run(args(o, "--reward", "lab", "--normalize-reward")));
        assertEquals(1, run(args(o, "--reward", "lab", "--annotator-temperature", "-1")));
        assertTrue(err.toString().contains("--annotator-temperature"), err.toString());
        assertEquals(1, run(args(o, "--reward-model", tiny.policy().toString())));
        assertTrue(err.toString().contains("not a reward model"), err.toString());
        assertEquals(1, run("online-dpo", "--policy", tiny.policy().toString(), "--reward", "lab", "--prompts",
                tmp.resolve("none.jsonl").toString(), "--out", o.toString()));
        assertTrue(err.toString().contains("none.jsonl: no such file"), err.toString());
        assertFalse(err.toString().contains("\tat "), "no stack trace");
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
        assertEquals(0, run("online-dpo", "--help"));
        for (String s : List.of("--beta", "(default: 0.1)", "--loss-type", "(default: sigmoid)",
                "--annotator-temperature", "--per-device-train-batch-size", "(default: 32)", "--max-new-tokens",
                "(default: 48)")) {
            assertTrue(out.toString().contains(s), "online-dpo --help lacks " + s);
        }
    }
}
