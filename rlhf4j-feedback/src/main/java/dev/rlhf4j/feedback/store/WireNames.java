package dev.rlhf4j.feedback.store;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/** The names the store, the API and the pages give enum constants: lower case ("both_bad", "off_topic"). */
final class WireNames {
    private WireNames() {
    }

    static String of(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }

    /** The constant of {@code type} named {@code s}; the error names {@code what} and every accepted name. */
    static <E extends Enum<E>> E parse(Class<E> type, String s, String what) {
        for (E e : type.getEnumConstants()) {
            if (of(e).equals(s)) {
                return e;
            }
        }
        List<String> names = Arrays.stream(type.getEnumConstants()).map(WireNames::of).toList();
        String expected = String.join(", ", names.subList(0, names.size() - 1)) + " or " + names.getLast();
        throw new IllegalArgumentException("unknown " + what + " \"" + s + "\" (expected " + expected + ")");
    }
}
