package dev.rlhf4j.feedback.store;

/** A project as stored: its id, settings and when and by whom it was made. */
public record Project(long id, ProjectSettings settings, Long createdBy, long createdAt) {
    public String name() {
        return settings.name();
    }

    public TaskType taskType() {
        return settings.taskType();
    }
}
