package dev.rlhf4j.feedback.store;

/** The database failed (connection lost, disk full, a constraint the store did not expect). */
public final class StoreException extends RuntimeException {
    public StoreException(String message, Throwable cause) {
        super(message, cause);
    }
}
