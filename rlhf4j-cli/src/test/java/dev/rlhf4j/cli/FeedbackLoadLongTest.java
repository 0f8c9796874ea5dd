package dev.rlhf4j.cli;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A short {@code rlhf4j feedback load} on SQLite: 10 annotators for 10 s through the JSON API of a real
 * {@code rlhf4j serve} child process, {@code kill -9}ed at 5 s and restarted; every acknowledged vote must be in the
 * store exactly once. Runs with -Plong (a minute with the JVM starts).
 */
@Tag("long")
class FeedbackLoadLongTest {
    @Test
    void aKilledServerLosesNoAcknowledgedVote(@TempDir Path dir) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        PrintWriter e = new PrintWriter(err, true);
        CommandLine cl = new CommandLine(new FeedbackLoadCommand());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(e);
        cl.setExecutionExceptionHandler((ex, c, p) -> Main.failure(ex, e, true, c));
        int code = cl.execute("--data-dir", dir.resolve("store").toString(), "--annotators", "10", "--seconds", "10",
                "--kill-after", "5", "--items", "5000");
        String report = out + "\n" + err;
        assertEquals(0, code, report);
        assertTrue(report.contains("load check passed"), report);
        assertTrue(report.contains("server killed (kill -9) at"), report);
        // votes were acknowledged on both sides of the kill
        assertTrue(!report.contains("votes acknowledged: 0 "), report);
    }
}
