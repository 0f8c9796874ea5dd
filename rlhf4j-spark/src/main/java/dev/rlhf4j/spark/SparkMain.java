package dev.rlhf4j.spark;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.tensor.UserStateError;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;

/**
 * The main class for spark-submit: the subcommands of {@code rlhf4j spark} ({@code generate}, {@code reward-score},
 * {@code best-of-n}, {@code lab-score}) with the same options, e.g.
 * {@code spark-submit --class dev.rlhf4j.spark.SparkMain rlhf4j-spark-VERSION-spark.jar generate --model M ...}.
 * A user's error (a bad file, a malformed line, a bad option value) prints one {@code rlhf4j:} line, exit code 1; a
 * command line that does not parse prints one line and where to find help, exit code 2.
 */
public final class SparkMain {
    private SparkMain() {
    }

    public static void main(String[] args) {
        System.exit(run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args));
    }

    /** Runs the command line; returns the exit code. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = new CommandLine(new SparkCommand());
        cl.setCommandName("rlhf4j-spark");
        cl.setOut(out);
        cl.setErr(err);
        cl.setParameterExceptionHandler((ex, a) -> {
            err.println("rlhf4j: " + ex.getMessage());
            err.println("see '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help'");
            err.flush();
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, commandLine, parsed) -> {
            boolean user = ex instanceof UserError || ex instanceof UserStateError || ex instanceof IOException
                    || ex instanceof UncheckedIOException;
            Throwable shown = ex instanceof UncheckedIOException u && u.getCause() != null ? u.getCause() : ex;
            err.println("rlhf4j: " + (user ? "" : "internal error: " + ex.getClass().getName() + ": ")
                    + shown.getMessage());
            if (!user) {
                ex.printStackTrace(err);
            }
            err.flush();
            return 1;
        });
        return cl.execute(args);
    }
}
