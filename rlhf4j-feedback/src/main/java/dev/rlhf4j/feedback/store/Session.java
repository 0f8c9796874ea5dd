package dev.rlhf4j.feedback.store;

/** A signed-in browser session: its user and the CSRF token that its forms must send back. */
public record Session(User user, String csrfToken, long expiresAt) {
}
