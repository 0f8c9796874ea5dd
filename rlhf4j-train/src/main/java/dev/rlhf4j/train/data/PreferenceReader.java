package dev.rlhf4j.train.data;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.chat.ChatTemplate.Message;
import dev.rlhf4j.tensor.UserError;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.ZipException;

import static dev.rlhf4j.train.data.JsonFields.describe;
import static dev.rlhf4j.train.data.JsonFields.messageField;
import static dev.rlhf4j.train.data.JsonFields.messages;
import static dev.rlhf4j.train.data.JsonFields.present;
import static dev.rlhf4j.train.data.JsonFields.string;

/**
 * Reads preference data in the formats of TRL and of the public preference datasets.
 *
 * <p>A {@code .jsonl} or {@code .json} file, optionally gzipped ({@code .jsonl.gz}, {@code .json.gz}), holds one JSON
 * object per line (read by {@link JsonlReader}: blank lines skipped, a byte-order mark, strict UTF-8 and a size limit
 * per record), or — a {@code .json} file whose first character is {@code [} — one array of
 * objects, streamed element by element. Each object's format is recognised from its fields, in this order; other
 * fields are ignored:
 * <ul>
 *   <li>{@code "conversations"}: ShareGPT as LLaMA-Factory writes it, {@code {"conversations": [{"from", "value"}],
 *       "chosen": {"from", "value"}, "rejected": {...}}} with an optional {@code "system"} string; {@code from} is
 *       {@code human}, {@code gpt} or {@code system} (roles user, assistant, system) → {@link
 * PreferenceRecord.Chat};</li>
 *   <li>{@code "question"}, {@code "response_j"} (preferred), {@code "response_k"}: StackExchange-paired →
 *       {@link PreferenceRecord.Text} with the prompt {@code "Question: " + question + "\n\nAnswer: "}, the text
 *       TRL's StackLLaMA reward model was trained on;</li>
 *   <li>{@code "responses"} and {@code "ranking"}: a K-way ranking of responses to a string {@code "prompt"};
 *       {@code ranking} lists every response index once, best first, and becomes the C(K,2) pairs (better, worse),
 *       in ranking order, sharing a group id that is new for each ranking (0, 1, ... in file order);</li>
 *   <li>{@code "chosen"} and {@code "rejected"}: TRL's preference formats. Two strings with a string
 *       {@code "prompt"} (explicit prompt), or without one (implicit prompt, split off as below) →
 *       {@link PreferenceRecord.Text}; two lists of {@code {"role", "content"}} messages with a list {@code "prompt"},
 *       or without one (the prompt is then the messages the two lists start with in common, but never a whole list:
 *       each side keeps at least its last message, as TRL's {@code extract_prompt}) → {@link
 * PreferenceRecord.Chat}.</li>
 * </ul>
 * Any of them may carry a numeric {@code "margin"}, which every pair made from the object gets.
 *
 * <p>An implicit prompt is cut from the text the two transcripts start with in common:
 * <ul>
 *   <li>when that shared text contains {@code "\n\nAssistant:"} (an HH-RLHF transcript, {@code "\n\nHuman: ...
 *       \n\nAssistant: ..."}), the prompt runs up to and including its last {@code "\n\nAssistant:"}, and each
 *       response is the rest of its transcript, leading space included: the answer to the last shared human turn,
 *       followed by the later turns where the two transcripts part before their final answers;</li>
 *   <li>otherwise the prompt ends where the last whitespace run of the shared text begins, so that it never ends
 *       inside a word and each response starts with the whitespace before its first word (as tokenizers attach a
 *       word's leading space to the word). The prompt is empty when the shared text has no whitespace.</li>
 * </ul>
 * Either way {@code prompt + chosen} and {@code prompt + rejected} are the two transcripts exactly.
 *
 * <p>A pair whose chosen and rejected are equal is kept, so that a file's records match its rows (HH-RLHF's
 * helpful-base test split has two such rows); it carries no preference, and {@link PairTokenization} drops it.
 *
 * <p>Every error is one line naming the file, the line (or, in an array, the element, counted from 0 as in
 * {@code jq '.[K]'}) and the field: {@code prefs.jsonl:7: "ranking"[2] is 5, not an index of the 4 responses}.
 */
public final class PreferenceReader {
    private static final String ASSISTANT_TURN = "\n\nAssistant:";
    private static final String EXPECTED = "expected \"chosen\" and \"rejected\", \"responses\" and \"ranking\", "
            + "\"conversations\" (ShareGPT), or \"question\", \"response_j\" and \"response_k\"";
    private final List<PreferenceRecord> records = new ArrayList<>();
    private int rankings;

    private PreferenceReader() {
    }

