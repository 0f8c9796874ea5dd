package dev.rlhf4j.train.data;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.tensor.UserError;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Reading records of the dataset files (SFT, preferences, prompts) with errors that name the place ({@code where},
 * e.g. {@code FILE:LINE}), the field and what was found instead.
 */
public final class JsonFields {
    private JsonFields() {
    }

    /** The value of {@code field}, which must be there. */
    public static JsonNode present(JsonNode node, String field, String where) {
        JsonNode value = node.get(field);
        if (value == null) {
            throw new UserError(where + ": \"" + field + "\" is missing");
        }
        return value;
    }

    /** The string value of {@code field}, which must be there. */
    public static String string(JsonNode node, String field, String where) {
        JsonNode value = present(node, field, where);
        if (!value.isTextual()) {
            throw new UserError(where + ": \"" + field + "\" must be a string, not "
                    + describe(value));
        }
        return value.textValue();
    }

    /** A non-empty list of {@code {"role", "content"}} objects held by {@code field}. */
    public static List<ChatTemplate.Message> messages(JsonNode list, String field, String where) {
        if (!list.isArray()) {
            throw new UserError(where + ": \"" + field + "\" must be a list of {\"role\", "
                    + "\"content\"} objects, not " + describe(list));
        }
        if (list.isEmpty()) {
            throw new UserError(where + ": \"" + field + "\" is an empty list");
        }
        List<ChatTemplate.Message> messages = new ArrayList<>(list.size());
        for (int i = 0; i < list.size(); i++) {
            String at = "\"" + field + "\"[" + i + "]";
            JsonNode m = list.get(i);
            if (!m.isObject()) {
                throw new UserError(where + ": " + at + " must be a {\"role\", \"content\"} object, "
                        + "not " + describe(m));
            }
            String role = messageField(m, "role", at, where);
            if (role.isBlank()) {
                throw new UserError(where + ": " + at + ".role is empty");
            }
            messages.add(new ChatTemplate.Message(role, messageField(m, "content", at, where)));
        }
        return messages;
    }

    /** The string {@code key} of the message at {@code at} (e.g. {@code "messages"[2]}). */
    public static String messageField(JsonNode message, String key, String at, String where) {
        JsonNode value = message.get(key);
        if (value == null) {
            throw new UserError(where + ": " + at + " has no \"" + key + "\"");
        }
        if (!value.isTextual()) {
            throw new UserError(where + ": " + at + "." + key + " must be a string, not "
                    + describe(value));
        }
        return value.textValue();
    }

    /** "a number", "null", "an object", ... for messages about a value of the wrong type. */
    public static String describe(JsonNode value) {
        return switch (value.getNodeType()) {
            case ARRAY -> "a list";
            case OBJECT -> "an object";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            case NULL -> "null";
            case STRING -> "a string";
            default -> value.getNodeType().name().toLowerCase(Locale.ROOT);
        };
    }
}
