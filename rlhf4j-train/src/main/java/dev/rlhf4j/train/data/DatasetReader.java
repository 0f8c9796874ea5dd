package dev.rlhf4j.train.data;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.tensor.UserError;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.ZipException;

import static dev.rlhf4j.train.data.JsonFields.describe;
import static dev.rlhf4j.train.data.JsonFields.messages;
import static dev.rlhf4j.train.data.JsonFields.present;

/**
 * Reads dataset files in TRL's formats.
 *
 * <p>A {@code .jsonl} or {@code .json} file holds one JSON object per line (read by {@link JsonlReader}: blank lines
 * skipped, a byte-order mark, strict UTF-8 and a size limit per record), or — a {@code .json} file whose first
 * character is {@code [} — one array of objects, as HF {@code datasets} also accepts. Any file may be gzipped
 * ({@code .jsonl.gz}, {@code .json.gz}, {@code .txt.gz}). Each object's format is recognised from its fields, in this
 * order; other fields are ignored:
 * <ul>
 *   <li>{@code "messages"}: a conversation, a list of {@code {"role", "content"}} objects;</li>
 *   <li>{@code "prompt"} and {@code "completion"}: two strings, or two lists of messages (TRL's conversational
 *       prompt–completion, whose completion is the one answering message), read as one conversation;</li>
 *   <li>{@code "text"}: a string.</li>
 * </ul>
 * Any other file is plain text, one document per run of non-blank lines.
 *
 * <p>Every error is one line naming the file and, where there is one, the line and field:
 * {@code data.jsonl:7: "messages"[1] has no "content"}.
 */
public final class DatasetReader {
    private static final String EXPECTED = "expected \"text\", \"prompt\" and \"completion\", or \"messages\"";

    private DatasetReader() {
    }

    /**
     * Every record of {@code file}, in file order, streamed (line by line, or element by element of a JSON array)
     * so that a big file is never held in memory beside its records.
     *
     * @throws IllegalArgumentException for malformed content ({@code FILE:LINE: ...}) or a file without records
     */
    public static List<DataRecord> read(Path file) throws IOException {
        String name = TextLines.formatName(file);
        List<DataRecord> records = new ArrayList<>();
        if (name.endsWith(".json") && JsonlReader.startsWithArray(file)) {
            readJsonArray(file, records);
        } else if (name.endsWith(".jsonl") || name.endsWith(".json")) {
            JsonlReader.read(file, (node, where) -> records.add(record(node, where)));
        } else {
            readDocuments(file, records);
        }
        if (records.isEmpty()) {
            throw new UserError(file + ": no records");
        }
        return records;
    }

    /** One top-level array, streamed element by element; each record is named by the line where it starts. */
    private static void readJsonArray(Path file, List<DataRecord> records) throws IOException {
        ObjectMapper json = JsonlReader.JSON;
        int line = 1;
        try (InputStream bytes = TextLines.openBytes(file); JsonParser parser = json.createParser(bytes)) {
            parser.nextToken(); // the opening '[' that startsWithArray saw
            // At the end of input inside the array, nextToken throws rather than returning null.
            while (parser.nextToken() != JsonToken.END_ARRAY) {
                line = parser.currentTokenLocation().getLineNr();
                records.add(record(json.readTree(parser), file + ":" + line));
            }
            if (parser.nextToken() != null) {
                throw new UserError(file + ":" + parser.currentTokenLocation().getLineNr()
                        + ": not valid JSON (more after the closing ']')");
            }
        } catch (JsonProcessingException e) {
            throw JsonlReader.invalid(e, file + ":" + (e.getLocation() == null ? line : e.getLocation().getLineNr()));
        } catch (ZipException | EOFException e) {
            throw TextLines.notGzip(file, e);
        }
    }

    /** Plain text: documents are separated by one or more blank lines, as in TinyStories' text dumps. */
    private static void readDocuments(Path file, List<DataRecord> records) throws IOException {
        try (TextLines lines = TextLines.open(file)) {
            StringBuilder document = new StringBuilder();
            for (String line; (line = lines.next()) != null; ) {
                if (line.isBlank()) {
                    endDocument(document, records);
                } else {
                    if (!document.isEmpty()) {
                        document.append('\n');
                    }
                    document.append(line);
                }
            }
            endDocument(document, records);
        }
    }

    private static void endDocument(StringBuilder document, List<DataRecord> records) {
        if (!document.isEmpty()) {
            records.add(new DataRecord.Text(document.toString()));
            document.setLength(0);
        }
    }

    /** The record a JSON value holds; {@code where} is "FILE:LINE" for messages. */
    private static DataRecord record(JsonNode node, String where) {
        if (!node.isObject()) {
            throw new UserError(where + ": " + EXPECTED + " in a JSON object");
        }
        if (node.has("messages")) {
            return new DataRecord.Conversation(messages(node.get("messages"), "messages", where));
        }
        if (node.has("prompt") || node.has("completion")) {
            return promptCompletion(node, where);
        }
        if (node.has("text")) {
            JsonNode text = node.get("text");
            if (!text.isTextual()) {
                throw new UserError(where + ": \"text\" must be a string, not " + describe(text));
            }
            return new DataRecord.Text(text.textValue());
        }
        throw new UserError(where + ": " + EXPECTED);
    }

    private static DataRecord promptCompletion(JsonNode node, String where) {
        JsonNode prompt = present(node, "prompt", where);
        JsonNode completion = present(node, "completion", where);
        for (String field : new String[] {"prompt", "completion"}) {
            JsonNode value = node.get(field);
            if (!value.isTextual() && !value.isArray()) {
                throw new UserError(where + ": \"" + field + "\" must be a string or a list of "
                        + "messages, not " + describe(value));
            }
        }
        if (prompt.isTextual() && completion.isTextual()) {
            return new DataRecord.PromptCompletion(prompt.textValue(), completion.textValue());
        }
        if (prompt.isArray() && completion.isArray()) {
            List<ChatTemplate.Message> conversation = new ArrayList<>(messages(prompt, "prompt", where));
            List<ChatTemplate.Message> answer = messages(completion, "completion", where);
            // Read as a conversation, the answer must be its last message alone (several would change which
            // tokens count as the completion).
            if (answer.size() != 1) {
                throw new UserError(where + ": \"completion\" must hold one message, not "
                        + answer.size());
            }
            conversation.addAll(answer);
            return new DataRecord.Conversation(conversation);
        }
        throw new UserError(where + ": \"prompt\" and \"completion\" must both be strings or both "
                + "lists of messages");
    }
}