    /**
     * Every comparison of {@code file}, in file order (a ranking's pairs where the ranking is), streamed line by line
     * or element by element.
     *
     * @throws IllegalArgumentException for a file of another type, malformed content or a file without records
     */
    public static List<PreferenceRecord> read(Path file) throws IOException {
        String type = TextLines.formatName(file);
        if (!type.endsWith(".jsonl") && !type.endsWith(".json")) {
            throw new UserError(file + ": preference data must be a .jsonl, .json, .jsonl.gz or "
                    + ".json.gz file");
        }
        PreferenceReader reader = new PreferenceReader();
        if (type.endsWith(".json") && JsonlReader.startsWithArray(file)) {
            reader.readArray(file);
        } else {
            JsonlReader.read(file, reader::add);
        }
        if (reader.records.isEmpty()) {
            throw new UserError(file + ": no preference records");
        }
        return List.copyOf(reader.records);
    }

    /**
     * One top-level array, element by element. Elements are named by index rather than line because such files are
     * often written on a single line (StackExchange-paired's is).
     */
    private void readArray(Path file) throws IOException {
        ObjectMapper json = JsonlReader.JSON;
        int element = 0;
        try (InputStream bytes = TextLines.openBytes(file); JsonParser parser = json.createParser(bytes)) {
            parser.nextToken(); // the opening '[' that startsWithArray saw
            // At the end of input inside the array, nextToken throws rather than returning null.
            for (; parser.nextToken() != JsonToken.END_ARRAY; element++) {
                add(json.readTree(parser), file + ": element " + element);
            }
            if (parser.nextToken() != null) {
                throw new UserError(file + ": not valid JSON (more after the closing ']')");
            }
        } catch (JsonProcessingException e) {
            throw JsonlReader.invalid(e, file + ": element " + element);
        } catch (ZipException | EOFException e) {
            throw TextLines.notGzip(file, e);
        }
    }

    private void add(JsonNode node, String where) {
        if (!node.isObject()) {
            throw new UserError(where + ": expected a JSON object, not " + describe(node));
        }
        double margin = margin(node, where);
        if (node.has("conversations")) {
            records.add(new PreferenceRecord.Chat(shareGpt(node, margin, where)));
        } else if (node.has("question") || node.has("response_j") || node.has("response_k")) {
            String prompt = "Question: " + string(node, "question", where) + "\n\nAnswer: ";
            records.add(new PreferenceRecord.Text(new PreferencePair(prompt, string(node, "response_j", where),
                    string(node, "response_k", where), margin, -1)));
        } else if (node.has("responses") || node.has("ranking")) {
            addRanking(node, margin, where);
        } else if (node.has("chosen") || node.has("rejected")) {
            records.add(trl(node, margin, where));
        } else {
            throw new UserError(where + ": " + EXPECTED);
        }
    }

    private static double margin(JsonNode node, String where) {
        JsonNode margin = node.get("margin");
        if (margin == null) {
            return 0;
        }
        if (!margin.isNumber()) {
            throw new UserError(where + ": \"margin\" must be a number, not " + describe(margin));
        }
        if (!Double.isFinite(margin.doubleValue())) {
            throw new UserError(where + ": \"margin\" is beyond the range of a double");
        }
        return margin.doubleValue();
    }

    /** TRL's explicit or implicit prompt, over strings or over message lists. */
    private static PreferenceRecord trl(JsonNode node, double margin, String where) {
        JsonNode chosen = present(node, "chosen", where), rejected = present(node, "rejected", where);
        for (String field : new String[] {"chosen", "rejected"}) {
            JsonNode value = node.get(field);
            if (!value.isTextual() && !value.isArray()) {
                throw new UserError(where + ": \"" + field + "\" must be a string or a list of "
                        + "messages, not " + describe(value));
            }
        }
        if (chosen.isTextual() != rejected.isTextual()) {
            throw new UserError(where + ": \"chosen\" and \"rejected\" must both be strings or both "
                    + "lists of messages");
        }
        JsonNode prompt = node.get("prompt");
        if (chosen.isTextual()) {
            if (prompt == null) {
                return new PreferenceRecord.Text(splitTranscripts(chosen.textValue(), rejected.textValue(), margin));
            }
            return new PreferenceRecord.Text(new PreferencePair(string(node, "prompt", where), chosen.textValue(),
                    rejected.textValue(), margin, -1));
        }
        List<Message> chosenMessages = messages(chosen, "chosen", where);
        List<Message> rejectedMessages = messages(rejected, "rejected", where);
        if (prompt == null) {
            return new PreferenceRecord.Chat(splitConversations(chosenMessages, rejectedMessages, margin));
        }
        if (!prompt.isArray()) {
            throw new UserError(where + ": \"prompt\" must be a list of messages like \"chosen\" and "
                    + "\"rejected\", not " + describe(prompt));
        }
        return new PreferenceRecord.Chat(new ConversationPair(messages(prompt, "prompt", where), chosenMessages,
                rejectedMessages, margin, -1));
    }

