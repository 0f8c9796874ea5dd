package dev.rlhf4j.train.ppo;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.data.JsonFields;
import dev.rlhf4j.train.data.JsonlReader;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Prompt files, as {@code rlhf4j ppo --prompts} and {@code rlhf4j generate --prompts} both read them: JSON Lines
 * (optionally gzipped; read by {@link JsonlReader}, so a byte-order mark is skipped and malformed UTF-8, trailing
 * garbage and over-long records are refused), one record per line, as TRL's prompt-only datasets hold them:
 * {@code {"prompt": "text"}} (used as it is), or a conversation, {@code {"prompt": [{"role","content"}, ...]}} or
 * {@code {"messages": [...]}}, rendered with the chat template and its generation prompt (a trailing assistant
 * turn in {@code messages} is dropped: that is the response to be sampled). Other fields are ignored, so
 * preference and SFT files can serve as prompt files. Errors name the file and line.
 */
public final class PromptReader {
    /**
     * One prompt record as written: {@code text}, or a conversation of {@code messages} (the other is null);
     * {@code where} is its {@code FILE:LINE}.
     */
    public record Record(String where, String text, List<ChatTemplate.Message> messages) {
        public boolean isChat() {
            return messages != null;
        }
    }

    private PromptReader() {
    }

    /** The prompts of {@code file}, conversations rendered with {@code chat} (may be null when there are none). */
    public static List<Prompt> read(Path file, ChatTemplate chat) throws IOException {
        List<Prompt> out = new ArrayList<>();
        for (Record r : records(file)) {
            out.add(prompt(r, chat));
        }
        return out;
    }

    /** One record as {@link #read} makes it a prompt: a conversation rendered with {@code chat}. */
    public static Prompt prompt(Record r, ChatTemplate chat) {
        if (r.isChat()) {
            return new Prompt(render(r.messages(), chat, r.where()), true, r.where());
        }
        if (r.text().isEmpty()) {
            throw new UserError(r.where() + ": \"prompt\" is empty");
        }
        return new Prompt(r.text(), false, r.where());
    }

    /** The records of {@code file} as written; at least one. */
    public static List<Record> records(Path file) throws IOException {
        List<Record> out = new ArrayList<>();
        JsonlReader.read(file, (node, where) -> out.add(record(node, where)));
        if (out.isEmpty()) {
            throw new UserError(file + ": no prompts");
        }
        return out;
    }

    /** One prompt record of a JSON object, read as {@link #records} reads each line; {@code where} names it. */
    public static Record record(JsonNode node, String where) {
        if (!node.isObject()) {
            throw new UserError(where + ": a prompt record must be a JSON object, not "
                    + JsonFields.describe(node));
        }
        // "prompt" wins when it holds something, so that {"prompt": null, "messages": [...]} is a conversation
        String field = node.hasNonNull("prompt") || !node.has("messages") ? "prompt" : "messages";
        JsonNode p = node.get(field);
        if (p == null) {
            throw new UserError(where + ": no \"prompt\" (or \"messages\") field");
        }
        if (p.isTextual()) {
            return new Record(where, p.textValue(), null);
        }
        if (!p.isArray()) {
            throw new UserError(where + ": \"" + field + "\" must be a string or a list of "
                    + "messages, not " + JsonFields.describe(p));
        }
        List<ChatTemplate.Message> messages = new ArrayList<>(JsonFields.messages(p, field, where));
        if (field.equals("messages") && messages.getLast().role().equals("assistant")) {
            messages.removeLast();
        }
        if (messages.isEmpty()) {
            throw new UserError(where + ": the conversation has no messages before the response");
        }
        return new Record(where, null, List.copyOf(messages));
    }

    private static String render(List<ChatTemplate.Message> messages, ChatTemplate chat, String where) {
        if (chat == null) {
            throw new UserError(where + ": a conversation prompt needs a chat template (the "
                    + "policy's tokenizer_config.json has none)");
        }
        try {
            return chat.render(messages, true);
        } catch (IllegalArgumentException e) {
            throw new UserError(where + ": " + e.getMessage(), e);
        }
    }

    /**
     * Refuses a prompt of {@code tokens} that leaves fewer than {@code reserved} positions of {@code maxSeqLen} for
     * the response, naming it by {@code where} and giving the lengths.
     *
     * @param reservedFor what the reserved positions are for, as the user set it (e.g. "--max-new-tokens 128")
     */
    public static void checkLength(String where, int tokens, int reserved, String reservedFor, int maxSeqLen) {
        if (tokens + reserved > maxSeqLen) {
            throw new UserError(where + ": the prompt is " + tokens + " tokens; with " + reservedFor
                    + " it needs " + (tokens + reserved) + " positions, more than the model's maximum sequence length "
                    + "of " + maxSeqLen + " (prompts of at most " + Math.max(0, maxSeqLen - reserved) + " tokens fit)");
        }
    }
}
