package dev.rlhf4j.cli;

import dev.rlhf4j.feedback.auth.Passwords;
import dev.rlhf4j.feedback.store.Database;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Role;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code rlhf4j serve --create-admin} and the option checks of serve (the server itself: FeedbackLoadLongTest). */
class ServeCommandTest {
    private static final String PASSWORD = "correct horse battery";

    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    /** Runs serve in this JVM with the environment {@code env} and a terminal that answers {@code typed}. */
    private int run(Map<String, String> env, List<String> typed, String... args) {
        ServeCommand cmd = new ServeCommand();
        cmd.env = env::get;
        List<String> answers = new ArrayList<>(typed == null ? List.of() : typed);
        Function<String, char[]> terminal = prompt -> typed == null ? null
                : answers.isEmpty() ? null : answers.removeFirst().toCharArray();
        cmd.terminal = terminal;
        PrintWriter o = new PrintWriter(out, true);
        PrintWriter e = new PrintWriter(err, true);
        CommandLine cl = new CommandLine(cmd);
        cl.setOut(o);
        cl.setErr(e);
        cl.setParameterExceptionHandler((ex, a) -> Main.usageError(ex, e, false));
        cl.setExecutionExceptionHandler((ex, c, p) -> Main.failure(ex, e, false, c));
        return cl.execute(args);
    }

    @Test
    void createAdminTakesThePasswordFromTheEnvironmentAndDoesNotServe(@TempDir Path dir) {
        assertEquals(0, run(Map.of(ServeCommand.PASSWORD_ENV, PASSWORD), null, "--data-dir", dir.toString(),
                "--create-admin", "alice"), err.toString());
        assertTrue(out.toString().contains("created the admin alice"), out.toString());
        assertFalse(out.toString().contains("serving"), out.toString());
        try (Database db = Database.sqlite(dir)) {
            FeedbackStore s = new FeedbackStore(db);
            FeedbackStore.Credentials c = s.credentials("alice").orElseThrow();
            assertEquals(Role.ADMIN, c.user().role());
            assertTrue(c.passwordHash().startsWith("$argon2"), c.passwordHash());
            assertTrue(Passwords.matches(PASSWORD, c.passwordHash()));
            assertEquals("create_admin", s.auditLog(10).getFirst().action());
        }
    }

    @Test
    void createAdminReadsThePasswordTwiceFromTheTerminal(@TempDir Path dir) {
        assertEquals(0, run(Map.of(), List.of(PASSWORD, PASSWORD), "--data-dir", dir.toString(), "--create-admin",
                "bob"), err.toString());
        try (Database db = Database.sqlite(dir)) {
            String hash = new FeedbackStore(db).credentials("bob").orElseThrow().passwordHash();
            assertTrue(Passwords.matches(PASSWORD, hash));
        }
    }

    @Test
    void twoDifferentPasswordsAtTheTerminalAreRefused(@TempDir Path dir) {
        assertEquals(1, run(Map.of(), List.of(PASSWORD, PASSWORD + "x"), "--data-dir", dir.toString(),
                "--create-admin", "bob"));
        assertEquals("rlhf4j: --create-admin: the two passwords differ", err.toString().strip());
    }

    @Test
    void aTakenNameIsRefused(@TempDir Path dir) {
        Map<String, String> env = Map.of(ServeCommand.PASSWORD_ENV, PASSWORD);
        assertEquals(0, run(env, null, "--data-dir", dir.toString(), "--create-admin", "alice"), err.toString());
        assertEquals(1, run(env, null, "--data-dir", dir.toString(), "--create-admin", "alice"));
        String line = err.toString().strip();
        assertTrue(line.startsWith("rlhf4j: --create-admin alice: the name is taken"), line);
        assertEquals(1, line.lines().count(), line);
    }

    @Test
    void withoutATerminalOrThePasswordVariableItSaysWhatToSet(@TempDir Path dir) {
        assertEquals(1, run(Map.of(), null, "--data-dir", dir.toString(), "--create-admin", "alice"));
        assertEquals("rlhf4j: --create-admin: no terminal to read the password from; set "
                + ServeCommand.PASSWORD_ENV, err.toString().strip());
    }

