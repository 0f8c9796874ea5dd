package dev.rlhf4j.feedback.store;

/** A response of an item; {@code position} is its place (0..K-1) as imported or sampled, never as shown. */
public record Response(long id, long itemId, int position, String text, String source) {
}
