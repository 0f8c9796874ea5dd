package dev.rlhf4j.feedback.store;

import java.util.List;

/**
 * An item handed to a person, with its responses in stored order (the web layer randomises the order shown) and
 * {@code assignedAt}, when it was handed out (the time per item is measured from it).
 */
public record Task(Project project, Item item, List<Response> responses, long assignedAt) {
}
