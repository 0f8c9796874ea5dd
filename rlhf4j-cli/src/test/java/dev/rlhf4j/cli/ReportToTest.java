package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.train.report.MetricsReport;
import dev.rlhf4j.train.report.TensorBoardEvents;
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

/** {@code --report-to}: where each step's metrics go. */
class ReportToTest {
    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        return Main.run(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true), args);
    }

    @Test
    void jsonlWritesOneRecordPerStepAndNoneWritesNoMetricsFile(@TempDir Path dir) throws IOException {
        TinyRun tiny = TinyRun.create(dir);
        Path jsonl = dir.resolve("jsonl"), none = dir.resolve("none");
        assertEquals(0, run(tiny.sft(jsonl, "--max-steps", "2")), err.toString());
        assertEquals(2, Files.readAllLines(jsonl.resolve("metrics.jsonl")).size());
        assertEquals(0, run(tiny.sft(none, "--max-steps", "2", "--report-to", "none")), err.toString());
        assertFalse(Files.exists(none.resolve("metrics.jsonl")));
        assertTrue(Files.exists(none.resolve("train_results.json")));
        assertTrue(Files.exists(none.resolve("model.safetensors")));
    }

    @Test
    void tensorboardWritesEveryMetricOfMetricsJsonlAsAScalar(@TempDir Path dir) throws IOException {
        TinyRun tiny = TinyRun.create(dir);
        Path out = dir.resolve("both");
        assertEquals(0, run(tiny.sft(out, "--max-steps", "3", "--report-to", "jsonl,tensorboard")), err.toString());
        List<Path> files = TensorBoardEvents.files(out);
        assertEquals(1, files.size(), files.toString());
        List<TensorBoardEvents.Scalar> read = TensorBoardEvents.readScalars(files.getFirst());
        List<TensorBoardEvents.Scalar> expected = new ArrayList<>();
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"))) {
            JsonNode r = new ObjectMapper().readTree(line);
            r.properties().forEach(e -> {
                if (!e.getKey().equals("step") && e.getValue().isNumber()) {
                    expected.add(new TensorBoardEvents.Scalar(e.getKey(), r.get("step").asLong(),
                            e.getValue().floatValue()));
                }
            });
        }
        assertTrue(expected.stream().anyMatch(s -> s.tag().equals("loss")), expected.toString());
        assertEquals(expected, read);
        // tensorboard alone: the event file and no metrics.jsonl
        Path tb = dir.resolve("tb");
        assertEquals(0, run(tiny.sft(tb, "--max-steps", "2", "--report-to", "tensorboard")), err.toString());
        assertFalse(Files.exists(tb.resolve("metrics.jsonl")));
        assertEquals(1, TensorBoardEvents.files(tb).size());
    }

    @Test
    void aResumedRunWritesASecondEventFileAndTheReportReadsTheStepsOnce(@TempDir Path dir) throws IOException {
        TinyRun tiny = TinyRun.create(dir);
        Path out = dir.resolve("tb");
        assertEquals(0, run(tiny.sft(out, "--max-steps", "2", "--save-steps", "2", "--report-to", "tensorboard")),
                err.toString());
        // a report written into the run directory does not stop it from being resumed
        assertEquals(0, run("report", out.toString()), err.toString());
        assertTrue(Files.exists(out.resolve("report.html")));
        assertEquals(0, run(tiny.sft(out, "--max-steps", "4", "--save-steps", "2", "--report-to", "tensorboard",
                "--resume")), err.toString());
        List<Path> files = TensorBoardEvents.files(out);
        assertEquals(2, files.size(), files.toString());
        List<TensorBoardEvents.Event> second = TensorBoardEvents.read(files.get(1));
        assertTrue(second.get(1).sessionStart());
        assertEquals(3, second.get(1).step());
        // no metrics.jsonl: the report reads the event files, steps 1 to 4 once each
        List<MetricsReport.Run> runs = MetricsReport.load(List.of(out));
        assertEquals(List.of(1L, 2L, 3L, 4L), runs.getFirst().records().stream().map(r -> r.get("step").asLong())
                .toList());
        // --overwrite deletes the event files and the report with the rest of the run
        assertEquals(0, run(tiny.sft(out, "--max-steps", "1", "--report-to", "jsonl", "--overwrite")), err.toString());
        assertEquals(List.of(), TensorBoardEvents.files(out));
        assertFalse(Files.exists(out.resolve("report.html")));
    }

    @Test
    void noneCannotBeCombined(@TempDir Path dir) throws IOException {
        TinyRun tiny = TinyRun.create(dir);
        assertEquals(2, run(tiny.sft(dir.resolve("out"), "--report-to", "jsonl,none")));
        assertTrue(err.toString().startsWith("rlhf4j: invalid value for option '--report-to': 'none' cannot be "
                + "combined"), err.toString());
    }

    @Test
    void anUnknownReportTargetIsAUsageError(@TempDir Path dir) throws IOException {
        TinyRun tiny = TinyRun.create(dir);
        assertEquals(2, run(tiny.sft(dir.resolve("out"), "--report-to", "wandb")));
        assertTrue(err.toString().startsWith("rlhf4j: invalid value for option '--report-to': 'wandb' is not one of "
                + "jsonl, tensorboard, none"), err.toString());
        assertFalse(Files.exists(dir.resolve("out")));
    }
}