    @Test
    void aShortPasswordAndABadNameAreRefused(@TempDir Path dir) {
        assertEquals(1, run(Map.of(ServeCommand.PASSWORD_ENV, "short"), null, "--data-dir", dir.toString(),
                "--create-admin", "alice"));
        assertTrue(err.toString().startsWith("rlhf4j: --create-admin: a password has at least"), err.toString());
        assertEquals(1, run(Map.of(ServeCommand.PASSWORD_ENV, PASSWORD), null, "--data-dir", dir.toString(),
                "--create-admin", "<b>"));
        assertTrue(err.toString().contains("rlhf4j: --create-admin <b>: "), err.toString());
    }

    @Test
    @Timeout(120)
    void aPortInUseIsOneLineNamingIt(@TempDir Path dir) throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            int port = taken.getLocalPort();
            assertEquals(1, run(Map.of(), null, "--data-dir", dir.toString(), "--port", Integer.toString(port)));
            assertTrue(err.toString().startsWith("rlhf4j: port " + port + " on 127.0.0.1 is in use by another "
                    + "program"), err.toString());
            assertFalse(err.toString().contains("internal error"), err.toString());
        }
    }

    @Test
    void aDataDirThatIsAFileIsOneLineNamingIt(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("notes.txt"), "mine");
        assertEquals(1, run(Map.of(ServeCommand.PASSWORD_ENV, PASSWORD), null, "--data-dir", file.toString(),
                "--create-admin", "alice"));
        assertEquals("rlhf4j: --data-dir " + file + ": not a directory", err.toString().strip());
        assertEquals("mine", Files.readString(file));
    }

    @Test
    void dataDirAndDbTogetherAreRefused(@TempDir Path dir) {
        assertEquals(1, run(Map.of(ServeCommand.PASSWORD_ENV, PASSWORD), null, "--data-dir", dir.toString(), "--db",
                "jdbc:postgresql://localhost/x", "--create-admin", "alice"));
        assertEquals("rlhf4j: give either --data-dir or --db, not both", err.toString().strip());
    }

    @Test
    void helpSaysCreateAdminDoesNotServeAndWhatZeroZeroZeroZeroDoes() {
        assertEquals(0, run(Map.of(), null, "--help"));
        String help = out.toString().replaceAll("\\s+", " ");
        assertTrue(help.contains("exit WITHOUT serving"), help);
        assertTrue(help.contains("0.0.0.0 exposes the app to the network"), help);
    }

    @Test
    void createAdminInAChildProcessReadsTheRealEnvironment(@TempDir Path dir) throws Exception {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), "dev.rlhf4j.cli.Main", "serve", "--data-dir", dir.toString(),
                "--create-admin", "carol");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put(ServeCommand.PASSWORD_ENV, PASSWORD);
        Process p = pb.start();
        p.getOutputStream().close();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), output);
        assertEquals(0, p.exitValue(), output);
        try (Database db = Database.sqlite(dir)) {
            FeedbackStore s = new FeedbackStore(db);
            assertEquals(1, s.countAdmins());
            assertTrue(Passwords.matches(PASSWORD, s.credentials("carol").orElseThrow().passwordHash()));
        }
    }

    @Test
    void servePrintsItsAddressAndTheAdminHintAndStopsWithZeroOnSigterm(@TempDir Path dir) throws Exception {
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), "dev.rlhf4j.cli.Main", "serve", "--port", "0", "--data-dir",
                dir.toString());
        Path log = dir.resolve("serve.log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        p.getOutputStream().close();
        // (the process streams close when it is destroyed: its output goes to a file)
        for (int i = 0; i < 1200 && !Files.readString(log).contains("no admin account") && p.isAlive(); i++) {
            Thread.sleep(50);
        }
        p.destroy(); // SIGTERM
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), Files.readString(log));
        List<String> lines = Files.readAllLines(log).stream().filter(l -> l.startsWith("rlhf4j:")).toList();
        assertTrue(lines.size() >= 2, String.join("\n", lines));
        assertTrue(lines.get(0).matches("rlhf4j: serving the feedback app at http://127\\.0\\.0\\.1:\\d+/"
                + " \\(SQLite .*feedback\\.db\\)"), lines.get(0));
        assertEquals("rlhf4j: no admin account yet: run rlhf4j serve --create-admin NAME", lines.get(1));
        assertEquals(0, p.exitValue(), Files.readString(log));
    }
}
