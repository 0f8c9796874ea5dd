package dev.rlhf4j.tensor;

/**
 * A failure the user can fix: a bad path or option value, a malformed data record, a config key out of range, a
 * model file that does not hold what it claims. The message is one line that names the file (and line), option,
 * key or shapes; the CLI prints it without a stack trace. Every other exception is a fault of the program, printed
 * with a hint to rerun with {@code --debug}.
 *
 * <p>It lives in the lowest module so that every module can throw it; it extends
 * {@link IllegalArgumentException} because every such failure is an argument (a file, an option, a record) the
 * program cannot use, and so callers that catch that keep working.
 */
public class UserError extends IllegalArgumentException {

    public UserError(String message) {
        super(message);
    }

    public UserError(String message, Throwable cause) {
        super(message, cause);
    }
}
