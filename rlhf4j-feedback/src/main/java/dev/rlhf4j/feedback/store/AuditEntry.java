package dev.rlhf4j.feedback.store;

/** An admin action: who ({@code userName}, null for the command line), what, and when. */
public record AuditEntry(long id, Long userId, String userName, String action, String detail, long createdAt) {
}
