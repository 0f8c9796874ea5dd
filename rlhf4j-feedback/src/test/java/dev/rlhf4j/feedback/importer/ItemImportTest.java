package dev.rlhf4j.feedback.importer;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.feedback.store.NewItem;
import dev.rlhf4j.model.chat.ChatTemplate.Message;
import dev.rlhf4j.tensor.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ItemImportTest {
    @TempDir
    Path tmp;

    @Test
    void readsThePromptFormatsOfGenerateWithResponsesAndIds() throws IOException {
        Path f = Files.writeString(tmp.resolve("items.jsonl"), """
                {"prompt": "Once upon a time", "responses": ["a", "b"], "id": "x-1"}

                {"prompt": [{"role": "user", "content": "Hi"}], "id": 42}
                {"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hello"}, \
                {"role": "assistant", "content": "dropped: the response to label"}], "other": true}
                """);
        List<NewItem> items = ItemImport.read(f);
        assertEquals(3, items.size());
        assertEquals(new NewItem("Once upon a time", null, "x-1", List.of("a", "b")), items.get(0));
        assertEquals(new NewItem("user: Hi", List.of(new Message("user", "Hi")), "42", List.of()), items.get(1));
        NewItem chat = items.get(2);
        assertEquals(List.of(new Message("system", "Be kind."), new Message("user", "Hello")), chat.messages());
        assertEquals("system: Be kind.\n\nuser: Hello", chat.prompt());
        assertNull(chat.externalId());
        assertEquals(tmp.resolve("items.jsonl") + ":3", ItemImport.lines(f).get(1).where(), "blank lines counted");
    }

    @Test
    void readsAStreamNamedBySource() throws IOException {
        byte[] body = "{\"prompt\": \"p\"}\n{\"prompt\": 3}\n".getBytes(StandardCharsets.UTF_8);
        UserError e = assertThrows(UserError.class, () -> ItemImport.read(new ByteArrayInputStream(body), "upload"));
        assertEquals("upload:2: \"prompt\" must be a string or a list of messages, not a number", e.getMessage());
        assertEquals(1, ItemImport.read(new ByteArrayInputStream("{\"prompt\": \"p\"}".getBytes(
                StandardCharsets.UTF_8)), "upload").size());
    }

    @Test
    void errorsNameFileLineAndField() throws IOException {
        assertEquals(":2: not valid JSON (", error("{\"prompt\": \"a\"}\n{\"prompt\": \n").substring(0, 20));
        assertEquals(":1: \"responses\"[1] must be a string, not a number",
                error("{\"prompt\": \"a\", \"responses\": [\"x\", 2]}\n"));
        assertEquals(":1: \"responses\" must be a list of strings, not a string",
                error("{\"prompt\": \"a\", \"responses\": \"x\"}\n"));
        assertEquals(":1: \"id\" must be a string or an integer, not a number",
                error("{\"prompt\": \"a\", \"id\": 1.5}\n"));
        assertEquals(":1: \"prompt\" is empty", error("{\"prompt\": \"  \"}\n"));
        assertEquals(":1: no \"prompt\" (or \"messages\") field", error("{\"text\": \"a\"}\n"));
        Path empty = Files.writeString(tmp.resolve("empty.jsonl"), "\n");
        assertEquals(empty + ": no prompts", assertThrows(UserError.class, () -> ItemImport.read(empty)).getMessage());
    }

    @Test
    void responsesThatDoNotFitTheProjectAreRefusedByLine() throws IOException {
        Path f = Files.writeString(tmp.resolve("k.jsonl"), """
                {"prompt": "a", "responses": ["1", "2"]}
                {"prompt": "b"}
                {"prompt": "c", "responses": ["1", "2", "3"]}
                """);
        List<ItemImport.Line> lines = ItemImport.lines(f);
        ItemImport.checkResponses(lines.subList(0, 2), 2);
        UserError e = assertThrows(UserError.class, () -> ItemImport.checkResponses(lines, 2));
        assertEquals(f + ":3: \"responses\" holds 3; the project takes 2 per item (or none, to have them sampled)",
                e.getMessage());
    }

    @Test
    void anApiObjectIsOneItem() throws IOException {
        var node = new ObjectMapper().readTree("{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"}],"
                + " \"responses\": [\"r1\", \"r2\"]}");
        NewItem item = ItemImport.item(node, "items[0]");
        assertEquals(List.of("r1", "r2"), item.responses());
        assertEquals("user: Q", item.prompt());
        UserError e = assertThrows(UserError.class, () -> ItemImport.item(new ObjectMapper().readTree("[1]"),
                "items[3]"));
        assertEquals("items[3]: a prompt record must be a JSON object, not a list", e.getMessage());
    }

    private String error(String content) throws IOException {
        Path f = Files.writeString(tmp.resolve("bad.jsonl"), content);
        String m = assertThrows(UserError.class, () -> ItemImport.read(f)).getMessage();
        assertEquals(f.toString(), m.substring(0, f.toString().length()), m);
        return m.substring(f.toString().length());
    }
}
