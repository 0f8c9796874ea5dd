package dev.rlhf4j.feedback.importer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rlhf4j.feedback.store.NewItem;
import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.data.JsonFields;
import dev.rlhf4j.train.data.JsonlReader;
import dev.rlhf4j.train.ppo.PromptReader;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Items from JSON Lines: the prompt formats {@code generate --prompts} reads ({@code {"prompt": text}},
 * {@code {"prompt": [messages]}}, {@code {"messages": [...]}}), optionally with {@code "responses": [K texts]}
 * and an {@code "id"} (the caller's id: importing the same id twice adds it once). Errors name the source and line.
 *
 * <p>The prompt is read by {@link PromptReader#record}, so a file that {@code generate} and {@code ppo} take is read
 * the same way here (a trailing assistant turn of {@code "messages"} is dropped: it is the response to be labelled).
 * A conversation's item keeps its messages and, for display, their text as {@code "role: content"} paragraphs.
 */
public final class ItemImport {
    private ItemImport() {
    }

    /** An item and where it was read ({@code FILE:LINE}), for messages about it. */
    public record Line(String where, NewItem item) {
    }

    /** The items of {@code file}, one per non-blank line (at least one). */
    public static List<NewItem> read(Path file) throws IOException {
        return lines(file).stream().map(Line::item).toList();
    }

    /** The items of {@code file} with the place each was read. */
    public static List<Line> lines(Path file) throws IOException {
        List<Line> items = new ArrayList<>();
        JsonlReader.read(file, (node, where) -> items.add(new Line(where, item(node, where))));
        if (items.isEmpty()) {
            throw new UserError(file + ": no prompts");
        }
        return items;
    }

    /**
     * Refuses an item whose responses do not fit a project of {@code k} responses per item (it must have k, or none
     * to have them sampled), naming its line.
     */
    public static void checkResponses(List<Line> lines, int k) {
        for (Line l : lines) {
            int n = l.item().responses().size();
            if (n != 0 && n != k) {
                throw new UserError(l.where() + ": \"responses\" holds " + n + "; the project takes " + k
                        + " per item (or none, to have them sampled)");
            }
        }
    }

    /** Items from an uploaded stream; {@code source} names it in errors. */
    public static List<NewItem> read(InputStream in, String source) throws IOException {
        List<NewItem> items = new ArrayList<>();
        JsonlReader.read(in, source, (node, where) -> items.add(item(node, where)));
        if (items.isEmpty()) {
            throw new UserError(source + ": no prompts");
        }
        return items;
    }

    /** One item from a JSON object (a line of a file, or an element of an API request); {@code where} names it. */
    public static NewItem item(JsonNode node, String where) {
        PromptReader.Record prompt = PromptReader.record(node, where);
        String text;
        if (prompt.isChat()) {
            text = displayText(prompt.messages());
        } else {
            text = prompt.text();
            if (text.isBlank()) {
                throw new UserError(where + ": \"prompt\" is empty");
            }
        }
        return new NewItem(text, prompt.messages(), externalId(node, where), responses(node, where));
    }

    /** A conversation as text to read: {@code "role: content"} paragraphs. */
    public static String displayText(List<ChatTemplate.Message> messages) {
        return messages.stream().map(m -> m.role() + ": " + m.content()).collect(Collectors.joining("\n\n"));
    }

    private static String externalId(JsonNode node, String where) {
        JsonNode id = node.get("id");
        if (id == null || id.isNull()) {
            return null;
        }
        if (id.isTextual()) {
            if (id.textValue().isEmpty() || id.textValue().length() > 200) {
                throw new UserError(where + ": \"id\" must be 1..200 characters");
            }
            return id.textValue();
        }
        if (id.isIntegralNumber()) {
            return id.bigIntegerValue().toString();
        }
        throw new UserError(where + ": \"id\" must be a string or an integer, not " + JsonFields.describe(id));
    }

    private static List<String> responses(JsonNode node, String where) {
        JsonNode list = node.get("responses");
        if (list == null || list.isNull()) {
            return List.of();
        }
        if (!list.isArray()) {
            throw new UserError(where + ": \"responses\" must be a list of strings, not " + JsonFields.describe(list));
        }
        List<String> out = new ArrayList<>(list.size());
        for (int i = 0; i < list.size(); i++) {
            JsonNode r = list.get(i);
            if (!r.isTextual()) {
                throw new UserError(where + ": \"responses\"[" + i + "] must be a string, not "
                        + JsonFields.describe(r));
            }
            out.add(r.textValue());
        }
        return out;
    }
}
