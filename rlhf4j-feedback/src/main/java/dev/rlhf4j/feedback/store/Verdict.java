package dev.rlhf4j.feedback.store;

import java.util.Locale;

/** A comparison's outcome: one response is better, they are as good as each other, or both are bad. */
public enum Verdict {
    BETTER, TIE, BOTH_BAD;

    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Verdict parse(String s) {
        for (Verdict v : values()) {
            if (v.wireName().equals(s)) {
                return v;
            }
        }
        throw new IllegalArgumentException("unknown verdict \"" + s + "\" (expected better, tie or both_bad)");
    }
}
