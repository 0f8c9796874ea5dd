package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code kill -9} at random points of {@code sft} and {@code ppo} running in a child JVM, then {@code --resume}
 * until done: the metrics (but their timings), the summary and the final weights are bit-identical to those of an
 * uninterrupted run with the same settings and thread count. Also: a second run started on the directory of a
 * running one fails at once and the running one's files come out whole.
 */
class KillResumeTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long TIMEOUT_S = 180;
    @TempDir
    static Path shared;
    private static TinyRun tiny;

    @BeforeAll
    static void world() throws Exception {
        tiny = TinyRun.create(shared);
        // a model big enough that a step takes a few milliseconds, so kills land inside the run
        Files.writeString(tiny.modelYaml, "family: llama\ndim: 64\nlayers: 2\nheads: 4\nkv_heads: 2\nmax_seq_len: "
                + "96\n");
    }

    /** The command in a fresh JVM with two threads, its output in {@code log}. */
    private static Process launch(Path log, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Drlhf4j.threads=2",
                "-XX:+UseSerialGC", "-Xmx512m", "-cp", System.getProperty("java.class.path"), "dev.rlhf4j.cli.Main"));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(
                log.toFile())).start();
    }

    private static void runToEnd(Path log, String... args) throws Exception {
        Process p = launch(log, args);
        assertTrue(p.waitFor(TIMEOUT_S, TimeUnit.SECONDS), "timed out: " + String.join(" ", args));
        assertEquals(0, p.exitValue(), "rlhf4j " + String.join(" ", args) + ":\n" + Files.readString(log));
    }

    private static int lines(Path file) {
        try {
            return Files.exists(file) ? (int) Files.readAllLines(file).stream().filter(l -> l.endsWith("}")).count()
                    : 0;
        } catch (IOException e) {
            return 0; // being rewritten
        }
    }

    /**
     * Starts the run, kills it {@code kills} times at seeded random points (after the metrics show a chosen step,
     * or after a random delay from the launch, which may fall before training starts), resuming after each, then
     * resumes once more to the end. Returns how many launches were killed while running.
     */
    private static int killAndResume(String[] args, Path out, int total, long seed, int kills) throws Exception {
        Random rng = new Random(seed);
        Path log = out.resolveSibling(out.getFileName() + ".log");
        Path metrics = out.resolve("metrics.jsonl");
        String[] resume = Arrays.copyOf(args, args.length + 1);
        resume[args.length] = "--resume";
        int killed = 0;
        for (int k = 0; k < kills; k++) {
            Files.writeString(log, "\n== launch " + (k + 1) + "\n", java.nio.file.StandardOpenOption.CREATE,
                    java.nio.file.StandardOpenOption.APPEND);
            int done = lines(metrics);
            boolean byStep = rng.nextBoolean() && done < total - 1;
            int atStep = byStep ? done + 1 + rng.nextInt(total - 1 - done) : 0;
            long delayMs = 300 + rng.nextInt(2500);
            Predicate<Long> due = byStep ? t -> lines(metrics) >= atStep : t -> t >= delayMs;
            Process p = launch(log, k == 0 ? args : resume);
            long start = System.nanoTime();
            while (p.isAlive() && !due.test((System.nanoTime() - start) / 1_000_000)) {
                Thread.sleep(2);
            }
            if (p.isAlive()) {
                p.destroyForcibly(); // SIGKILL
                killed++;
                System.out.printf("%s: launch %d killed %d ms after its start, metrics at step %d%n",
                        out.getFileName(), k + 1, (System.nanoTime() - start) / 1_000_000, lines(metrics));
            }
            assertTrue(p.waitFor(TIMEOUT_S, TimeUnit.SECONDS));
            if (p.exitValue() == 0) {
                break; // it finished before the kill: the resume below finds it finished
            }
            assertEquals(137, p.exitValue(), "the child failed by itself:\n" + Files.readString(log));
        }
        runToEnd(log, resume);
        return killed;
    }

    /** A metrics or summary record without its timings (seconds, throughput), which differ run to run. */
    private static JsonNode withoutTimings(JsonNode n) {
        ObjectNode o = n.deepCopy();
        List<String> timings = new ArrayList<>();
        o.fieldNames().forEachRemaining(k -> {
            if (k.contains("tokens_per_s") || k.startsWith("time/") || k.endsWith("_s")) {
                timings.add(k);
            }
        });
        o.remove(timings);
        return o;
    }

    private static void assertSameRun(Path reference, Path resumed, String... files) throws IOException {
        List<String> ref = Files.readAllLines(reference.resolve("metrics.jsonl")),
                got = Files.readAllLines(resumed.resolve("metrics.jsonl"));
        assertEquals(ref.size(), got.size(), "metrics lines");
        for (int i = 0; i < ref.size(); i++) {
            assertEquals(withoutTimings(JSON.readTree(ref.get(i))), withoutTimings(JSON.readTree(got.get(i))),
                    "metrics of step " + (i + 1));
        }
        assertEquals(withoutTimings(JSON.readTree(reference.resolve("train_results.json").toFile())),
                withoutTimings(JSON.readTree(resumed.resolve("train_results.json").toFile())), "train_results.json");
        for (String f : files) {
            assertArrayEquals(Files.readAllBytes(reference.resolve(f)), Files.readAllBytes(resumed.resolve(f)), f);
        }
        assertTrue(Files.readString(resumed.resolve("rlhf4j_run.json")).contains("\"status\" : \"finished\""));
    }

    @Test
    void sftKilledAtRandomPointsAndResumedIsBitIdentical(@TempDir Path tmp) throws Exception {
        int total = 8;
        String[] settings = {"--max-steps", Integer.toString(total), "--save-steps", "2", "--save-total-limit", "2",
                "--per-device-train-batch-size", "8", "--learning-rate", "2e-3", "--eval-split", "0.2"};
        Path ref = tmp.resolve("reference"), cut = tmp.resolve("killed");
        runToEnd(tmp.resolve("reference.log"), tiny.sft(ref, settings));
        int killed = killAndResume(tiny.sft(cut, settings), cut, total, 7, 3);
        assertTrue(killed >= 1, "at least one kill interrupted the run; see " + cut + ".log");
        assertSameRun(ref, cut, "model.safetensors");
        assertTrue(JSON.readTree(cut.resolve("train_results.json").toFile()).has("eval_loss"));
    }

    @Test
    void ppoKilledAtRandomPointsAndResumedIsBitIdentical(@TempDir Path tmp) throws Exception {
        Path policy = tiny.policy();
        int total = 5;
        String[] settings = {"--max-steps", Integer.toString(total), "--save-steps", "2", "--adaptive-kl-target",
                "0.5", "--adaptive-kl-horizon", "100"};
        Path ref = tmp.resolve("reference"), cut = tmp.resolve("killed");
        runToEnd(tmp.resolve("reference.log"), tiny.ppo(policy, ref, settings));
        int killed = killAndResume(tiny.ppo(policy, cut, settings), cut, total, 11, 3);
        assertTrue(killed >= 1, "at least one kill interrupted the run; see " + cut + ".log");
        assertSameRun(ref, cut, "model.safetensors", "critic/model.safetensors", "samples.jsonl");
    }

    @Test
    void aSecondRunOnTheDirectoryOfARunningOneFailsAndTheFirstComesOutWhole(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("run");
        String[] settings = {"--max-steps", "20", "--save-steps", "10", "--per-device-train-batch-size", "8",
                "--learning-rate", "1e-3"};
        Process first = launch(tmp.resolve("first.log"), tiny.sft(dir, settings));
        long start = System.nanoTime();
        while (first.isAlive() && lines(dir.resolve("metrics.jsonl")) < 1
                && System.nanoTime() - start < TIMEOUT_S * 1_000_000_000L) {
            Thread.sleep(5);
        }
        assertTrue(first.isAlive(), "the first run is still training");
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(new StringWriter()), new PrintWriter(err, true),
                tiny.sft(dir, "--max-steps", "3", "--per-device-train-batch-size", "2", "--learning-rate", "1e-2"));
        assertEquals(1, code);
        assertEquals("rlhf4j: " + dir + ": another rlhf4j run (pid " + first.pid() + ") is using this output "
                + "directory; wait for it to finish or choose another --out", err.toString().strip());
        assertTrue(first.waitFor(TIMEOUT_S, TimeUnit.SECONDS));
        assertEquals(0, first.exitValue(), Files.readString(tmp.resolve("first.log")));
        List<String> metrics = Files.readAllLines(dir.resolve("metrics.jsonl"));
        assertEquals(20, metrics.size(), "the first run's own rows, all of them");
        for (int i = 0; i < metrics.size(); i++) {
            JsonNode m = JSON.readTree(metrics.get(i));
            assertEquals(i + 1, m.get("step").asInt());
            assertTrue(m.get("learning_rate").asDouble() <= 1e-3, "the first run's schedule, not the second's");
        }
        assertEquals(1e-3, JSON.readTree(metrics.getFirst()).get("learning_rate").asDouble(), 1e-15);
    }
}
