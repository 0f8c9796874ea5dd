package dev.rlhf4j.tensor;

/**
 * A {@link UserError} about the state of things rather than an argument: another run holds the output directory,
 * a finished run is already there, a judge scored every sampled pair alike. The user fixes it by changing that state
 * (waiting, choosing another directory, sampling more); the CLI prints its one line without a stack trace.
 */
public class UserStateError extends IllegalStateException {

    public UserStateError(String message) {
        super(message);
    }
}
