package dev.rlhf4j.train.data;

import dev.rlhf4j.model.chat.ChatTemplate.Message;
import dev.rlhf4j.tensor.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DataReaderTest {
    @TempDir
    Path dir;

    private Path write(String name, String content) throws IOException {
        return Files.writeString(dir.resolve(name), content);
    }

    @Test
    void everyJsonFormatIsRecognisedPerLineAndBlankLinesAreSkipped() throws IOException {
        Path file = write("mixed.jsonl", """
                {"text": "Once upon a time."}

                {"prompt": "2+2=", "completion": "4", "id": 17}
                   \t
                {"messages": [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello."}]}
                {"prompt": [{"role": "user", "content": "Hi!"}], "completion": [{"role": "assistant", "content": "Hey."}]}
                """);
        assertEquals(List.of(
                new DataRecord.Text("Once upon a time."),
                new DataRecord.PromptCompletion("2+2=", "4"),
                new DataRecord.Conversation(List.of(new Message("user", "Hi!"), new Message("assistant", "Hello."))),
                new DataRecord.Conversation(List.of(new Message("user", "Hi!"), new Message("assistant", "Hey.")))),
                DatasetReader.read(file));
    }

    @Test
    void aJsonFileMayHoldLinesOrOneArray() throws IOException {
        List<DataRecord> expected = List.of(new DataRecord.Text("a"), new DataRecord.PromptCompletion("b", "c"));
        assertEquals(expected, DatasetReader.read(write("lines.json", """
                {"text": "a"}
                {"prompt": "b", "completion": "c"}
                """)));
        assertEquals(expected, DatasetReader.read(write("array.json", """

                  [
                    {"text": "a"},
                    {"prompt": "b",
                     "completion": "c"}
                  ]
                """)));
    }

    @Test
    void plainTextIsSplitIntoDocumentsAtBlankLines() throws IOException {
        Path file = write("stories.txt", "\n\nFirst story,\nsecond line.\n\n  \n\nSecond story.\r\nStill second.\r\n"
                + "\r\nThird.");
        assertEquals(List.of(
                new DataRecord.Text("First story,\nsecond line."),
                new DataRecord.Text("Second story.\nStill second."),
                new DataRecord.Text("Third.")), DatasetReader.read(file));
    }

    @Test
    void aByteOrderMarkIsNotPartOfTheFirstRecord() throws IOException {
        assertEquals(List.of(new DataRecord.Text("a")), DatasetReader.read(write("bom.jsonl", "\uFEFF{\"text\": "
                + "\"a\"}\n")));
        assertEquals(List.of(new DataRecord.Text("a")), DatasetReader.read(write("bom.txt", "\uFEFFa\n")));
        assertEquals(List.of(new DataRecord.Text("a")), DatasetReader.read(write("bom.json", "\uFEFF[{\"text\": "
                + "\"a\"}]")));
    }

    @Test
    void tinyStoriesSampleReadsAsItsStories() throws IOException {
        Path file = SharedData.require("text/tinystories-valid-sample.txt");
        List<DataRecord> records = DatasetReader.read(file);
        // The sample holds stories separated by blank lines, so the documents are exactly its non-blank paragraphs.
        String[] paragraphs = Files.readString(file).strip().split("\n\\s*\n");
        assertEquals(paragraphs.length, records.size());
        assertEquals(new DataRecord.Text(paragraphs[paragraphs.length - 1].strip()), records.getLast());
        assertTrue(records.size() > 1000, "the 794 KB sample holds thousands of paragraphs");
    }

    private String error(String name, String content) {
        Path file = dir.resolve(name);
        try {
            Files.writeString(file, content);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return assertThrows(IllegalArgumentException.class, () -> DatasetReader.read(file)).getMessage();
    }

    @Test
    void aMalformedLineIsReportedWithFileAndLine() {
        String message = error("bad.jsonl", "{\"text\": \"ok\"}\n\n{\"text\": \"no end}\n");
        assertTrue(message.startsWith(dir.resolve("bad.jsonl") + ":3: not valid JSON ("), message);
        assertTrue(error("trailing.jsonl", "{\"text\": \"a\"} {\"text\": \"b\"}\n").contains("trailing.jsonl:1: not "
                + "valid JSON"));
        assertTrue(error("array.json", "[\n{\"text\": \"a\"},\n{\"text\": \"b\"\n]\n").contains("array.json:4: not "
                + "valid JSON"));
        assertTrue(error("open.json", "[\n{\"text\": \"a\"},\n").contains("open.json:3: not valid JSON"));
        assertTrue(error("after.json", "[{\"text\": \"a\"}]\n{\"text\": \"b\"}").contains("after.json:2: not valid "
                + "JSON"));
    }

    @Test
    void aRecordWithoutKnownFieldsSaysWhichAreExpected() {
        assertEquals(dir.resolve("unknown.jsonl") + ":2: expected \"text\", \"prompt\" and \"completion\", or "
                + "\"messages\"", error("unknown.jsonl", "{\"text\": \"a\"}\n{\"content\": \"b\"}\n"));
        assertEquals(dir.resolve("scalar.jsonl") + ":1: expected \"text\", \"prompt\" and \"completion\", or "
                + "\"messages\" in a JSON object", error("scalar.jsonl", "\"just a string\"\n"));
    }

    @Test
    void aMissingOrMistypedFieldIsNamed() {
        String at = dir.resolve("f.jsonl") + ":1: ";
        assertEquals(at + "\"text\" must be a string, not a number", error("f.jsonl", "{\"text\": 3}"));
        assertEquals(at + "\"text\" must be a string, not null", error("f.jsonl", "{\"text\": null}"));
        assertEquals(at + "\"completion\" is missing", error("f.jsonl", "{\"prompt\": \"a\"}"));
        assertEquals(at + "\"prompt\" is missing", error("f.jsonl", "{\"completion\": \"a\"}"));
        assertEquals(at + "\"completion\" must be a string or a list of messages, not an object",
                error("f.jsonl", "{\"prompt\": \"a\", \"completion\": {}}"));
        assertEquals(at + "\"prompt\" and \"completion\" must both be strings or both lists of messages",
                error("f.jsonl", "{\"prompt\": \"a\", \"completion\": [{\"role\": \"assistant\", \"content\": "
                        + "\"b\"}]}"));
        assertEquals(at + "\"completion\" must hold one message, not 2", error("f.jsonl", "{\"prompt\": "
                + "[{\"role\": \"user\", \"content\": \"a\"}], \"completion\": [{\"role\": \"assistant\", "
                + "\"content\": \"b\"}, {\"role\": \"assistant\", \"content\": \"c\"}]}"));
        assertEquals(at + "\"messages\" must be a list of {\"role\", \"content\"} objects, not a string",
                error("f.jsonl", "{\"messages\": \"hi\"}"));
        assertEquals(at + "\"messages\" is an empty list", error("f.jsonl", "{\"messages\": []}"));
        assertEquals(at + "\"messages\"[1] has no \"content\"",
                error("f.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": "
                        + "\"assistant\"}]}"));
        assertEquals(at + "\"messages\"[0] has no \"role\"", error("f.jsonl", "{\"messages\": [{\"content\": "
                + "\"a\"}]}"));
        assertEquals(at + "\"messages\"[0].content must be a string, not a list",
                error("f.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": [\"a\"]}]}"));
        assertEquals(at + "\"messages\"[0].role is empty",
                error("f.jsonl", "{\"messages\": [{\"role\": \" \", \"content\": \"a\"}]}"));
        assertEquals(at + "\"messages\"[0] must be a {\"role\", \"content\"} object, not a string",
                error("f.jsonl", "{\"messages\": [\"hi\"]}"));
        assertEquals(at + "\"prompt\"[0] has no \"role\"",
                error("f.jsonl", "{\"prompt\": [{\"content\": \"a\"}], \"completion\": [{\"role\": \"assistant\", "
                        + "\"content\": \"b\"}]}"));
    }

    @Test
    void aDatasetWithoutRecordsIsAnError() {
        assertEquals(dir.resolve("empty.jsonl") + ": no records", error("empty.jsonl", "\n  \n"));
        assertEquals(dir.resolve("empty.txt") + ": no records", error("empty.txt", "\n\n"));
        assertEquals(dir.resolve("empty.json") + ": no records", error("empty.json", "[]"));
    }

    @Test
    void bytesThatAreNotUtf8AreReportedWithFileLineAndByte() throws IOException {
        Path text = dir.resolve("latin1.txt");
        Files.write(text, "caf\u00e9\n".getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(text + ":1: not valid UTF-8 (byte 0xE9 at byte 4 of the line)",
                assertThrows(IllegalArgumentException.class, () -> DatasetReader.read(text)).getMessage());
        // the bad byte is far past the first lines: the line is still exact (a read-ahead decoder would misplace it)
        Path jsonl = dir.resolve("late.jsonl");
        String good = "{\"text\": \"" + "x".repeat(20_000) + "\"}\n";
        Files.write(jsonl, concat(good.repeat(5).getBytes(StandardCharsets.UTF_8),
                "{\"text\": \"ab\u00e9\"}\n".getBytes(StandardCharsets.ISO_8859_1)));
        assertEquals(jsonl + ":6: not valid UTF-8 (byte 0xE9 at byte 13 of the line)",
                assertThrows(IllegalArgumentException.class, () -> DatasetReader.read(jsonl)).getMessage());
        // a lone surrogate written as UTF-8 (CESU) is not UTF-8 either
        Path cesu = dir.resolve("cesu.jsonl");
        Files.write(cesu, concat("{\"text\": \"".getBytes(StandardCharsets.UTF_8),
                new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0x80, '"', '}'}));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> DatasetReader.read(cesu)).getMessage()
                .startsWith(cesu + ":1: not valid UTF-8 (byte 0xED at byte 11 of the line)"));
        Path array = dir.resolve("latin1.json");
        Files.write(array, "[\n{\"text\": \"a\"},\n{\"text\": \"caf\u00e9\"}\n]".getBytes(StandardCharsets.ISO_8859_1));
        String message = assertThrows(IllegalArgumentException.class, () -> DatasetReader.read(array)).getMessage();
        assertTrue(message.startsWith(array + ":3: not valid UTF-8 ("), message);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void trailingGarbageAfterTheRecordIsRefusedWithItsLine() {
        assertEquals(dir.resolve("t.jsonl") + ":2: not valid JSON (more after the first value, at column 15)",
                error("t.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"} x\n"));
        assertEquals(dir.resolve("t.jsonl") + ":1: not valid JSON (more after the first value, at column 14)",
                error("t.jsonl", "{\"text\": \"a\"}]\n"));
    }

    @Test
    void aTwentyMegabyteStringIsARecordNotAnError() throws IOException {
        // Jackson's default limit on one string is 20,000,000 characters; a long document is still valid JSON
        String big = "ab".repeat(10_000_001);
        Path file = dir.resolve("big.jsonl");
        Files.writeString(file, "{\"text\": \"" + big + "\"}\n{\"text\": \"small\"}\n");
        List<DataRecord> records = DatasetReader.read(file);
        assertEquals(2, records.size());
        assertEquals(big.length(), ((DataRecord.Text) records.getFirst()).text().length());
    }

    @Test
    void aRecordOverTheSizeLimitSaysSoWithItsSizeAndTheLimit() throws IOException {
        Path file = dir.resolve("long.jsonl");
        Files.writeString(file, "{\"text\": \"a\"}\n\n{\"text\": \"" + "x".repeat(100) + "\"}\n{\"text\": \"b\"}\n");
        try (TextLines lines = TextLines.open(file, 64)) {
            assertEquals("{\"text\": \"a\"}", lines.next());
            assertEquals("", lines.next());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, lines::next);
            assertEquals(file + ":3: the line is 112 bytes, over the limit of 64 bytes for one record",
                    e.getMessage());
        }
        assertEquals(64 << 20, TextLines.MAX_LINE_BYTES);
    }

    @Test
    void deeplyNestedJsonIsOverALimitNotBroken() {
        String message = error("deep.jsonl", "{\"text\": \"a\", \"x\": " + "[".repeat(1500) + "]".repeat(1500)
                + "}\n");
        assertTrue(message.startsWith(dir.resolve("deep.jsonl") + ":1: a value is over a size limit of the JSON "
                + "reader (Document nesting depth (1001) exceeds the maximum allowed (1000"), message);
    }

    @Test
    void gzippedDataAndMissingFilesOrDirectories() throws IOException {
        Path gz = dir.resolve("d.jsonl.gz");
        try (var out = new java.util.zip.GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write("\uFEFF{\"text\": \"a\"}\n{\"text\": \"b\"}\n".getBytes(StandardCharsets.UTF_8));
        }
        assertEquals(List.of(new DataRecord.Text("a"), new DataRecord.Text("b")), DatasetReader.read(gz));
        assertEquals(dir.resolve("none.jsonl") + ": no such file", assertThrows(IllegalArgumentException.class,
                () -> DatasetReader.read(dir.resolve("none.jsonl"))).getMessage());
        Files.createDirectory(dir.resolve("folder.jsonl"));
        assertEquals(dir.resolve("folder.jsonl") + ": is a directory, not a data file",
                assertThrows(IllegalArgumentException.class,
                        () -> DatasetReader.read(dir.resolve("folder.jsonl"))).getMessage());
    }
}
