package dev.rlhf4j.feedback.store;

/**
 * A request the store refused because of the state it found: a name already taken, an item already labelled by
 * this person, an invitation used or expired. The web layer answers 409 with the message.
 */
public final class StoreConflict extends RuntimeException {
    public StoreConflict(String message) {
        super(message);
    }
}
