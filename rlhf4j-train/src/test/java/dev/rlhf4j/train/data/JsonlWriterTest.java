package dev.rlhf4j.train.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class JsonlWriterTest {
    @TempDir
    Path tmp;

    @Test
    void writtenRecordsReadBackInOrderWithTheirText() throws IOException {
        Path file = tmp.resolve("out.jsonl");
        List<String> texts = List.of("plain", "two\nlines and \"quotes\"", "ünïcødé ✓");
        JsonlWriter.write(file, texts, t -> Map.of("text", t));
        List<String> back = new ArrayList<>();
        List<String> where = new ArrayList<>();
        JsonlReader.read(file, (node, w) -> {
            back.add(node.get("text").asText());
            where.add(w);
        });
        assertEquals(texts, back);
        assertEquals(file + ":3", where.getLast(), "one record per line");
        assertEquals(3, Files.readAllLines(file).size());
    }

    @Test
    void aFileThatCannotBeWrittenFailsWithAnIoError() {
        assertThrows(IOException.class, () -> JsonlWriter.write(tmp, List.of("x"), t -> Map.of("text", t)));
    }
}
