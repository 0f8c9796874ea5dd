package dev.rlhf4j.feedback.store;

import java.util.EnumSet;
import java.util.Set;
import java.util.stream.Collectors;

/** What an annotator may flag in the responses they label (InstructGPT's harmful and untruthful, and off-topic). */
public enum Flag {
    HARMFUL, UNTRUTHFUL, OFF_TOPIC;

    public String wireName() {
        return WireNames.of(this);
    }

    public static Flag parse(String s) {
        return WireNames.parse(Flag.class, s, "flag");
    }

    /** The flags as stored: wire names joined by commas, in declaration order ("" for none). */
    public static String join(Set<Flag> flags) {
        return flags.stream().sorted().map(Flag::wireName).collect(Collectors.joining(","));
    }

    /** The inverse of {@link #join}. */
    public static Set<Flag> split(String s) {
        Set<Flag> out = EnumSet.noneOf(Flag.class);
        if (s != null && !s.isEmpty()) {
            for (String part : s.split(",")) {
                out.add(parse(part));
            }
        }
        return out;
    }
}
