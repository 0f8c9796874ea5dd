package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code rlhf4j spark ppo} in {@code local[2]} trains as {@code rlhf4j ppo} does, and their runs resume each other. */
class SparkPpoCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path shared;
    private static TinyRun tiny;
    private StringWriter err = new StringWriter();

    @BeforeAll
    static void tinyWorld() throws Exception {
        tiny = TinyRun.create(shared);
    }

    private int run(String... args) {
        err = new StringWriter();
        return Main.run(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true), args);
    }

    private static String[] ppo(Path out, boolean spark, String... extra) {
        List<String> a = new ArrayList<>();
        if (spark) {
            a.addAll(List.of("spark", "ppo", "--master", "local[2]"));
        }
        // a constant learning rate: a run stopped after 2 steps and resumed to 3 then follows the 3-step run's schedule
        a.addAll(List.of(tiny.ppo(tiny.policy(), out, "--local-rollout-forward-batch-size", "3", "--save-steps",
                "1", "--lr-scheduler-type", "constant")));
        a.addAll(List.of(extra));
        if (spark) {
            a.remove(4); // the "ppo" of tiny.ppo's arguments
        }
        return a.toArray(String[]::new);
    }

    private static List<JsonNode> metrics(Path out) throws IOException {
        List<JsonNode> l = new ArrayList<>();
        for (String s : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            l.add(JSON.readTree(s));
        }
        return l;
    }

    private static void assertSameRun(Path a, Path b) throws IOException {
        List<JsonNode> ma = metrics(a), mb = metrics(b);
        assertEquals(ma.size(), mb.size());
        for (int i = 0; i < ma.size(); i++) {
            for (var it = ma.get(i).fields(); it.hasNext(); ) {
                var e = it.next();
                if (e.getKey().startsWith("time/") || e.getKey().endsWith("tokens_per_s")
                        || !e.getValue().isNumber()) {
                    continue;
                }
                double x = e.getValue().asDouble(), y = mb.get(i).get(e.getKey()).asDouble();
                assertEquals(x, y, 1e-6 * Math.max(1, Math.abs(x)), "step " + (i + 1) + " " + e.getKey());
            }
        }
        assertEquals(Files.readAllLines(a.resolve("samples.jsonl")), Files.readAllLines(b.resolve("samples.jsonl")));
    }

    @Test
    void sparkPpoTrainsAsPpoDoesAndTheyResumeEachOther(@TempDir Path tmp) throws Exception {
        Path alone = tmp.resolve("alone"), onSpark = tmp.resolve("spark");
        assertEquals(0, run(ppo(alone, false, "--max-steps", "3")), err.toString());
        // two steps with the rollouts on Spark (8 prompts a step in chunks of 3: three tasks), then the third by ppo
        assertEquals(0, run(ppo(onSpark, true, "--max-steps", "2")), err.toString());
        assertTrue(err.toString().contains("rollouts on Spark (local[2]"), err.toString());
        assertTrue(err.toString().contains("MB of weights broadcast (fp32)"), err.toString());
        JsonNode m = metrics(onSpark).get(0);
        assertTrue(m.get("spark/broadcast_mb").asDouble() > 0 && m.has("spark/job_s"), m.toString());
        assertEquals(0, run(ppo(onSpark, false, "--max-steps", "3", "--resume")), err.toString());
        assertSameRun(alone, onSpark);
        // and the other way round: ppo's run continued on Spark
        Path mixed = tmp.resolve("mixed");
        assertEquals(0, run(ppo(mixed, false, "--max-steps", "1")), err.toString());
        assertEquals(0, run(ppo(mixed, true, "--max-steps", "3", "--resume")), err.toString());
        assertSameRun(alone, mixed);
        assertTrue(Files.exists(mixed.resolve("model.safetensors")));
    }

    @Test
    void badSparkOptionsFailInOneLineBeforeAnythingStarts(@TempDir Path tmp) {
        assertEquals(1, run(ppo(tmp.resolve("a"), true, "--broadcast-dtype", "fp8")));
        assertTrue(err.toString().contains("--broadcast-dtype must be fp32 or bf16, got 'fp8'"), err.toString());
        assertFalse(err.toString().contains("\tat "), err.toString());
        String[] bad = ppo(tmp.resolve("b"), true);
        bad[3] = "local[two]";
        assertEquals(1, run(bad));
        assertTrue(err.toString().contains("--master local[two]: not a Spark master URL"), err.toString());
        assertFalse(Files.exists(tmp.resolve("b")), "nothing written");
    }
}
