package dev.rlhf4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;

/** The {@code rlhf4j} command. */
@Command(name = "rlhf4j", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "RLHF on the JVM: supervised fine-tuning, reward models and PPO for causal language models.",
        subcommands = {GenerateCommand.class, TokenizeCommand.class, InfoCommand.class, ConvertCommand.class,
                PretrainCommand.class, SftCommand.class, EvalCommand.class, RewardCommand.class, LabCommand.class,
                SimulatePreferencesCommand.class, PpoCommand.class, DemoCommand.class, BenchCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit code (0 success, 1 user error, 2 usage error). */
    public static int run(String... args) {
        return run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
    }

    /** As {@link #run(String...)}, writing to the given streams. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(out);
        cl.setErr(err);
        try {
            YamlDefaults.install(cl, args);
        } catch (IllegalArgumentException e) {
            err.println("rlhf4j: " + e.getMessage());
            err.flush();
            return 1;
        }
        cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> {
            if (isUserError(ex)) {
                commandLine.getErr().println("rlhf4j: " + message(ex));
                return 1;
            }
            throw ex;
        });
        return cl.execute(args);
    }

    /** Errors a user can cause (bad paths, malformed files, impossible settings) print one line, no stack trace. */
    static boolean isUserError(Throwable ex) {
        return ex instanceof IllegalArgumentException || ex instanceof IllegalStateException
                || ex instanceof IOException || ex instanceof UncheckedIOException;
    }

    private static String message(Throwable ex) {
        Throwable t = ex instanceof UncheckedIOException u && u.getCause() != null ? u.getCause() : ex;
        String m = t.getMessage();
        return m == null || m.isBlank() ? t.getClass().getSimpleName() : m;
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"rlhf4j " + (v == null ? "(development build)" : v) + " on Java "
                    + Runtime.version()};
        }
    }
}
