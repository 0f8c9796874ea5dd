package dev.rlhf4j.feedback.store;

/**
 * Progress of a project: items, items whose responses are all there, labels, and items labelled by all their
 * replicas.
 */
public record ProjectCounts(int items, int readyItems, int labels, int completeItems) {
}