    /** The implicit prompt of two text transcripts; the rule is in the class comment. */
    private static PreferencePair splitTranscripts(String chosen, String rejected, double margin) {
        int shared = 0;
        int limit = Math.min(chosen.length(), rejected.length());
        while (shared < limit && chosen.charAt(shared) == rejected.charAt(shared)) {
            shared++;
        }
        int end;
        int turn = chosen.lastIndexOf(ASSISTANT_TURN, shared - ASSISTANT_TURN.length());
        if (turn >= 0) {
            end = turn + ASSISTANT_TURN.length();
        } else {
            end = shared;
            while (end > 0 && !Character.isWhitespace(chosen.charAt(end - 1))) {
                end--;
            }
            while (end > 0 && Character.isWhitespace(chosen.charAt(end - 1))) {
                end--;
            }
        }
        return new PreferencePair(chosen.substring(0, end), chosen.substring(end), rejected.substring(end), margin,
                -1);
    }

    /** The implicit prompt of two conversations: their common first messages, all but the shorter's last. */
    private static ConversationPair splitConversations(List<Message> chosen, List<Message> rejected, double margin) {
        int shared = 0;
        int limit = Math.min(chosen.size(), rejected.size()) - 1;
        while (shared < limit && chosen.get(shared).equals(rejected.get(shared))) {
            shared++;
        }
        return new ConversationPair(chosen.subList(0, shared), chosen.subList(shared, chosen.size()),
                rejected.subList(shared, rejected.size()), margin, -1);
    }

    private void addRanking(JsonNode node, double margin, String where) {
        String prompt = string(node, "prompt", where);
        JsonNode responses = present(node, "responses", where), ranking = present(node, "ranking", where);
        if (!responses.isArray()) {
            throw new UserError(where + ": \"responses\" must be a list of strings, not "
                    + describe(responses));
        }
        if (responses.size() < 2) {
            throw new UserError(where + ": \"responses\" holds " + responses.size() + ", but a ranking "
                    + "needs at least two");
        }
        String[] texts = new String[responses.size()];
        for (int i = 0; i < texts.length; i++) {
            JsonNode response = responses.get(i);
            if (!response.isTextual()) {
                throw new UserError(where + ": \"responses\"[" + i + "] must be a string, not "
                        + describe(response));
            }
            texts[i] = response.textValue();
        }
        if (!ranking.isArray() || ranking.size() != texts.length) {
            throw new UserError(where + ": \"ranking\" must list each of the " + texts.length
                    + " response indices once, not " + (ranking.isArray() ? ranking.size() + " of them"
                    : describe(ranking)));
        }
        int[] order = new int[texts.length];
        boolean[] ranked = new boolean[texts.length];
        for (int i = 0; i < order.length; i++) {
            JsonNode index = ranking.get(i);
            if (!index.isIntegralNumber() || !index.canConvertToInt() || index.intValue() < 0
                    || index.intValue() >= texts.length) {
                throw new UserError(where + ": \"ranking\"[" + i + "] is " + index + ", not an index "
                        + "of the " + texts.length + " responses");
            }
            if (ranked[index.intValue()]) {
                throw new UserError(where + ": \"ranking\" lists response " + index + " twice");
            }
            ranked[index.intValue()] = true;
            order[i] = index.intValue();
        }
        int group = rankings++;
        for (int better = 0; better < order.length; better++) {
            for (int worse = better + 1; worse < order.length; worse++) {
                records.add(new PreferenceRecord.Text(new PreferencePair(prompt, texts[order[better]],
                        texts[order[worse]], margin, group)));
            }
        }
    }

    private static ConversationPair shareGpt(JsonNode node, double margin, String where) {
        JsonNode turns = node.get("conversations");
        if (!turns.isArray() || turns.isEmpty()) {
            throw new UserError(where + ": \"conversations\" must be a non-empty list of {\"from\", "
                    + "\"value\"} objects, not " + (turns.isArray() ? "an empty list" : describe(turns)));
        }
        List<Message> prompt = new ArrayList<>(turns.size() + 1);
        if (node.has("system")) {
            prompt.add(new Message("system", string(node, "system", where)));
        }
        for (int i = 0; i < turns.size(); i++) {
            prompt.add(shareGptMessage(turns.get(i), "\"conversations\"[" + i + "]", where));
        }
        return new ConversationPair(prompt,
                List.of(shareGptMessage(present(node, "chosen", where), "\"chosen\"", where)),
                List.of(shareGptMessage(present(node, "rejected", where), "\"rejected\"", where)), margin, -1);
    }

    private static Message shareGptMessage(JsonNode message, String at, String where) {
        if (!message.isObject()) {
            throw new UserError(where + ": " + at + " must be a {\"from\", \"value\"} object, not "
                    + describe(message));
        }
        String from = messageField(message, "from", at, where);
        String role = switch (from) {
            case "human" -> "user";
            case "gpt" -> "assistant";
            case "system" -> "system";
            default -> throw new UserError(where + ": " + at + ".from is \"" + from + "\", expected "
                    + "\"human\", \"gpt\" or \"system\"");
        };
        return new Message(role, messageField(message, "value", at, where));
    }
}
