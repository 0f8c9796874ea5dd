package dev.rlhf4j.feedback.store;

/** A person with an account. The password hash never leaves the store but through {@link FeedbackStore#login}. */
public record User(long id, String name, Role role, boolean disabled, long createdAt) {
}
