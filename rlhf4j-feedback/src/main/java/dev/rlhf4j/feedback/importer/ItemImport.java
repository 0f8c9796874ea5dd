package dev.rlhf4j.feedback.importer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rlhf4j.feedback.store.NewItem;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.List;

/**
 * Items from JSON Lines: the prompt formats {@code generate --prompts} reads ({@code {"prompt": text}},
 * {@code {"prompt": [messages]}}, {@code {"messages": [...]}}), optionally with {@code "responses": [K texts]}
 * and an {@code "id"} (the caller's id: importing the same id twice adds it once). Errors name the source and line.
 */
public final class ItemImport {
    private ItemImport() {
    }

    public static List<NewItem> read(Path file) throws IOException {
        throw new UnsupportedOperationException("not yet written (issue 12)");
    }

    /** Items from an uploaded stream; {@code source} names it in errors. */
    public static List<NewItem> read(InputStream in, String source) throws IOException {
        throw new UnsupportedOperationException("not yet written (issue 12)");
    }

    /** One item from a JSON object (a line of a file, or an element of an API request); {@code where} names it. */
    public static NewItem item(JsonNode node, String where) {
        throw new UnsupportedOperationException("not yet written (issue 12)");
    }
}
