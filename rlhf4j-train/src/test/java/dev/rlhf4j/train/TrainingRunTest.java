package dev.rlhf4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.Transformer;
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
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shared run loop with a trainer that only counts: what the loop itself owns, without a model. */
class TrainingRunTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final RunDirectory.Kind KIND = new RunDirectory.Kind("count", true, List.of("checkpoint-[0-9]*",
            ".checkpoint-[0-9]*.tmp", "metrics.jsonl", ".metrics.jsonl.tmp", "train_results.json"));
    private final StringWriter console = new StringWriter();

    /** Adds each step's learning rate to a sum; the steps in {@code nonFinite} report a NaN loss instead. */
    private static final class Counter implements TrainingRun.Steps<Double> {
        final int total;
        final Set<Integer> nonFinite;
        double sum;
        List<JsonNode> restoredFrom = List.of();
        final List<Double> learningRates = new ArrayList<>();

        Counter(int total, Set<Integer> nonFinite) {
            this.total = total;
            this.nonFinite = nonFinite;
        }

        @Override
        public List<Transformer> trained() {
            return List.of();
        }

        @Override
        public int totalSteps() {
            return total;
        }

        @Override
        public void restore(Path checkpoint, JsonNode state, List<JsonNode> done) {
            sum = state.path("sum").asDouble();
            restoredFrom = done;
        }

        @Override
        public TrainingRun.Step step(int step, double lr) {
            learningRates.add(lr);
            boolean skip = nonFinite.contains(step + 1);
            if (!skip) {
                sum += lr;
            }
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("loss", skip ? Double.NaN : sum);
            r.put("learning_rate", lr);
            if (skip) {
                r.put("skipped", true);
            }
            return new TrainingRun.Step(r, skip, "loss NaN", "sum " + sum);
        }

        @Override
        public void checkpoint(Path out, int step, int skippedUpdates, int keep) throws IOException {
            ObjectNode st = JSON.createObjectNode();
            st.put("global_step", step);
            st.put("sum", sum);
            Checkpoints.saveFiles(out, step, Map.of(), st, keep);
        }

        @Override
        public void saveModels(Path out) {
        }

        @Override
        public Double result(int steps, double seconds, int skippedUpdates) {
            return sum;
        }

        @Override
        public Map<String, Object> summary(Double result) {
            return Map.of("sum", result);
        }

        @Override
        public void done(PrintWriter console, Double result) {
            console.println("done: " + result);
        }

        @Override
        public Double finished(int step, JsonNode results) {
            return results.path("sum").asDouble();
        }
    }

    private Double run(Path dir, boolean resume, Counter counter, int saveSteps, int nanSkips, String reportTo)
            throws IOException {
        OptimizerConfig constant = OptimizerConfig.DEFAULTS.withLearningRate(1.0).withLrSchedulerType("constant");
        PrintWriter out = new PrintWriter(console, true);
        try (RunDirectory run = RunDirectory.open(dir, KIND, resume ? RunDirectory.Start.RESUME
                : RunDirectory.Start.NEW, out)) {
            return new TrainingRun(new TrainingRun.Settings(dir, constant, saveSteps, 10, 1, nanSkips, reportTo), out)
                    .run(run, counter);
        }
    }

    private static List<JsonNode> records(Path dir) throws IOException {
        return Checkpoints.readMetrics(dir.resolve("metrics.jsonl"));
    }

    @Test
    void everyStepIsRecordedWithItsNumberFirstAndTheSummaryWritten(@TempDir Path dir) throws IOException {
        assertEquals(3.0, run(dir, false, new Counter(3, Set.of()), 0, 5, RunReport.JSONL));
        List<JsonNode> r = records(dir);
        assertEquals(3, r.size());
        for (int s = 0; s < 3; s++) {
            assertEquals(List.of("step", "loss", "learning_rate"), fieldNames(r.get(s)));
            assertEquals(s + 1, r.get(s).get("step").asInt());
        }
        assertEquals(3.0, JSON.readTree(dir.resolve("train_results.json").toFile()).get("sum").asDouble());
        assertTrue(Files.exists(dir.resolve("checkpoint-3")), "a checkpoint at the end");
    }

    @Test
    void reportToNoneWritesNoMetricsButStillTheSummaryAndCheckpoints(@TempDir Path dir) throws IOException {
        assertEquals(3.0, run(dir, false, new Counter(3, Set.of()), 0, 5, RunReport.NONE));
        assertFalse(Files.exists(dir.resolve("metrics.jsonl")));
        assertTrue(Files.exists(dir.resolve("train_results.json")));
        assertTrue(Files.exists(dir.resolve("checkpoint-3")));
    }

    @Test
    void theNanGuardSkipsUpdatesAndAbortsAfterTheConfiguredNumberInARow(@TempDir Path dir) throws IOException {
        // steps 2 and 4 skipped, not in a row: the run finishes, the skipped steps are marked
        assertEquals(3.0, run(dir.resolve("a"), false, new Counter(5, Set.of(2, 4)), 0, 2, RunReport.JSONL));
        List<JsonNode> r = records(dir.resolve("a"));
        assertTrue(r.get(1).path("skipped").asBoolean() && r.get(3).path("skipped").asBoolean());
        assertFalse(r.get(2).has("skipped"));
        // steps 3 and 4 in a row with a limit of 2: abort at step 4, after step 3 was recorded
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> run(dir.resolve("b"), false, new Counter(6, Set.of(3, 4)), 0, 2, RunReport.JSONL));
        assertTrue(e.getMessage().startsWith("training diverged: 2 updates in a row"), e.getMessage());
        assertEquals(3, records(dir.resolve("b")).size());
    }

    @Test
    void aResumedRunContinuesFromTheNewestCheckpointWithTheRecordsUpToIt(@TempDir Path dir) throws IOException {
        run(dir, false, new Counter(4, Set.of()), 2, 5, RunReport.JSONL);
        // a record past the checkpoint, as a run killed after writing it would leave
        Files.writeString(dir.resolve("metrics.jsonl"), "{\"step\":5,\"loss\":99}\n",
                java.nio.file.StandardOpenOption.APPEND);
        Counter longer = new Counter(6, Set.of());
        assertEquals(6.0, run(dir, true, longer, 2, 5, RunReport.JSONL));
        assertEquals(4, longer.restoredFrom.size(), "the records of steps 1-4");
        assertEquals(2, longer.learningRates.size(), "only steps 5 and 6 run");
        List<JsonNode> r = records(dir);
        assertEquals(List.of(1, 2, 3, 4, 5, 6), r.stream().map(n -> n.get("step").asInt()).toList());
        assertEquals(5.0, r.get(4).get("loss").asDouble(), "the stale step-5 record was replaced");
    }

    @Test
    void aFinishedRunIsLeftAloneAndACheckpointPastTheRunIsRefused(@TempDir Path dir) throws IOException {
        run(dir, false, new Counter(4, Set.of()), 2, 5, RunReport.JSONL);
        Counter again = new Counter(4, Set.of());
        assertEquals(4.0, run(dir, true, again, 2, 5, RunReport.JSONL), "the result from train_results.json");
        assertEquals(List.of(), again.learningRates, "nothing trained");
        assertTrue(console.toString().contains("the run is already finished (step 4 of 4); nothing to do"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> run(dir, true, new Counter(2, Set.of()), 2, 5, RunReport.JSONL));
        assertTrue(e.getMessage().contains("is at step 4, past this run's 2 steps"), e.getMessage());
    }

    private static List<String> fieldNames(JsonNode n) {
        List<String> names = new ArrayList<>();
        n.fieldNames().forEachRemaining(names::add);
        return names;
    }
}
