package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.train.lab.LabWorld;
import org.junit.jupiter.api.BeforeAll;
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

/** {@code rlhf4j best-of-n} on the tiny lab model: the gold reward's best of n, written as SFT data. */
class BestOfNCommandTest {
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

    @Test
    void keepsTheGoldRewardsBestOfNAndSftTrainsOnTheOutput(@TempDir Path tmp) throws Exception {
        Path chosen = tmp.resolve("best.jsonl");
        assertEquals(0, run("best-of-n", "--policy", tiny.policy().toString(), "--reward", "lab", "--prompts",
                tiny.prompts.toString(), "--n", "4", "--max-new-tokens", "12", "--out", chosen.toString(),
                "--batch-size", "16"), err.toString());
        List<String> lines = Files.readAllLines(chosen);
        assertEquals(Files.readAllLines(tiny.prompts).size(), lines.size(), "one record per prompt");
        LabWorld world = new LabWorld(0);
        int differ = 0;
        for (String line : lines) {
            JsonNode r = JSON.readTree(line);
            JsonNode scores = r.get("scores");
            assertEquals(4, scores.size());
            double max = Double.NEGATIVE_INFINITY, min = Double.POSITIVE_INFINITY;
            for (JsonNode s : scores) {
                max = Math.max(max, s.asDouble());
                min = Math.min(min, s.asDouble());
            }
            assertEquals(max, r.get("score").asDouble(), 0, "the chosen response has the highest score");
            // the score written is the gold reward of the completion written (as GoldReward scores it)
            assertEquals(world.score(r.get("prompt").asText(), r.get("completion").asText().strip()).total(),
                    r.get("score").asDouble(), 1e-12, line);
            differ += max > min ? 1 : 0;
        }
        assertTrue(differ > 0, "some prompts' samples differ in score, so the choice mattered");
        assertTrue(err.toString().contains("best of 4 over 32 prompts"), err.toString());

        // same seed, same choices
        Path again = tmp.resolve("again.jsonl");
        assertEquals(0, run("best-of-n", "--policy", tiny.policy().toString(), "--reward", "lab", "--prompts",
                tiny.prompts.toString(), "--n", "4", "--max-new-tokens", "12", "--out", again.toString(),
                "--batch-size", "16"), err.toString());
        assertEquals(lines, Files.readAllLines(again));

        // rlhf4j sft reads what best-of-n wrote (prompt/completion with extra fields)
        Path sft = tmp.resolve("sft");
        assertEquals(0, run("sft", "--model", tiny.policy().toString(), "--data", chosen.toString(), "--out",
                sft.toString(), "--max-steps", "2", "--max-length", "96"), err.toString());
        assertEquals(2, Files.readAllLines(sft.resolve("metrics.jsonl")).size());
        assertTrue(Files.exists(sft.resolve("model.safetensors")));
    }

    @Test
    void errorsAreOneLine(@TempDir Path tmp) throws Exception {
        String policy = tiny.policy().toString(), prompts = tiny.prompts.toString(),
                o = tmp.resolve("o.jsonl").toString();
        assertEquals(1, run("best-of-n", "--policy", policy, "--reward", "lab", "--prompts", prompts, "--n", "0",
                "--out", o));
        assertTrue(err.toString().contains("--n must be positive"), err.toString());
        assertEquals(2, run("best-of-n", "--policy", policy, "--prompts", prompts, "--out", o));
        assertTrue(err.toString().contains("exactly one of --reward-model"), err.toString());
        assertEquals(2, run("best-of-n", "--policy", policy, "--reward", "lab", "--reward-model", policy,
                "--prompts", prompts, "--out", o));
        assertEquals(2, run("best-of-n", "--policy", policy, "--reward", "lab", "--normalize-reward", "--prompts",
                prompts, "--out", o));
        assertTrue(err.toString().contains("--normalize-reward needs --reward-model"), err.toString());
        assertEquals(1, run("best-of-n", "--policy", tmp.resolve("nope").toString(), "--reward", "lab", "--prompts",
                prompts, "--out", o));
        assertTrue(err.toString().contains("--policy " + tmp.resolve("nope") + ": no such file"), err.toString());
        assertEquals(1, run("best-of-n", "--policy", policy, "--reward", "lab", "--prompts",
                tmp.resolve("none.jsonl").toString(), "--out", o));
        assertTrue(err.toString().contains("none.jsonl: no such file"), err.toString());
        assertEquals(1, run("best-of-n", "--policy", policy, "--reward-model", policy, "--prompts", prompts,
                "--out", o));
        assertTrue(err.toString().contains("not a reward model"), err.toString());
        assertEquals(1, run("best-of-n", "--policy", policy, "--reward", "lab:x", "--prompts", prompts, "--out", o));
        assertTrue(err.toString().contains("lab:SEED"), err.toString());
        assertEquals(1, run("best-of-n", "--policy", policy, "--reward", "lab", "--prompts", prompts, "--out",
                tmp.toString()));
        assertTrue(err.toString().contains("is a directory"), err.toString());
        assertFalse(Files.exists(tmp.resolve("o.jsonl")), "nothing written on an error");
        assertFalse(err.toString().contains("\tat "), "no stack trace");
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
    }
}
