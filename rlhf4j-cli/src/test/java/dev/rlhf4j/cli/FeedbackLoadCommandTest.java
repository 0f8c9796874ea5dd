package dev.rlhf4j.cli;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The option checks of {@code rlhf4j feedback load} (the load itself: FeedbackLoadLongTest, -Plong). */
class FeedbackLoadCommandTest {
    private final StringWriter err = new StringWriter();

    private int run(String... args) {
        PrintWriter e = new PrintWriter(err, true);
        CommandLine cl = new CommandLine(new FeedbackLoadCommand());
        cl.setErr(e);
        cl.setOut(new PrintWriter(new StringWriter()));
        cl.setExecutionExceptionHandler((ex, c, p) -> Main.failure(ex, e, false, c));
        return cl.execute(args);
    }

    @Test
    void aKillAfterTheEndIsRefused() {
        assertEquals(1, run("--seconds", "10", "--kill-after", "10"));
        assertEquals("rlhf4j: --kill-after must be in (0, --seconds), got 10.0", err.toString().strip());
    }

    @Test
    void dataDirAndDbTogetherAreRefused() {
        assertEquals(1, run("--data-dir", "x", "--db", "jdbc:postgresql://localhost/x"));
        assertEquals("rlhf4j: give either --data-dir or --db, not both", err.toString().strip());
    }

    @Test
    void noAnnotatorsIsRefused() {
        assertEquals(1, run("--annotators", "0"));
        assertEquals("rlhf4j: --annotators must be positive, got 0", err.toString().strip());
    }
}
