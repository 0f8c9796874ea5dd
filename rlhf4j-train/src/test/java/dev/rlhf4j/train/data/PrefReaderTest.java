package dev.rlhf4j.train.data;

import dev.rlhf4j.model.chat.ChatTemplate.Message;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PrefReaderTest {
    @TempDir
    Path dir;

    private Path write(String name, String content) throws IOException {
        return Files.writeString(dir.resolve(name), content);
    }

    private Path writeGzip(String name, String content) throws IOException {
        Path file = dir.resolve(name);
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(file))) {
            out.write(content.getBytes(StandardCharsets.UTF_8));
        }
        return file;
    }

    private static PreferenceRecord text(String prompt, String chosen, String rejected) {
        return new PreferenceRecord.Text(new PreferencePair(prompt, chosen, rejected));
    }

    private static Message user(String content) {
        return new Message("user", content);
    }

    private static Message assistant(String content) {
        return new Message("assistant", content);
    }

    /** The message of the error that reading {@code content} as {@code name} raises, without the file's path. */
    private String error(String name, String content) throws IOException {
        Path file = write(name, content);
        String message = assertThrows(IllegalArgumentException.class, () -> PreferenceReader.read(file)).getMessage();
        assertTrue(message.startsWith(file.toString()), message);
        return name + message.substring(file.toString().length());
    }

    @Test
    void explicitPromptPairsKeepTheirFieldsAndOptionalMargin() throws IOException {
        Path file = write("explicit.jsonl", """
                {"prompt": "2+2=", "chosen": " 4", "rejected": " 5"}

                {"prompt": "Hi", "chosen": " there", "rejected": "!", "margin": 1.5, "id": 3}
                """);
        assertEquals(List.of(
                text("2+2=", " 4", " 5"),
                new PreferenceRecord.Text(new PreferencePair("Hi", " there", "!", 1.5, -1))),
                PreferenceReader.read(file));
    }

    @Test
    void anImplicitPromptEndsBeforeTheLastWhitespaceOfTheSharedText() throws IOException {
        Path file = write("implicit.jsonl", """
                {"chosen": "The sky is blue.", "rejected": "The sky is green."}
                {"chosen": "Answer: no way", "rejected": "Answer: nope"}
                {"chosen": "Q?\\n\\nYes", "rejected": "Q?\\n\\nNo"}
                {"chosen": "Yes indeed", "rejected": "Yes"}
                {"chosen": "Yes", "rejected": "No"}
                """);
        assertEquals(List.of(
                text("The sky is", " blue.", " green."),
                text("Answer:", " no way", " nope"),
                text("Q?", "\n\nYes", "\n\nNo"),
                text("", "Yes indeed", "Yes"),
                text("", "Yes", "No")),
                PreferenceReader.read(file));
    }

    @Test
    void hhTranscriptsSplitAfterTheLastSharedAssistantTag() throws IOException {
        Path file = write("hh.jsonl", """
                {"chosen": "\\n\\nHuman: Hi\\n\\nAssistant: Hello!\\n\\nHuman: Bye\\n\\nAssistant: Goodbye.", \
                "rejected": "\\n\\nHuman: Hi\\n\\nAssistant: Hello!\\n\\nHuman: Bye\\n\\nAssistant: Whatever."}
                {"chosen": "\\n\\nHuman: Help?\\n\\nAssistant: Sure thing", \
                "rejected": "\\n\\nHuman: Help?\\n\\nAssistant: Surely not"}
                {"chosen": "\\n\\nHuman: Hi\\n\\nAssistant: A\\n\\nHuman: ok\\n\\nAssistant: B", \
                "rejected": "\\n\\nHuman: Hi\\n\\nAssistant: C"}
                """);
        assertEquals(List.of(
                text("\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Bye\n\nAssistant:", " Goodbye.", " Whatever."),
                text("\n\nHuman: Help?\n\nAssistant:", " Sure thing", " Surely not"),
                // Transcripts that part in an earlier turn keep the later turns in their responses.
                text("\n\nHuman: Hi\n\nAssistant:", " A\n\nHuman: ok\n\nAssistant: B", " C")),
                PreferenceReader.read(file));
    }

    @Test
    void conversationalPairsWithExplicitOrImplicitPrompt() throws IOException {
        Path file = write("chat.jsonl", """
                {"prompt": [{"role": "user", "content": "Hi"}], "chosen": [{"role": "assistant", "content": "Hello"}], \
                "rejected": [{"role": "assistant", "content": "Go away"}]}
                {"chosen": [{"role": "system", "content": "Be kind"}, {"role": "user", "content": "Hi"}, \
                {"role": "assistant", "content": "Hello"}], "rejected": [{"role": "system", "content": "Be kind"}, \
                {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Go away"}], "margin": 2}
                {"chosen": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}], \
                "rejected": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, \
                {"role": "user", "content": "?"}]}
                """);
        Message system = new Message("system", "Be kind");
        assertEquals(List.of(
                new PreferenceRecord.Chat(new ConversationPair(List.of(user("Hi")), List.of(assistant("Hello")),
                        List.of(assistant("Go away")))),
                new PreferenceRecord.Chat(new ConversationPair(List.of(system, user("Hi")),
                        List.of(assistant("Hello")), List.of(assistant("Go away")), 2, -1)),
                // One side is a prefix of the other: each keeps at least its last message.
                new PreferenceRecord.Chat(new ConversationPair(List.of(user("Hi")), List.of(assistant("Hello")),
                        List.of(assistant("Hello"), user("?"))))),
                PreferenceReader.read(file));
    }

    @Test
    void aRankingOfFourBecomesSixBetterWorsePairsInOneGroup() throws IOException {
        Path file = write("ranked.jsonl", """
                {"prompt": "Colour:", "responses": [" red", " blue", " green", " pink"], "ranking": [2, 0, 3, 1]}
                {"prompt": "p", "chosen": "a", "rejected": "b"}
                {"prompt": "Pet:", "responses": [" cat", " dog"], "ranking": [1, 0], "margin": 0.5}
                """);
        List<PreferenceRecord> expected = List.of(
                ranked("Colour:", " green", " red", 0, 0),
                ranked("Colour:", " green", " pink", 0, 0),
                ranked("Colour:", " green", " blue", 0, 0),
                ranked("Colour:", " red", " pink", 0, 0),
                ranked("Colour:", " red", " blue", 0, 0),
                ranked("Colour:", " pink", " blue", 0, 0),
                text("p", "a", "b"),
                ranked("Pet:", " dog", " cat", 0.5, 1));
        assertEquals(expected, PreferenceReader.read(file));
    }

    private static PreferenceRecord ranked(String prompt, String better, String worse, double margin, int group) {
        return new PreferenceRecord.Text(new PreferencePair(prompt, better, worse, margin, group));
    }

    @Test
    void shareGptPairsBecomeChatWithMappedRoles() throws IOException {
        Path file = write("sharegpt.json", """
                [{"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"},
                                    {"from": "gpt", "value": "Hello"}, {"from": "human", "value": "2+2?"}],
                  "chosen": {"from": "gpt", "value": "4"}, "rejected": {"from": "gpt", "value": "5"}},
                 {"system": "You are a pirate.", "conversations": [{"from": "human", "value": "Hi"}],
                  "chosen": {"from": "gpt", "value": "Arr"}, "rejected": {"from": "gpt", "value": "Hello"}}]
                """);
        assertEquals(List.of(
                new PreferenceRecord.Chat(new ConversationPair(
                        List.of(new Message("system", "Be brief."), user("Hi"), assistant("Hello"), user("2+2?")),
                        List.of(assistant("4")), List.of(assistant("5")))),
                new PreferenceRecord.Chat(new ConversationPair(
                        List.of(new Message("system", "You are a pirate."), user("Hi")),
                        List.of(assistant("Arr")), List.of(assistant("Hello"))))),
                PreferenceReader.read(file));
    }

    @Test
    void stackExchangePairsGetStackLlamasQuestionAnswerPrompt() throws IOException {
        Path file = write("se.json", "[{\"question\": \"Why?\", \"response_j\": \"Because.\", \"response_k\": \"No.\","
                + " \"margin\": 3}]");
        assertEquals(List.of(new PreferenceRecord.Text(new PreferencePair("Question: Why?\n\nAnswer: ", "Because.",
                "No.", 3, -1))), PreferenceReader.read(file));
    }

    @Test
    void gzippedLinesAndArraysAndAByteOrderMarkAreRead() throws IOException {
        List<PreferenceRecord> expected = List.of(text("p", " a", " b"), text("q", " c", " d"));
        String lines = "{\"prompt\": \"p\", \"chosen\": \" a\", \"rejected\": \" b\"}\n"
                + "{\"prompt\": \"q\", \"chosen\": \" c\", \"rejected\": \" d\"}\n";
        String array = "\n  [" + lines.replace("}\n{", "},\n{") + "]\n";
        assertEquals(expected, PreferenceReader.read(writeGzip("a.jsonl.gz", lines)));
        assertEquals(expected, PreferenceReader.read(writeGzip("b.json.gz", array)));
        assertEquals(expected, PreferenceReader.read(writeGzip("c.json.gz", lines)));
        assertEquals(expected, PreferenceReader.read(write("d.json", "\uFEFF" + array)));
        assertEquals(expected, PreferenceReader.read(write("e.jsonl", "\uFEFF" + lines)));
    }

    @Test
    void aPairWithEqualSidesIsKeptForTokenizationToDrop() throws IOException {
        Path file = write("tie.jsonl", "{\"chosen\": \"\\n\\nHuman: Hi\\n\\nAssistant: Hello\", "
                + "\"rejected\": \"\\n\\nHuman: Hi\\n\\nAssistant: Hello\"}\n");
        assertEquals(List.of(text("\n\nHuman: Hi\n\nAssistant:", " Hello", " Hello")), PreferenceReader.read(file));
    }

    @Test
    void errorsNameTheFileTheLineAndTheField() throws IOException {
        String chosenMessage = "[{\"role\": \"assistant\", \"content\": \"a\"}]";
        String rejectedMessage = "[{\"role\": \"assistant\", \"content\": \"b\"}]";
        assertEquals("p.jsonl:3: \"rejected\" is missing",
                error("p.jsonl", "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}\n\n"
                        + "{\"prompt\": \"p\", \"chosen\": \"a\"}\n"));
        assertEquals("p.jsonl:1: \"chosen\" must be a string or a list of messages, not a number",
                error("p.jsonl", "{\"chosen\": 1, \"rejected\": \"b\"}"));
        assertEquals("p.jsonl:1: \"chosen\" and \"rejected\" must both be strings or both lists of messages",
                error("p.jsonl", "{\"chosen\": \"a\", \"rejected\": " + rejectedMessage + "}"));
        assertEquals("p.jsonl:1: \"prompt\" must be a string, not null",
                error("p.jsonl", "{\"prompt\": null, \"chosen\": \"a\", \"rejected\": \"b\"}"));
        assertEquals("p.jsonl:1: \"prompt\" must be a list of messages like \"chosen\" and \"rejected\", not a string",
                error("p.jsonl", "{\"prompt\": \"p\", \"chosen\": " + chosenMessage + ", \"rejected\": "
                        + rejectedMessage + "}"));
        assertEquals("p.jsonl:1: \"rejected\"[0] has no \"content\"",
                error("p.jsonl", "{\"chosen\": " + chosenMessage + ", \"rejected\": [{\"role\": \"assistant\"}]}"));
        assertEquals("p.jsonl:1: \"chosen\" is an empty list",
                error("p.jsonl", "{\"chosen\": [], \"rejected\": " + rejectedMessage + "}"));
        assertEquals("p.jsonl:1: \"margin\" must be a number, not a string",
                error("p.jsonl", "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\", \"margin\": \"1\"}"));
        assertEquals("p.jsonl:1: \"margin\" is beyond the range of a double",
                error("p.jsonl", "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\", \"margin\": 1e999}"));
        assertEquals("p.jsonl:1: expected a JSON object, not a list", error("p.jsonl", "[1, 2]"));
        assertEquals("p.jsonl:1: expected \"chosen\" and \"rejected\", \"responses\" and \"ranking\", "
                + "\"conversations\" (ShareGPT), or \"question\", \"response_j\" and \"response_k\"",
                error("p.jsonl", "{\"text\": \"a\"}"));
        String truncated = error("p.jsonl", "{\"chosen\": \"a\",\n");
        assertTrue(truncated.startsWith("p.jsonl:1: not valid JSON ("), truncated);
        assertEquals("p.jsonl:1: not valid JSON (more after the first value, at column 34)",
                error("p.jsonl", "{\"chosen\": \"a\", \"rejected\": \"b\"} {}"));
    }

    @Test
    void rankingErrorsNameTheBadEntry() throws IOException {
        String responses = "\"prompt\": \"p\", \"responses\": [\"a\", \"b\", \"c\"]";
        assertEquals("r.jsonl:1: \"ranking\"[1] is 3, not an index of the 3 responses",
                error("r.jsonl", "{" + responses + ", \"ranking\": [0, 3, 1]}"));
        assertEquals("r.jsonl:1: \"ranking\"[2] is 1.0, not an index of the 3 responses",
                error("r.jsonl", "{" + responses + ", \"ranking\": [0, 2, 1.0]}"));
        assertEquals("r.jsonl:1: \"ranking\" lists response 0 twice",
                error("r.jsonl", "{" + responses + ", \"ranking\": [0, 2, 0]}"));
        assertEquals("r.jsonl:1: \"ranking\" must list each of the 3 response indices once, not 2 of them",
                error("r.jsonl", "{" + responses + ", \"ranking\": [0, 2]}"));
        assertEquals("r.jsonl:1: \"ranking\" is missing", error("r.jsonl", "{" + responses + "}"));
        assertEquals("r.jsonl:1: \"responses\"[1] must be a string, not a number",
                error("r.jsonl", "{\"prompt\": \"p\", \"responses\": [\"a\", 2], \"ranking\": [0, 1]}"));
        assertEquals("r.jsonl:1: \"responses\" holds 1, but a ranking needs at least two",
                error("r.jsonl", "{\"prompt\": \"p\", \"responses\": [\"a\"], \"ranking\": [0]}"));
    }

    @Test
    void arrayErrorsNameTheElement() throws IOException {
        String good = "{\"question\": \"q\", \"response_j\": \"a\", \"response_k\": \"b\"}";
        assertEquals("a.json: element 1: \"response_k\" is missing",
                error("a.json", "[" + good + ", {\"question\": \"q\", \"response_j\": \"a\"}]"));
        assertEquals("a.json: element 0: \"conversations\"[1].from is \"tool\", expected \"human\", \"gpt\" or "
                + "\"system\"", error("a.json", "[{\"conversations\": [{\"from\": \"human\", \"value\": \"x\"}, "
                + "{\"from\": \"tool\", \"value\": \"y\"}], \"chosen\": {\"from\": \"gpt\", \"value\": \"a\"}, "
                + "\"rejected\": {\"from\": \"gpt\", \"value\": \"b\"}}]"));
        assertEquals("a.json: element 0: \"chosen\" must be a {\"from\", \"value\"} object, not a string",
                error("a.json", "[{\"conversations\": [{\"from\": \"human\", \"value\": \"x\"}], \"chosen\": \"a\", "
                        + "\"rejected\": {\"from\": \"gpt\", \"value\": \"b\"}}]"));
        String malformed = error("a.json", "[" + good + ", {\"question\": ]");
        assertTrue(malformed.startsWith("a.json: element 1: not valid JSON ("), malformed);
        assertEquals("a.json: not valid JSON (more after the closing ']')", error("a.json", "[" + good + "] []"));
    }

    @Test
    void emptyFilesOtherTypesAndBrokenGzipAreOneLineErrors() throws IOException {
        assertEquals("e.jsonl: no preference records", error("e.jsonl", "\n  \n"));
        assertEquals("e.json: no preference records", error("e.json", " [ ] "));
        assertEquals("p.csv: preference data must be a .jsonl, .json, .jsonl.gz or .json.gz file",
                error("p.csv", "prompt,chosen,rejected\n"));
        assertEquals("p.jsonl.gz: not a complete gzip file (Not in GZIP format)",
                error("p.jsonl.gz", "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}\n"));

        byte[] gz = Files.readAllBytes(writeGzip("whole.jsonl.gz",
                "{\"prompt\": \"p\", \"chosen\": \"a\", \"rejected\": \"b\"}\n".repeat(100)));
        Path cut = dir.resolve("cut.jsonl.gz");
        Files.write(cut, Arrays.copyOf(gz, gz.length / 2));
        String message = assertThrows(IllegalArgumentException.class, () -> PreferenceReader.read(cut)).getMessage();
        assertTrue(message.startsWith(cut + ": not a complete gzip file ("), message);

        Path latin1 = dir.resolve("latin1.jsonl");
        Files.write(latin1, "{\"prompt\": \"caf\u00e9\", \"chosen\": \"a\", \"rejected\": \"b\"}"
                .getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(latin1 + ":1: not valid UTF-8 (byte 0xE9 at byte 16 of the line)",
                assertThrows(IllegalArgumentException.class, () -> PreferenceReader.read(latin1)).getMessage());
    }
}
