package dev.rlhf4j.train.ppo;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.train.data.JsonFields;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * Prompts for PPO from JSONL (optionally gzipped), one record per line, as TRL's prompt-only datasets hold them:
 * {@code {"prompt": "text"}} (used as it is), or a conversation, {@code {"prompt": [{"role","content"}, ...]}} or
 * {@code {"messages": [...]}}, rendered with the chat template and its generation prompt (a trailing assistant
 * turn in {@code messages} is dropped: that is the response PPO will sample). Other fields are ignored, so
 * preference files can serve as prompt files. Errors name the file and line.
 */
public final class PromptReader {
    private PromptReader() {
    }

    public static List<Prompt> read(Path file, ChatTemplate chat) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(file + ": no such prompt file");
        }
        List<Prompt> out = new ArrayList<>();
        var in = Files.newInputStream(file);
        var stream = file.toString().endsWith(".gz") ? new GZIPInputStream(in) : in;
        try (BufferedReader r = new BufferedReader(new InputStreamReader(stream, StandardCharsets.UTF_8))) {
            String line;
            int n = 0;
            while ((line = r.readLine()) != null) {
                n++;
                if (line.isBlank()) {
                    continue;
                }
                String where = file + ":" + n;
                JsonNode node = JsonFields.parseLine(line, where);
                if (node == null || !node.isObject()) {
                    throw new IllegalArgumentException(where + ": a prompt record must be a JSON object, not "
                            + (node == null ? "nothing" : JsonFields.describe(node)));
                }
                String field = node.has("prompt") ? "prompt" : "messages";
                JsonNode p = node.get(field);
                if (p == null) {
                    throw new IllegalArgumentException(where + ": no \"prompt\" (or \"messages\") field");
                }
                if (p.isTextual()) {
                    if (p.asText().isEmpty()) {
                        throw new IllegalArgumentException(where + ": \"" + field + "\" is empty");
                    }
                    out.add(Prompt.plain(p.asText()));
                } else if (p.isArray()) {
                    out.add(new Prompt(render(JsonFields.messages(p, field, where), chat, where,
                            field.equals("messages")), true));
                } else {
                    throw new IllegalArgumentException(where + ": \"" + field + "\" must be a string or a list of "
                            + "messages, not " + JsonFields.describe(p));
                }
            }
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException(file + ": no prompts");
        }
        return out;
    }

    private static String render(List<ChatTemplate.Message> messages, ChatTemplate chat, String where,
                                 boolean dropLastAssistant) {
        if (chat == null) {
            throw new IllegalArgumentException(where + ": a conversation prompt needs a chat template (the "
                    + "policy's tokenizer_config.json has none)");
        }
        List<ChatTemplate.Message> msgs = new ArrayList<>(messages);
        if (dropLastAssistant && !msgs.isEmpty() && msgs.getLast().role().equals("assistant")) {
            msgs.removeLast();
        }
        if (msgs.isEmpty()) {
            throw new IllegalArgumentException(where + ": the conversation has no messages before the response");
        }
        try {
            return chat.render(msgs, true);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
    }
}
