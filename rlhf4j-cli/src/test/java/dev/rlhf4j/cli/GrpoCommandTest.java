package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.train.grpo.GrpoConfig;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code rlhf4j grpo} through the command line, on the tiny lab model. */
class GrpoCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path shared;
    private static TinyRun tiny;
    private static Path policy;
    private StringWriter out = new StringWriter(), err = new StringWriter();

    @BeforeAll
    static void tinyPolicy() throws IOException {
        tiny = TinyRun.create(shared);
        policy = tiny.policy();
    }

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    /** A small run of {@code grpo} on the tiny policy into {@code dir} (extra arguments appended). */
    private static String[] grpo(Path dir, String... extra) {
        List<String> a = new ArrayList<>(List.of("grpo", "--policy", policy.toString(), "--prompts",
                tiny.prompts.toString(), "--out", dir.toString(), "--per-device-train-batch-size", "2",
                "--max-completion-length", "8", "--learning-rate", "1e-3", "--logging-steps", "1",
                "--sample-steps", "1"));
        a.addAll(List.of(extra));
        if (!a.contains("--num-generations")) {
            a.addAll(List.of("--num-generations", "3"));
        }
        return a.toArray(String[]::new);
    }

    /** One line on standard error starting {@code rlhf4j: } that contains {@code text}. */
    private void assertOneLineError(String text) {
        String e = err.toString().strip();
        assertTrue(e.startsWith("rlhf4j: ") && e.contains(text), e);
        assertFalse(e.contains("\tat "), "no stack trace: " + e);
    }

    @Test
    void trainsAgainstTheLabRewardWritesTrlMetricsAndResumes(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("grpo");
        assertEquals(0, run(grpo(dir, "--reward", "lab", "--max-steps", "2", "--save-steps", "1")), err.toString());
        List<String> lines = Files.readAllLines(dir.resolve("metrics.jsonl"));
        assertEquals(2, lines.size());
        JsonNode m = JSON.readTree(lines.get(1));
        for (String k : List.of("reward", "reward_std", "frac_reward_zero_std", "kl", "entropy",
                "completions/mean_length", "completions/min_length", "completions/max_length",
                "completions/clipped_ratio", "clip_ratio/region_mean", "rewards/lab/mean", "rewards/lab/std",
                "num_tokens", "learning_rate", "grad_norm", "loss")) {
            assertTrue(m.has(k), "metrics.jsonl lacks " + k + ": " + m);
        }
        assertEquals(12, m.get("episode").asInt(), "2 steps of 2 prompts × 3 completions");
        assertTrue(Files.exists(dir.resolve("model.safetensors")) && Files.exists(dir.resolve("tokenizer.json")));
        assertFalse(Files.readAllLines(dir.resolve("samples.jsonl")).isEmpty());
        // a longer run continues from the last checkpoint
        assertEquals(0, run(grpo(dir, "--reward", "lab", "--max-steps", "3", "--save-steps", "1", "--resume")),
                err.toString());
        assertTrue(err.toString().contains("resuming from"), err.toString());
        assertEquals(3, Files.readAllLines(dir.resolve("metrics.jsonl")).size());
        // a changed setting is refused on resume
        assertEquals(1, run(grpo(dir, "--reward", "lab", "--max-steps", "4", "--save-steps", "1", "--resume",
                "--beta", "0.5")));
        assertOneLineError("beta");
    }

    @Test
    void rlooFromAConfigFileWithARuleReward(@TempDir Path tmp) throws Exception {
        Path cfg = tmp.resolve("grpo.yaml");
        Files.writeString(cfg, "advantage: rloo\nbeta: 0.1\nmax_steps: 2\nloss_type: dr_grpo\n");
        Path dir = tmp.resolve("rloo");
        assertEquals(0, run(grpo(dir, "--config", cfg.toString(), "--num-generations", "2", "--reward",
                "regex:[aeiou]")), err.toString());
        List<String> lines = Files.readAllLines(dir.resolve("metrics.jsonl"));
        assertEquals(2, lines.size());
        assertTrue(JSON.readTree(lines.get(0)).has("rewards/regex/mean"));
        JsonNode fp = JSON.readTree(dir.resolve("rlhf4j_run.json").toFile()).get("fingerprint");
        assertEquals("rloo", fp.get("advantage").asText());
        assertEquals("reward", fp.get("kl_in").asText(), "rloo puts the KL in the reward unless told otherwise");
        assertEquals("dr_grpo", fp.get("loss_type").asText());
        assertEquals(8, JSON.readTree(lines.get(1)).get("episode").asInt(), "2 steps of 2 prompts × 2");
    }

    @Test
    void betaZeroRunsWithoutAReference(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("b0");
        assertEquals(0, run(grpo(dir, "--reward", "lab", "--max-steps", "2", "--beta", "0")), err.toString());
        List<String> lines = Files.readAllLines(dir.resolve("metrics.jsonl"));
        assertEquals(2, lines.size());
        JsonNode m = JSON.readTree(lines.get(1));
        assertFalse(m.has("kl"), "no reference, no KL: " + m);
        assertTrue(Double.isFinite(m.get("loss").asDouble()), m.toString());
    }

    @Test
    void badInputIsOneLineNamingTheProblem(@TempDir Path tmp) {
        Path o = tmp.resolve("o");
        assertEquals(1, run("grpo", "--policy", policy.toString(), "--reward", "lab", "--prompts",
                tmp.resolve("nope.jsonl").toString(), "--out", o.toString()));
        assertOneLineError("nope.jsonl");
        assertEquals(1, run("grpo", "--policy", tmp.resolve("no-model").toString(), "--reward", "lab", "--prompts",
                tiny.prompts.toString(), "--out", o.toString()));
        assertOneLineError("no-model");
        assertEquals(2, run(grpo(o, "--reward", "lab", "--advantage", "ppo")));
        assertTrue(err.toString().contains("--advantage") && err.toString().contains("grpo, rloo, reinforce++"),
                err.toString());
        assertEquals(1, run(grpo(o, "--reward", "lab", "--advantage", "rloo", "--num-generations", "1")));
        assertOneLineError("--num-generations must be at least 2 for --advantage rloo");
        assertEquals(1, run(grpo(o, "--reward", "lab", "--num-generations", "1")));
        assertOneLineError("--num-generations must be at least 2 for --advantage grpo");
        assertEquals(2, run(grpo(o)));
        assertOneLineError("give exactly one of --reward-model PATH and --reward");
        assertEquals(2, run(grpo(o, "--reward", "lab", "--reward-model", policy.toString())));
        assertOneLineError("give exactly one of --reward-model PATH and --reward");
        assertEquals(2, run(grpo(o, "--reward", "lab", "--normalize-reward")));
        assertOneLineError("--normalize-reward needs --reward-model");
        assertEquals(1, run(grpo(o, "--reward", "bleu")));
        assertOneLineError("--reward must be lab, lab:SEED, regex:PATTERN or length:N, got 'bleu'");
        assertEquals(1, run(grpo(o, "--reward", "regex:(")));
        assertOneLineError("not a regular expression");
        assertEquals(1, run(grpo(o, "--reward", "length:0")));
        assertOneLineError("length:N needs a positive whole number");
        assertEquals(1, run(grpo(o, "--reward", "lab:x")));
        assertOneLineError("lab:SEED needs a whole number");
        assertEquals(1, run(grpo(o, "--reward", "lab", "--epsilon", "1.5")));
        assertOneLineError("epsilon must be in (0, 1)");
        assertEquals(1, run(grpo(o, "--reward", "lab", "--beta", "-1")));
        assertOneLineError("beta must be >= 0");
        assertEquals(2, run(grpo(o, "--reward", "lab", "--kl-in", "both")));
        assertTrue(err.toString().contains("--kl-in"), err.toString());
        // a reward model that is a language model, not a *ForSequenceClassification model
        assertEquals(1, run(grpo(o, "--reward-model", policy.toString())));
        assertOneLineError(policy + ": not a reward model (no scalar head score.weight)");
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
        assertFalse(Files.exists(o.resolve("metrics.jsonl")), "nothing trained");
    }

    @Test
    void flagsStartFromTheGrpoConfigDefaultsAndHelpNamesThem() {
        assertEquals(0, run("grpo", "--help"));
        String h = out.toString();
        for (String s : List.of("--advantage", "grpo, rloo or reinforce++", "--num-generations", "(default: 4)",
                "--beta", "(default: 0.04)", "--kl-in", "--epsilon", "(default: 0.2)", "--num-iterations",
                "--max-completion-length", "(default: 48)", "--loss-type", "--reward-model", "--normalize-reward",
                "regex:PATTERN", "length:N")) {
            assertTrue(h.contains(s), "grpo --help lacks " + s);
        }
        Map<String, String> expect = new LinkedHashMap<>();
        expect.put("--learning-rate", "1.0e-6");
        expect.put("--per-device-train-batch-size", String.valueOf(GrpoConfig.DEFAULTS.perDeviceTrainBatchSize()));
        expect.put("--num-iterations", "1");
        expect.put("--loss-type", "grpo");
        expect.put("--advantage", "grpo");
        for (Map.Entry<String, String> e : expect.entrySet()) {
            assertTrue(h.matches("(?s).*" + e.getKey() + "[^\\n]*\\n?[^-]*\\(default: " + e.getValue().replace(".",
                    "\\.").replace("+", "\\+") + "\\).*") || h.contains(e.getKey()), e.getKey());
        }
    }
}
