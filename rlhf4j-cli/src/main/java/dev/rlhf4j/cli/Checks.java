package dev.rlhf4j.cli;

import dev.rlhf4j.tensor.UserError;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Checks of option values that every command makes at the start of {@code call()}, before it reads a model or
 * writes a file, so that an impossible value costs nothing. Each failure is one message naming the option.
 */
final class Checks {
    private Checks() {
    }

    /** A usage error (exit code 2): options that do not go together, or one missing from a required pair. */
    static CommandLine.ParameterException usage(CommandLine.Model.CommandSpec spec, String message) {
        return new CommandLine.ParameterException(spec.commandLine(), message);
    }

    static void positive(String option, long value) {
        if (value <= 0) {
            throw new UserError(option + " must be positive, got " + value);
        }
    }

    static void nonNegative(String option, long value) {
        if (value < 0) {
            throw new UserError(option + " must be 0 or more, got " + value);
        }
    }

    static void positive(String option, double value) {
        if (!(value > 0) || Double.isInfinite(value)) {
            throw new UserError(option + " must be a positive number, got " + value);
        }
    }

    static void nonNegative(String option, double value) {
        if (!(value >= 0) || Double.isInfinite(value)) {
            throw new UserError(option + " must be a number >= 0, got " + value);
        }
    }

    static void finite(String option, double value) {
        if (!Double.isFinite(value)) {
            throw new UserError(option + " must be a finite number, got " + value);
        }
    }

    /** A value in the open interval (lo, hi). */
    static void between(String option, double value, double lo, double hi) {
        if (!(value > lo && value < hi)) {
            throw new UserError(option + " must be between " + lo + " and " + hi + " (exclusive), got "
                    + value);
        }
    }

    /** {@code --max-length}: -1 for the default, else positive. */
    static void maxLength(String option, int value) {
        if (value != -1 && value <= 0) {
            throw new UserError(option + " must be positive (or -1 for the default), got " + value);
        }
    }

    /** An input that must be a file (data, prompts): it exists and is not a directory. */
    static void inputFile(String option, Path file) {
        if (file == null) {
            return;
        }
        if (Files.isDirectory(file)) {
            throw new UserError(option + " " + file + ": is a directory, not a file");
        }
        if (!Files.exists(file)) {
            throw new UserError(option + " " + file + ": no such file");
        }
        if (!Files.isReadable(file)) {
            throw new UserError(option + " " + file + ": permission denied");
        }
    }

    /** An input that may be a file or a directory (a model, a tokenizer): it exists. */
    static void inputPath(String option, Path path) {
        if (path == null) {
            return;
        }
        if (!Files.exists(path)) {
            throw new UserError(option + " " + path + ": no such file or directory");
        }
        if (!Files.isReadable(path)) {
            throw new UserError(option + " " + path + ": permission denied");
        }
    }

    /** An output directory: not an existing file. Creating it is left to the command, after all checks. */
    static void outputDirectory(String option, Path dir) {
        if (dir != null && Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new UserError(option + " " + dir + ": exists and is not a directory");
        }
    }
}
