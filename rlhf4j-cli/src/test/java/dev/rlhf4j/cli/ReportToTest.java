package dev.rlhf4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

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
    void anUnknownReportTargetIsAUsageError(@TempDir Path dir) throws IOException {
        TinyRun tiny = TinyRun.create(dir);
        assertEquals(2, run(tiny.sft(dir.resolve("out"), "--report-to", "wandb")));
        assertTrue(err.toString().startsWith("rlhf4j: invalid value for option '--report-to': 'wandb' is not one of "
                + "jsonl, none"), err.toString());
        assertFalse(Files.exists(dir.resolve("out")));
    }
}
