package dev.rlhf4j.feedback.store;

/** A comparison's outcome: one response is better, they are as good as each other, or both are bad. */
public enum Verdict {
    BETTER, TIE, BOTH_BAD;

    public String wireName() {
        return WireNames.of(this);
    }

    public static Verdict parse(String s) {
        return WireNames.parse(Verdict.class, s, "verdict");
    }
}
