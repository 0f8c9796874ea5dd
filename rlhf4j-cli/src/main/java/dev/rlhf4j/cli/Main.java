package dev.rlhf4j.cli;

import dev.rlhf4j.spark.SparkCommand;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.tensor.UserStateError;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.List;
import java.util.Locale;

/**
 * The {@code rlhf4j} command, and the error contract of every subcommand: a usage error (unknown option, a value of
 * the wrong type, a missing option) prints one {@code rlhf4j:} line and where to find help, exit code 2; a user
 * error ({@link UserError}, {@link UserStateError} or an I/O error: a bad file, an impossible value) prints one
 * {@code rlhf4j:} line naming the file, key or option, exit code 1; anything else may be a bug and prints its line
 * and how to see the stack trace, exit code 1. {@code --debug} (or {@code RLHF4J_DEBUG=1}) adds the stack trace to
 * any of them.
 */
@Command(name = "rlhf4j", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "RLHF on the JVM: supervised fine-tuning, reward models, PPO, DPO, GRPO and RLOO for causal "
                + "language models.",
        subcommands = {GenerateCommand.class, TokenizeCommand.class, InfoCommand.class, ConvertCommand.class,
                PretrainCommand.class, SftCommand.class, EvalCommand.class, RewardCommand.class, LabCommand.class,
                SimulatePreferencesCommand.class, PpoCommand.class, DpoCommand.class, GrpoCommand.class,
                DemoCommand.class,
                ServeCommand.class,
                FeedbackCommand.class, LoopCommand.class, ClaimsCommand.class, ReportCommand.class, BenchCommand.class,
                BestOfNCommand.class, OnlineDpoCommand.class,
                CompareMethodsCommand.class,
                SparkCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    static final int USER_ERROR = 1;
    static final int USAGE_ERROR = 2;
    static final String DEBUG_HINT = "run with --debug (or RLHF4J_DEBUG=1) for the stack trace";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    // read from the arguments before parsing (errors can come first); declared for --help and for picocli to accept
    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT,
            description = "Print the stack trace of any error (also RLHF4J_DEBUG=1).")
    boolean debug;

    public static void main(String[] args) {
        StandardError.restore();
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit code (0 success, 1 user error, 2 usage error). */
    public static int run(String... args) {
        return run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
    }

    /** As {@link #run(String...)}, writing to the given streams. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        boolean debug = debugRequested(args, System.getenv("RLHF4J_DEBUG"));
        try {
            CommandLine cl = new CommandLine(new Main());
            // PPO's options live in this module, the Spark jobs in rlhf4j-spark: `spark ppo` joins them here
            cl.getSubcommands().get("spark").addSubcommand(new SparkPpoCommand());
            cl.setOut(out);
            cl.setErr(err);
            cl.setParameterExceptionHandler((ex, a) -> usageError(ex, err, debug));
            cl.setExecutionExceptionHandler((ex, commandLine, parseResult) -> failure(ex, err, debug, commandLine));
            YamlDefaults.install(cl, args);
            return cl.execute(args);
        } catch (Throwable t) {
            // what picocli does not route to the handlers: YAML errors before parsing, and Errors such as
            // OutOfMemoryError thrown by a command
            return failure(t, err, debug, null);
        }
    }

    /** {@code --debug} anywhere before a {@code --} that ends the options, or {@code RLHF4J_DEBUG=1}. */
    static boolean debugRequested(String[] args, String env) {
        if (env != null && (env.equals("1") || env.equalsIgnoreCase("true"))) {
            return true;
        }
        for (String a : args) {
            if (a.equals("--")) {
                return false;
            }
            if (a.equals("--debug")) {
                return true;
            }
        }
        return false;
    }

    /**
     * A command line picocli could not parse, or a value it could not convert: one line and where to find help
     * (exit 2); a value of the wrong type in a {@code --config} file names the file and key instead (exit 1).
     */
    static int usageError(CommandLine.ParameterException ex, PrintWriter err, boolean debug) {
        CommandLine cl = ex.getCommandLine();
        String fromConfig = YamlDefaults.describeBadValue(ex);
        if (fromConfig != null) {
            err.println("rlhf4j: " + fromConfig);
        } else {
            err.println("rlhf4j: " + usageMessage(ex));
            err.println("see '" + cl.getCommandSpec().qualifiedName() + " --help'");
        }
        if (debug) {
            ex.printStackTrace(err);
        }
        err.flush();
        return fromConfig != null ? USER_ERROR : USAGE_ERROR;
    }

    private static String usageMessage(CommandLine.ParameterException ex) {
        CommandLine.ParseResult parsed = ex.getCommandLine().getParseResult();
        List<String> unmatched = ex instanceof CommandLine.UnmatchedArgumentException u ? u.getUnmatched()
                : parsed == null ? List.of() : parsed.unmatched();
        // an unknown option explains a missing one (a typo in its name), so it is reported first
        if (!unmatched.isEmpty()) {
            String first = unmatched.getFirst();
            List<String> close = ex instanceof CommandLine.UnmatchedArgumentException u ? u.getSuggestions()
                    : List.of();
            String didYouMean = close.isEmpty() ? ""
                    : " (did you mean " + String.join(" or ", close.subList(0, Math.min(3, close.size()))) + "?)";
            if (first.startsWith("-")) {
                return "unknown option '" + first + "'" + didYouMean;
            }
            boolean hasCommands = !ex.getCommandLine().getSubcommands().isEmpty();
            return (hasCommands ? "unknown command '" : "unexpected argument '") + first + "'" + didYouMean;
        }
        if (ex.getArgSpec() != null && ex.getCause() instanceof CommandLine.TypeConversionException t) {
            return "invalid value for " + argName(ex.getArgSpec()) + ": " + conversionMessage(ex.getArgSpec(),
                    ex.getValue(), t);
        }
        String m = ex.getMessage() == null ? ex.getClass().getSimpleName() : ex.getMessage();
        return m.length() > 1 && Character.isLowerCase(m.charAt(1)) ? Character.toLowerCase(m.charAt(0))
                + m.substring(1) : m;
    }

    static String argName(CommandLine.Model.ArgSpec arg) {
        return arg instanceof CommandLine.Model.OptionSpec o ? "option '" + o.longestName() + "'"
                : "parameter " + arg.paramLabel();
    }

    /** Why a value could not be converted, in words rather than Java type names. */
    static String conversionMessage(CommandLine.Model.ArgSpec arg, String value,
            CommandLine.TypeConversionException e) {
        Class<?> type = arg.type();
        if (type == int.class || type == Integer.class || type == long.class || type == Long.class) {
            return "'" + value + "' is not a whole number";
        }
        if (type == double.class || type == Double.class || type == float.class || type == Float.class) {
            return "'" + value + "' is not a number";
        }
        if (type == boolean.class || type == Boolean.class) {
            return "'" + value + "' is not true or false";
        }
        return e.getMessage();
    }

    /**
     * An exception out of a command: a user error prints its message, an {@link OutOfMemoryError} says how to give
     * the JVM more heap, another IllegalArgument/IllegalState exception prints its message and the {@code --debug}
     * hint, anything else is reported as an internal error with its class and the hint. Exit code 1. {@code command},
     * when known,
     * is the command that failed, whose {@code --config} file is named when the failing value came from it.
     */
    static int failure(Throwable ex, PrintWriter err, boolean debug, CommandLine command) {
        Throwable oom = cause(ex, OutOfMemoryError.class);
        boolean internal = false;
        if (oom != null) {
            err.println("rlhf4j: " + outOfMemory(oom, Runtime.getRuntime().maxMemory()));
        } else if (isUserError(ex)) {
            err.println("rlhf4j: " + YamlDefaults.attribute(command, message(ex)));
            internal = ioWithoutPath(ex);
        } else if (ex instanceof IllegalArgumentException || ex instanceof IllegalStateException) {
            // a check not marked as the user's: its message is likely meant for the user, but it may be a fault of
            // the program, so the stack trace is one flag away
            err.println("rlhf4j: " + YamlDefaults.attribute(command, message(ex)));
            internal = true;
        } else {
            err.println("rlhf4j: internal error: " + ex.getClass().getName()
                    + (ex.getMessage() == null ? "" : ": " + ex.getMessage().lines().findFirst().orElse("")));
            internal = true;
        }
        if (debug) {
            ex.printStackTrace(err);
        } else if (internal) {
            err.println("rlhf4j: " + DEBUG_HINT);
        }
        err.flush();
        return USER_ERROR;
    }

    /** Errors a user can cause (bad paths, malformed files, impossible settings) print one line, no stack trace. */
    static boolean isUserError(Throwable ex) {
        return ex instanceof UserError || ex instanceof UserStateError || ex instanceof IOException
                || ex instanceof UncheckedIOException;
    }

    /** The user-facing message: a file system error names its path, and says what went wrong in words. */
    static String message(Throwable ex) {
        Throwable t = ex instanceof UncheckedIOException u && u.getCause() != null ? u.getCause() : ex;
        if (t instanceof FileSystemException f) {
            return fileSystemMessage(f);
        }
        String m = t.getMessage();
        if (m == null || m.isBlank()) {
            return t.getClass().getSimpleName();
        }
        if (t instanceof FileNotFoundException && m.endsWith(")") && m.contains(" (")) {
            // java.io's "PATH (Reason)"
            int open = m.lastIndexOf(" (");
            return m.substring(0, open) + ": " + lowerFirst(m.substring(open + 2, m.length() - 1));
        }
        if (ioWithoutPath(ex)) {
            return "I/O error: " + m + " (the file was not named)";
        }
        return m;
    }

    /** "PATH: what went wrong" for the file system exceptions of java.nio, whose own message is often only the path. */
    static String fileSystemMessage(FileSystemException e) {
        if (e.getFile() == null) {
            return fileSystemReason(e);
        }
        return e.getFile() + (e.getOtherFile() == null ? "" : " -> " + e.getOtherFile()) + ": " + fileSystemReason(e);
    }

    /** What went wrong, in words, without the path. */
    static String fileSystemReason(FileSystemException e) {
        return e.getReason() != null ? lowerFirst(e.getReason()) : switch (e) {
            case NoSuchFileException x -> "no such file or directory";
            case AccessDeniedException x -> "permission denied";
            case FileAlreadyExistsException x -> "already exists";
            case DirectoryNotEmptyException x -> "directory not empty";
            case NotDirectoryException x -> "not a directory";
            default -> e.getClass().getSimpleName();
        };
    }

    /**
     * An I/O error raised by the JDK itself with no file in it ("No space left on device", "Is a directory"): the
     * call site lost the path, which is a bug to fix there; the stack trace says which.
     */
    static boolean ioWithoutPath(Throwable ex) {
        Throwable t = ex instanceof UncheckedIOException u && u.getCause() != null ? u.getCause() : ex;
        if (!(t instanceof IOException) || t instanceof FileSystemException || t instanceof FileNotFoundException) {
            return false;
        }
        StackTraceElement[] trace = t.getStackTrace();
        String thrower = trace.length == 0 ? "" : trace[0].getClassName();
        return thrower.startsWith("java.") || thrower.startsWith("sun.") || thrower.startsWith("jdk.");
    }

    /** One line: the heap was too small, how large it was, and how to raise it. */
    static String outOfMemory(Throwable oom, long maxHeapBytes) {
        String m = oom.getMessage() == null ? "" : oom.getMessage();
        String heap = heapSize(maxHeapBytes);
        if (m.contains("Requested array size exceeds VM limit")) {
            return "out of memory: an array larger than Java allows was requested (the model or batch is too large "
                    + "for one tensor)";
        }
        if (!m.isEmpty() && !m.contains("Java heap space") && !m.contains("GC overhead")) {
            return "out of memory (" + m + "); the Java heap may be at most " + heap;
        }
        return "out of memory: the Java heap (at most " + heap + " here) is too small for this run; give it more "
                + "with RLHF4J_JAVA_OPTS=-Xmx<size>, e.g. RLHF4J_JAVA_OPTS=-Xmx16g ./rlhf4j ...";
    }

    /** A heap size as -Xmx would be written for it: in GiB from 1 GiB up, else in MiB. */
    static String heapSize(long bytes) {
        return bytes >= 1L << 30 ? String.format(Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30))
                : (bytes >> 20) + " MiB";
    }

    private static Throwable cause(Throwable t, Class<? extends Throwable> type) {
        for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (type.isInstance(c)) {
                return c;
            }
        }
        return null;
    }

    private static String lowerFirst(String s) {
        return s.length() > 1 && Character.isUpperCase(s.charAt(0)) && Character.isLowerCase(s.charAt(1))
                ? Character.toLowerCase(s.charAt(0)) + s.substring(1) : s;
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
