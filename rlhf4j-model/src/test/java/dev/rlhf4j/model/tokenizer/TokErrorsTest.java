package dev.rlhf4j.model.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What a user can get wrong gives one line naming the file and the problem. */
class TokErrorsTest {

    private static void assertOneLine(Class<? extends Exception> type, Executable load, String... parts) {
        Exception e = assertThrows(type, load);
        assertEquals(1, e.getMessage().lines().count(), e.getMessage());
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' should mention '" + part + "'");
        }
    }

    private static Path write(Path dir, String name, String content) throws IOException {
        Path file = dir.resolve(name);
        Files.writeString(file, content);
        return file;
    }

    @Test
    void missingPath(@TempDir Path dir) {
        Path missing = dir.resolve("nope");
        assertOneLine(NoSuchFileException.class, () -> Tokenizers.load(missing), missing.toString());
        assertOneLine(IllegalArgumentException.class, () -> Tokenizers.load(dir), dir.toString(), "tokenizer.json");
    }

    @Test
    void malformedJson(@TempDir Path dir) throws IOException {
        Path file = write(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\",\n  \"vocab\": {\"a\": 0,,}}}");
        assertOneLine(IllegalArgumentException.class, () -> Tokenizers.load(file), file.toString(), "malformed JSON",
                "line 2");
    }

    @Test
    void unsupportedModelAndComponents(@TempDir Path dir) throws IOException {
        Path unigram = write(dir, "unigram.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
        assertOneLine(IllegalArgumentException.class, () -> Tokenizers.load(unigram), unigram.toString(),
                "model type 'Unigram' is not supported");
        Path pre = write(dir, "pre.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                + " \"pre_tokenizer\": {\"type\": \"Whitespace\"}}");
        assertOneLine(IllegalArgumentException.class, () -> Tokenizers.load(pre), pre.toString(),
                "pre_tokenizer type 'Whitespace'");
        Path merge = write(dir, "merge.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1},"
                + " \"merges\": [\"a b\"]}}");
        assertOneLine(IllegalArgumentException.class, () -> Tokenizers.load(merge), merge.toString(),
                "merge 'a b' result", "'ab' is not in the vocabulary");
        Path regex = write(dir, "regex.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                + " \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(a\"}, \"behavior\":"
                + " \"Isolated\", \"invert\": false}}");
        assertOneLine(IllegalArgumentException.class, () -> Tokenizers.load(regex), regex.toString(), "'(a'");
    }

    @Test
    void badMergesLineAndMissingSpecialToken(@TempDir Path dir) throws IOException {
        write(dir, "vocab.json", "{\"a\": 0, \"b\": 1, \"ab\": 2}");
        Path merges = write(dir, "merges.txt", "#version: 0.2\na b\nab\n");
        assertOneLine(IllegalArgumentException.class, () -> Tokenizers.load(dir), merges.toString(), "line 3");
        write(dir, "merges.txt", "#version: 0.2\na b\n");
        write(dir, "tokenizer_config.json", "{\"bos_token\": \"<s>\", \"add_bos_token\": true}");
        Tokenizer t = Tokenizers.load(dir);
        assertEquals(3, t.bosId().orElseThrow(), "a special token missing from the vocabulary gets the next id");
        assertEquals(3, t.encode("ab", true)[0]);
    }
}
