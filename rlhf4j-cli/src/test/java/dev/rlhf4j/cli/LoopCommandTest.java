package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.train.lab.Annotator;
import dev.rlhf4j.train.lab.LabData;
import dev.rlhf4j.train.lab.LabWorld;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code rlhf4j loop} with the lab's annotators on a tiny world: rounds, state, resume, errors. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LoopCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Path tmp;
    private TinyRun tiny;
    private Path policy, rewardModel, preferences, finished;
    private String finishedOut;
    private StringWriter out = new StringWriter(), err = new StringWriter();

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    /** A tiny SFT policy, 16 labelled lab pairs, a reward model trained on them, and one uninterrupted loop. */
    @BeforeAll
    void tinyWorldAndOneLoop(@TempDir Path dir) throws IOException {
        tmp = dir;
        tiny = TinyRun.create(tmp);
        // the loop's stages use the demo's lengths (128 tokens)
        Files.writeString(tiny.modelYaml, "family: llama\ndim: 32\nlayers: 2\nheads: 4\nkv_heads: 2\n"
                + "max_seq_len: 128\n");
        policy = tiny.policy();
        LabWorld w = new LabWorld(0);
        List<LabData.Candidates> c = LabData.demonstratorPairs(w, 6).sample(LabData.prompts(w, 16, 7));
        preferences = tmp.resolve("preferences.jsonl");
        StringBuilder b = new StringBuilder();
        for (LabData.LabeledPair p : LabData.label(w, c, new Annotator(0.3, 0), 9)) {
            b.append(JSON.writeValueAsString(p.preferenceRecord())).append('\n');
        }
        Files.writeString(preferences, b);
        rewardModel = tmp.resolve("rm");
        assertEquals(0, run("reward", "train", "--model", policy.toString(), "--data", preferences.toString(),
                "--out", rewardModel.toString(), "--max-steps", "1", "--max-length", "96"), err.toString());
        finished = tmp.resolve("loop");
        assertEquals(0, run(loop(finished)), err.toString());
        finishedOut = out.toString();
    }

    /** Two rounds of 12 pairs, PPO of one step, 6 held-out prompts: seconds. */
    private String[] loop(Path dir, String... extra) {
        List<String> a = new ArrayList<>(List.of("loop", "--policy", policy.toString(), "--reward-model",
                rewardModel.toString(), "--preferences", preferences.toString(), "--prompts",
                tiny.prompts.toString(), "--out", dir.toString(), "--rounds", "2", "--pairs-per-round", "12",
                "--ppo-steps", "1", "--eval-count", "6", "--agreement", "0.6"));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    private static List<String> lines(Path f) throws IOException {
        return Files.readAllLines(f, StandardCharsets.UTF_8).stream().filter(s -> !s.isBlank()).toList();
    }

    @Test
    void twoRoundsSampleLabelTrainTheRewardModelOnAllLabelsRunPpoFromSftAndEvaluate() throws IOException {
        for (int k = 1; k <= 2; k++) {
            Path r = finished.resolve("round-" + k);
            for (String f : List.of("pairs.jsonl", "preferences.jsonl", "reward-data.jsonl",
                    "reward-model/model.safetensors", "ppo/model.safetensors", "eval.json", "eval-samples.jsonl")) {
                assertTrue(Files.exists(r.resolve(f)), r.resolve(f).toString());
            }
            JsonNode pair = JSON.readTree(lines(r.resolve("pairs.jsonl")).getFirst());
            assertTrue(pair.get("id").asText().startsWith("r" + k + "-"), pair.toString());
            assertEquals(2, pair.get("responses").size());
            assertNotEquals(pair.get("responses").get(0), pair.get("responses").get(1), "identical pairs are dropped");
        }
        // each round's reward data: the starting labels plus every round's so far
        int start = lines(preferences).size();
        int r1 = lines(finished.resolve("round-1/preferences.jsonl")).size();
        int r2 = lines(finished.resolve("round-2/preferences.jsonl")).size();
        assertTrue(r1 > 0 && r2 > 0);
        assertEquals(start + r1, lines(finished.resolve("round-1/reward-data.jsonl")).size());
        assertEquals(start + r1 + r2, lines(finished.resolve("round-2/reward-data.jsonl")).size());
        // the rounds label fresh prompts of their own: round 2's pairs are not round 1's
        assertNotEquals(lines(finished.resolve("round-1/pairs.jsonl")), lines(finished.resolve("round-2/pairs.jsonl")));
        // round 2's PPO continues round 1's policy, with the SFT model (--policy) as the KL reference
        JsonNode fp = JSON.readTree(finished.resolve("round-2/ppo/rlhf4j_run.json").toFile()).get("fingerprint");
        assertEquals(policy.toString(), fp.get("ref_model").get("path").asText());
        assertEquals(finished.resolve("round-1/ppo").toString(), fp.get("policy").get("path").asText());
        JsonNode rm = JSON.readTree(finished.resolve("round-2/reward-model/rlhf4j_run.json").toFile());
        assertTrue(rm.get("fingerprint").toString().contains(finished.resolve("round-1/reward-model").toString()),
                "round 2's reward model continues round 1's");
        // one metrics record per round, 0 (the starting policy) to 2
        List<String> metrics = lines(finished.resolve("metrics.jsonl"));
        assertEquals(3, metrics.size());
        for (int k = 0; k <= 2; k++) {
            JsonNode m = JSON.readTree(metrics.get(k));
            assertEquals(k, m.get("step").asInt());
            for (String f : List.of("eval/gold", "eval/gold_std", "eval/kl_to_sft", "eval/reward_model",
                    "eval/win_rate_vs_sft", "eval/gold/correctness", "eval/gold/politeness", "labels/total")) {
                assertTrue(m.get(f).isNumber(), k + " " + f);
            }
            assertEquals(k > 0, m.has("reward/eval_accuracy"), m.toString());
        }
        JsonNode m0 = JSON.readTree(metrics.get(0));
        assertEquals(0, m0.get("eval/kl_to_sft").asDouble(), 1e-9, "round 0 is the SFT model itself");
        assertEquals(0.5, m0.get("eval/win_rate_vs_sft").asDouble(), 1e-9);
        assertEquals(start + r1 + r2, JSON.readTree(metrics.get(2)).get("labels/total").asInt());
        assertTrue(JSON.readTree(metrics.get(2)).get("eval/kl_to_sft").asDouble() != 0, "PPO moved the policy");
        JsonNode summary = JSON.readTree(finished.resolve("summary.json").toFile());
        assertEquals(3, summary.get("rounds").size());
        assertTrue(finishedOut.contains("KL to SFT") && finishedOut.contains("win vs SFT"), finishedOut);
        assertTrue(finishedOut.contains(finished.resolve("report.html").toString()), finishedOut);
        String page = Files.readString(finished.resolve("report.html"));
        assertTrue(page.contains("eval/gold") && page.contains("round-2/ppo"), "report.html");
        // `rlhf4j report` on the loop's directory draws the per-round gold and every round's runs
        Path page2 = tmp.resolve("report-of-loop.html");
        assertEquals(0, run("report", finished.toString(), "--out", page2.toString()), err.toString());
        String page2Text = Files.readString(page2);
        // and the gold per round as a chart
        java.awt.image.BufferedImage png = javax.imageio.ImageIO.read(finished.resolve("gold-per-round.png").toFile());
        assertTrue(png != null && png.getWidth() > 100 && png.getHeight() > 100, "gold-per-round.png");
        assertTrue(finishedOut.contains("gold per round: " + finished.resolve("gold-per-round.png")), finishedOut);
        assertTrue(page2Text.contains("eval/gold") && page2Text.contains("round-1/reward-model"), "report of DIR");
        // held-out pairs of the SFT model labelled by the same annotators, calibrated once and kept
        assertTrue(lines(finished.resolve("preferences-eval.jsonl")).size() >= 10);
        assertTrue(JSON.readTree(finished.resolve("loop.json").toFile()).get("annotator").get("temperature")
                .asDouble() > 0);
    }

    @Test
    void resumeAfterAStopFinishesWithTheSameLabelsAndLabelsNoRoundTwice() throws IOException {
        Path dir = tmp.resolve("stopped");
        System.setProperty(LoopCommand.FAIL_AT, "2:reward");
        try {
            assertEquals(1, run(loop(dir)));
        } finally {
            System.clearProperty(LoopCommand.FAIL_AT);
        }
        assertTrue(err.toString().contains("loop stopped as round 2's reward started"), err.toString());
        JsonNode state = JSON.readTree(dir.resolve("loop.json").toFile());
        assertEquals("2:reward", state.get("running").asText());
        assertFalse(Files.exists(dir.resolve("round-2/reward-model")));
        Path labels2 = dir.resolve("round-2/preferences.jsonl");
        FileTime labelled = FileTime.fromMillis(0);
        Files.setLastModifiedTime(labels2, labelled);
        // without --resume the directory is refused
        assertEquals(1, run(loop(dir)));
        assertTrue(err.toString().contains("--resume"), err.toString());

        assertEquals(0, run(loop(dir, "--resume")), err.toString());
        assertTrue(err.toString().contains("== round 2: reward (again"), err.toString());
        assertFalse(err.toString().contains("round 2: label"), "round 2 was labelled before the stop");
        assertFalse(err.toString().contains("round 1:"), "round 1 had finished");
        assertEquals(labelled, Files.getLastModifiedTime(labels2), "round 2's labels were not written again");
        for (String f : List.of("round-1/pairs.jsonl", "round-1/preferences.jsonl", "round-2/pairs.jsonl",
                "round-2/preferences.jsonl", "round-2/reward-data.jsonl", "preferences-eval.jsonl")) {
            assertArrayEquals(Files.readAllBytes(finished.resolve(f)), Files.readAllBytes(dir.resolve(f)), f);
        }
        JsonNode done = JSON.readTree(dir.resolve("loop.json").toFile()).get("done");
        Set<String> seen = new HashSet<>();
        done.forEach(d -> assertTrue(seen.add(d.asText()), "step done twice: " + d));
        assertEquals(11, seen.size());
        assertEquals(3, lines(dir.resolve("metrics.jsonl")).size());

        // a finished loop resumed is left as it is; more rounds continue it
        assertEquals(0, run(loop(dir, "--resume")), err.toString());
        assertFalse(err.toString().contains("== round"), err.toString());
        assertTrue(out.toString().contains("win vs SFT"));
    }

    @Test
    void resumeRefusesChangedSettings() {
        assertEquals(1, run(replace(loop(finished, "--resume"), "--ppo-steps", "2")));
        assertTrue(err.toString().contains("ppo_steps: 1 → 2"), err.toString());
        assertEquals(2, run(loop(finished, "--resume", "--overwrite")));
    }

    @Test
    void badInputIsOneLineBeforeAnythingRuns() throws IOException {
        Path dir = tmp.resolve("never");
        Path notLab = tmp.resolve("not-lab.jsonl");
        Files.writeString(notLab, "{\"prompt\": \"What is 2 plus 2?\"}\n{\"prompt\": \"Tell me a joke.\"}\n");
        Path evalPrefs = tmp.resolve("eval-prefs.jsonl");
        Files.copy(preferences, evalPrefs);
        record Case(int code, String message, String[] args) {
        }
        List<Case> cases = List.of(
                new Case(1, "--rounds must be positive", replace(loop(dir), "--rounds", "0")),
                new Case(1, "--pairs-per-round must be positive", replace(loop(dir), "--pairs-per-round", "-1")),
                new Case(1, "--agreement", replace(loop(dir), "--agreement", "1.5")),
                new Case(1, "--policy " + tmp.resolve("nope") + ": no such file or directory",
                        replace(loop(dir), "--policy", tmp.resolve("nope").toString())),
                new Case(1, "--preferences " + tmp.resolve("nope.jsonl") + ": no such file",
                        replace(loop(dir), "--preferences", tmp.resolve("nope.jsonl").toString())),
                new Case(1, "--eval-prompts " + notLab + ":2: not a request of this lab world",
                        loop(dir, "--eval-prompts", notLab.toString())),
                new Case(2, "--labeler app needs --app-url and --app-project", loop(dir, "--labeler", "app")),
                new Case(2, "--app-url goes with --labeler app", loop(dir, "--app-url", "http://localhost:8080")),
                new Case(2, "--round-timeout '10x'", loop(dir, "--labeler", "app", "--app-url", "http://x",
                        "--app-project", "p", "--round-timeout", "10x")),
                new Case(2, "--labeler app needs --eval-prompts", loop(dir, "--labeler", "app", "--app-url",
                        "http://x", "--app-project", "p", "--eval-preferences", evalPrefs.toString())),
                new Case(2, "--labeler app needs --eval-preferences", loop(dir, "--labeler", "app", "--app-url",
                        "http://x", "--app-project", "p", "--round-timeout", "30m", "--poll-seconds", "5",
                        "--eval-prompts", notLab.toString())),
                new Case(1, "--labeler app: set RLHF4J_API_TOKEN to an admin's API token", loop(dir, "--labeler", "app",
                        "--app-url", "http://x", "--app-project", "p", "--eval-preferences", evalPrefs.toString(),
                        "--eval-prompts", notLab.toString())),
                new Case(2, "'people' is not one of lab, app", loop(dir, "--labeler", "people")));
        for (Case c : cases) {
            assertEquals(c.code(), run(c.args()), c.message() + ": " + err);
            String e = err.toString();
            assertTrue(e.startsWith("rlhf4j: ") && e.contains(c.message()), c.message() + ": " + e);
            if (c.code() == 1) {
                assertEquals(1, e.strip().lines().count(), e);
            }
            assertFalse(Files.exists(dir), "nothing written: " + c.message());
        }
    }

    private static String[] replace(String[] args, String option, String value) {
        String[] r = args.clone();
        for (int i = 0; i < r.length - 1; i++) {
            if (r[i].equals(option)) {
                r[i + 1] = value;
            }
        }
        return r;
    }
}
