package dev.rlhf4j.feedback.store;

/**
 * What a person may do. Admins run projects, people and exports; annotators label the items of their own queue;
 * viewers see projects and their quality figures but label nothing and see no one's labels.
 */
public enum Role {
    ADMIN, ANNOTATOR, VIEWER;

    /** The name in the store, the API and the UI: "admin", "annotator", "viewer". */
    public String wireName() {
        return WireNames.of(this);
    }

    /** The role named {@code s} ("admin", "annotator", "viewer"). */
    public static Role parse(String s) {
        return WireNames.parse(Role.class, s, "role");
    }
}
