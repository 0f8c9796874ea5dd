package dev.rlhf4j.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * {@code ./rlhf4j} as users run it, on the jar of this build (so this runs after {@code package}, in the
 * integration-test phase): standard error carries the program's messages and nothing of the JVM's incubator
 * warning, every other line is kept in order, and the exit code is the program's.
 */
class LauncherIT {
    private static final String INCUBATOR_WARNING = "WARNING: Using incubator modules: jdk.incubator.vector";

    @TempDir
    Path tmp;

    private record Result(int code, String out, String err) {
    }

    private Result launch(Map<String, String> env, String... args) throws IOException, InterruptedException {
        Path root = Path.of("").toAbsolutePath();
        while (root != null
                && !(Files.isRegularFile(root.resolve("rlhf4j")) && Files.isRegularFile(root.resolve("mvnw")))) {
            root = root.getParent();
        }
        assumeTrue(root != null, "no ./rlhf4j above " + Path.of("").toAbsolutePath());
        assumeTrue(jarIsCurrent(root), "rlhf4j-cli/target/rlhf4j.jar is missing or older than the sources: this "
                + "test runs after package (./rlhf4j would build the jar itself)");
        List<String> command = new ArrayList<>(List.of("bash", root.resolve("rlhf4j").toString()));
        command.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(command).directory(tmp.toFile());
        pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
        pb.environment().remove("JAVA_TOOL_OPTIONS");
        pb.environment().remove("RLHF4J_JAVA_OPTS");
        pb.environment().remove("RLHF4J_DEBUG");
        pb.environment().putAll(env);
        Path out = tmp.resolve("stdout"), err = tmp.resolve("stderr");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.PIPE);
        Process p = pb.start();
        p.getOutputStream().close();
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "./rlhf4j " + String.join(" ", args) + " did not finish");
        return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }

    /** The launcher's own rule: the jar is newer than every pom and main source file. */
    private static boolean jarIsCurrent(Path root) throws IOException {
        Path jar = root.resolve("rlhf4j-cli/target/rlhf4j.jar");
        if (!Files.isRegularFile(jar)) {
            return false;
        }
        long built = Files.getLastModifiedTime(jar).toMillis();
        List<Path> sources = new ArrayList<>(List.of(root.resolve("pom.xml")));
        try (var modules = Files.list(root)) {
            modules.filter(m -> m.getFileName().toString().startsWith("rlhf4j-")).forEach(m -> {
                sources.add(m.resolve("pom.xml"));
                sources.add(m.resolve("src/main"));
            });
        }
        for (Path s : sources) {
            if (!Files.exists(s)) {
                continue;
            }
            try (var files = Files.walk(s)) {
                if (files.anyMatch(f -> f.toFile().lastModified() > built)) {
                    return false;
                }
            }
        }
        return true;
    }

    @Test
    void versionWritesNothingOnStandardError() throws Exception {
        Result r = launch(Map.of(), "--version");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("rlhf4j "), r.out());
        assertEquals("", r.err(), "standard error of ./rlhf4j --version");
    }

    @Test
    void aUsageErrorIsTwoLinesAndExitCodeTwo() throws Exception {
        Result r = launch(Map.of(), "reward", "train", "--bogus");
        assertEquals(2, r.code(), r.err());
        assertEquals("rlhf4j: unknown option '--bogus'\nsee 'rlhf4j reward train --help'\n", r.err());
        assertEquals("", r.out());
    }

    @Test
    void theJvmsOtherStartUpLinesAreKeptInOrder() throws Exception {
        Result r = launch(Map.of("JAVA_TOOL_OPTIONS", "-Drlhf4j.launcher.test=1"), "sft", "--bogus");
        assertEquals(2, r.code(), r.err());
        assertEquals("Picked up JAVA_TOOL_OPTIONS: -Drlhf4j.launcher.test=1\nrlhf4j: unknown option '--bogus'\n"
                + "see 'rlhf4j sft --help'\n", r.err());
    }

    @Test
    void theFilterAlonePassesEverythingButTheWarning() throws Exception {
        // without the hand-over of standard error in main, everything goes through the launcher's filter
        Result r = launch(Map.of("RLHF4J_JAVA_OPTS", "-Drlhf4j.stderr.fd=", "JAVA_TOOL_OPTIONS",
                "-Drlhf4j.launcher.test=1"), "generate", "--model", "absent", "--prompt", "x");
        assertEquals(1, r.code(), r.err());
        assertEquals("Picked up JAVA_TOOL_OPTIONS: -Drlhf4j.launcher.test=1\n"
                + "rlhf4j: --model absent: no such file or directory\n", r.err());
        assertFalse(r.err().contains(INCUBATOR_WARNING));
    }

    @Test
    void aHeapTooSmallForTheModelIsOneLineSayingHowToRaiseIt() throws Exception {
        // a GPT-2-small layout (124M parameters, 0.5 GB) in a 48 MB heap
        Result r = launch(Map.of("RLHF4J_JAVA_OPTS", "-Xmx48m"), "bench", "--only", "train", "--vocab", "50257",
                "--dim", "768", "--layers", "12", "--heads", "12", "--batch", "1", "--seq", "16", "--steps", "1");
        assertEquals(1, r.code(), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("rlhf4j: ") && r.err().contains("RLHF4J_JAVA_OPTS=-Xmx"), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace");
    }
}
