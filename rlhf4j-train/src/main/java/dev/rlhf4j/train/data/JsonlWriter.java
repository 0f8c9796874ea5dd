package dev.rlhf4j.train.data;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/** JSON Lines out, as {@link JsonlReader} reads them back: one JSON object per item and line, UTF-8. */
public final class JsonlWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    private JsonlWriter() {
    }

    /** Writes (or replaces) {@code file} with {@code toJson} of each item, in order. */
    public static <T> void write(Path file, Iterable<T> items, Function<T, ?> toJson) throws IOException {
        try (BufferedWriter w = Files.newBufferedWriter(file, StandardCharsets.UTF_8)) {
            for (T t : items) {
                w.write(JSON.writeValueAsString(toJson.apply(t)));
                w.newLine();
            }
        }
    }

    /**
     * A record's fields in the order given ({@code key, value, key, value, ...}), so that files written twice from
     * the same data are the same bytes ({@code Map.of} iterates in an order that changes from run to run).
     */
    public static Map<String, Object> fields(Object... keysAndValues) {
        if (keysAndValues.length % 2 != 0) {
            throw new IllegalArgumentException("fields: keys and values must come in pairs, got "
                    + keysAndValues.length + " arguments");
        }
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) {
            m.put((String) keysAndValues[i], keysAndValues[i + 1]);
        }
        return m;
    }
}
