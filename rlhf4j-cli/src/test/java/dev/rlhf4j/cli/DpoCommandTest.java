package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.train.lab.LabData;
import dev.rlhf4j.train.lab.LabWorld;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code rlhf4j dpo} on the tiny lab world of {@link TinyRun}. */
class DpoCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** One tiny world, policy and preference file for all tests (the policy costs an SFT run). */
    @TempDir
    static Path shared;
    private static Path policy, data;
    private StringWriter out = new StringWriter(), err = new StringWriter();

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    /** Lab prompts with their own demonstration chosen over another prompt's, and one K-way ranking. */
    private static Path preferences(Path dir) throws Exception {
        List<String[]> demos = LabData.demonstrations(new LabWorld(0), 24, 3);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < demos.size(); i++) {
            sb.append(JSON.writeValueAsString(Map.of("prompt", demos.get(i)[0], "chosen", demos.get(i)[1],
                    "rejected", demos.get((i + 1) % demos.size())[1]))).append('\n');
        }
        sb.append(JSON.writeValueAsString(Map.of("prompt", demos.get(0)[0], "responses", List.of(demos.get(0)[1],
                demos.get(1)[1], demos.get(2)[1]), "ranking", List.of(0, 2, 1)))).append('\n');
        Path f = dir.resolve("prefs.jsonl");
        Files.writeString(f, sb.toString());
        return f;
    }

    @BeforeAll
    static void tinyWorld() throws Exception {
        policy = TinyRun.create(shared).policy();
        data = preferences(shared);
    }

    private static String[] dpo(Path policy, Path data, Path outDir, String... extra) {
        List<String> a = new ArrayList<>(List.of("dpo", "--model", policy.toString(), "--data", data.toString(),
                "--out", outDir.toString(), "--learning-rate", "1e-3", "--per-device-train-batch-size", "4",
                "--eval-split", "0.25", "--logging-steps", "1", "--save-steps", "2", "--lr-scheduler-type",
                "constant"));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    private static List<JsonNode> metrics(Path dir) throws Exception {
        List<JsonNode> lines = new ArrayList<>();
        for (String l : Files.readAllLines(dir.resolve("metrics.jsonl"))) {
            lines.add(JSON.readTree(l));
        }
        return lines;
    }

    @Test
    void dpoTrainsWritesTrlMetricsAndResumesExactly(@TempDir Path tmp) throws Exception {
        Path resumed = tmp.resolve("resumed"), straight = tmp.resolve("straight");
        assertEquals(0, run(dpo(policy, data, resumed, "--max-steps", "4")), err.toString());
        assertTrue(err.toString().contains("training pairs"), err.toString());
        List<JsonNode> first = metrics(resumed);
        assertEquals(4, first.size());
        for (String k : List.of("loss", "rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins",
                "logps/chosen", "logps/rejected", "grad_norm", "learning_rate")) {
            assertTrue(first.get(0).has(k), k + " in " + first.get(0));
        }
        assertFalse(first.get(0).has("nll_loss"), "no RPO term asked for");
        assertTrue(first.get(3).has("eval_rewards/accuracies") && first.get(3).has("eval_loss"), first.get(3)
                .toString());
        for (String f : List.of("config.json", "model.safetensors", "tokenizer.json", "train_results.json",
                "checkpoint-2/trainer_state.json")) {
            assertTrue(Files.exists(resumed.resolve(f)), f);
        }
        // the policy is an HF model the other commands open
        assertEquals(0, run("info", "--model", resumed.toString(), "--json"), err.toString());

        assertEquals(0, run(dpo(policy, data, resumed, "--max-steps", "6", "--resume")), err.toString());
        assertTrue(err.toString().contains("resuming from"), err.toString());
        assertEquals(0, run(dpo(policy, data, straight, "--max-steps", "6")), err.toString());
        // the constant schedule makes the first four steps of both runs the same too
        List<JsonNode> a = metrics(resumed), b = metrics(straight);
        assertEquals(6, a.size());
        for (int i = 0; i < 6; i++) {
            assertEquals(b.get(i).get("loss").asDouble(), a.get(i).get("loss").asDouble(), 0, "step " + (i + 1));
            assertEquals(b.get(i).get("rewards/margins").asDouble(), a.get(i).get("rewards/margins").asDouble(), 0);
        }
        // a changed loss is another run
        assertEquals(1, run(dpo(policy, data, resumed, "--max-steps", "8", "--resume", "--beta", "0.5")));
        assertTrue(err.toString().startsWith("rlhf4j: ") && err.toString().contains("beta"), err.toString());
    }

    @Test
    void variantsRun(@TempDir Path tmp) throws Exception {
        Path rpo = tmp.resolve("rpo");
        assertEquals(0, run(dpo(policy, data, rpo, "--max-steps", "2", "--rpo-alpha", "0.5", "--loss-type", "ipo",
                "--precompute-ref-log-probs")), err.toString());
        assertTrue(metrics(rpo).get(1).has("nll_loss") && metrics(rpo).get(1).has("eval_nll_loss"));
        // precomputing with no reference is allowed: there is nothing to compute
        assertEquals(0, run(dpo(policy, data, tmp.resolve("free"), "--max-steps", "1", "--reference-free",
                "--precompute-ref-log-probs")), err.toString());
        // an explicit reference (here the policy itself)
        assertEquals(0, run(dpo(policy, data, tmp.resolve("ref"), "--max-steps", "1", "--ref-model",
                policy.toString(), "--loss-type", "robust", "--label-smoothing", "0.1")), err.toString());
        assertEquals(0.0, metrics(tmp.resolve("ref")).get(0).get("rewards/chosen").asDouble(), 0,
                "before the first update the policy is its reference");
    }

    @Test
    void badInputIsOneLineAndNothingIsTrained(@TempDir Path tmp) throws Exception {
        Path never = tmp.resolve("never");
        Object[][] cases = {
                {1, "missing.jsonl", new String[] {"--data", tmp.resolve("missing.jsonl").toString()}},
                {2, "--loss-type", new String[] {"--loss-type", "kto"}},
                {1, "--beta", new String[] {"--beta", "0"}},
                {1, "--label-smoothing", new String[] {"--loss-type", "ipo", "--label-smoothing", "0.1"}},
                {1, "--label-smoothing", new String[] {"--label-smoothing", "0.5"}},
                {2, "--reference-free", new String[] {"--reference-free", "--ref-model", policy.toString()}},
                {1, "--rpo-alpha", new String[] {"--rpo-alpha", "-1"}},
                {1, "--ref-model", new String[] {"--ref-model", tmp.resolve("nope").toString()}},
        };
        for (Object[] c : cases) {
            List<String> args = new ArrayList<>(List.of(dpo(policy, data, never)));
            String[] extra = (String[]) c[2];
            if (extra[0].equals("--data")) {
                args.set(args.indexOf("--data") + 1, extra[1]);
            } else {
                args.addAll(List.of(extra));
            }
            int code = run(args.toArray(String[]::new));
            String e = err.toString();
            assertEquals(c[0], code, String.join(" ", extra) + ": " + e);
            assertTrue(e.startsWith("rlhf4j: ") && e.contains((String) c[1]), e);
            // a usage error (exit 2) adds the pointer to the command's help, as every command does
            assertEquals(code == 2 ? List.of(e.strip().lines().toList().getFirst(), "see 'rlhf4j dpo --help'")
                    : List.of(e.strip()), e.strip().lines().toList(), e);
            assertFalse(Files.exists(never.resolve("metrics.jsonl")), "nothing trained for " + String.join(" ", extra));
        }
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"c\"}\n{\"prompt\": \"a\"}\n");
        assertEquals(1, run(dpo(policy, bad, never)));
        assertTrue(err.toString().contains("bad.jsonl:2"), err.toString());
        // tokenization errors name the file they are about: here --eval-data, whose only pair is identical
        Path same = tmp.resolve("same.jsonl");
        Files.writeString(same, "{\"prompt\": \"a\", \"chosen\": \"b\", \"rejected\": \"b\"}\n");
        List<String> args = new ArrayList<>(List.of(dpo(policy, data, never, "--eval-data", same.toString())));
        args.remove(args.indexOf("--eval-split") + 1);
        args.remove("--eval-split");
        assertEquals(1, run(args.toArray(String[]::new)));
        assertTrue(err.toString().startsWith("rlhf4j: " + same + ": no preference pair is left"), err.toString());
        assertFalse(Files.exists(never.resolve("metrics.jsonl")));
    }
}
