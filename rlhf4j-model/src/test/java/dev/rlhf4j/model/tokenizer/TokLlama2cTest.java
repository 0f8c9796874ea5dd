package dev.rlhf4j.model.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** llama2.c's tokenizer.bin (stories260K's tok512.bin) against llama2.c's encode algorithm. */
class TokLlama2cTest {

    @Test
    void onceUponATimeIsBosThenPiecesSpellingTheText() {
        Tokenizer tok = TokData.load("models/stories260K/tok512.bin");
        assertEquals(512, tok.vocabSize());
        int[] ids = tok.encode("Once upon a time", true);
        assertEquals(1, ids[0], "BOS first");
        StringBuilder pieces = new StringBuilder();
        for (int i = 1; i < ids.length; i++) {
            pieces.append(tok.token(ids[i]));
        }
        assertEquals("\u2581Once\u2581upon\u2581a\u2581time", pieces.toString());
        assertEquals("Once upon a time", tok.decode(ids, true));
        assertEquals("<s>", tok.token(1));
        assertEquals("</s>", tok.token(2));
        assertEquals(2, tok.eosId().orElseThrow());
        assertArrayEquals(new int[0], tok.encode("", false), "no dummy prefix for empty text");
    }

    @Test
    void unknownCharactersBecomeTheirByteTokens() {
        Tokenizer tok = TokData.load("models/stories260K/tok512.bin");
        assertTrue(tok.id("\u65e5").isEmpty(), "precondition: the character is not a piece");
        // U+65E5 is E6 97 A5 in UTF-8; llama2.c puts byte b at id b + 3.
        int[] ids = tok.encode("\u65e5", false);
        assertArrayEquals(new int[] {tok.id("\u2581").orElseThrow(), 0xE6 + 3, 0x97 + 3, 0xA5 + 3}, ids);
        assertEquals("\u65e5", tok.decode(ids));
    }

    /**
     * The same ids as llama2.c's {@code encode} (run.c), transcribed here in its plain quadratic form from the
     * pieces and scores read straight from the file, for the first 500 non-empty lines of TinyStories.
     */
    @Test
    void matchesLlama2csEncodeOnTinyStoriesLines() throws IOException {
        Path file = TokData.require("models/stories260K/tok512.bin");
        ByteBuffer buf = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        buf.getInt();
        List<String> vocab = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        while (buf.hasRemaining()) {
            scores.add(buf.getFloat());
            byte[] piece = new byte[buf.getInt()];
            buf.get(piece);
            vocab.add(new String(piece, StandardCharsets.UTF_8));
        }
        Map<String, Integer> lookup = new HashMap<>();
        for (int i = vocab.size() - 1; i >= 0; i--) {
            lookup.put(vocab.get(i), i);
        }
        Tokenizer tok = Tokenizers.load(file);
        List<String> lines = TokData.tinyStories().lines().filter(l -> !l.isEmpty()).limit(500).toList();
        for (String line : lines) {
            assertArrayEquals(llama2cEncode(line, lookup, vocab, scores), tok.encode(line, true), line);
        }
    }

    /** run.c's encode(t, text, bos=1, eos=0): pieces keep llama2.c's plain spaces. */
    private static int[] llama2cEncode(String text, Map<String, Integer> lookup, List<String> vocab,
                                       List<Float> scores) {
        List<Integer> tokens = new ArrayList<>();
        tokens.add(1);
        if (!text.isEmpty()) {
            tokens.add(lookup.get(" "));
        }
        text.codePoints().forEach(c -> {
            Integer id = lookup.get(Character.toString(c));
            if (id != null) {
                tokens.add(id);
            } else {
                for (byte b : Character.toString(c).getBytes(StandardCharsets.UTF_8)) {
                    tokens.add((b & 0xFF) + 3);
                }
            }
        });
        while (true) {
            float bestScore = -1e10f;
            int bestId = -1, bestIndex = -1;
            for (int i = 0; i + 1 < tokens.size(); i++) {
                Integer id = lookup.get(vocab.get(tokens.get(i)) + vocab.get(tokens.get(i + 1)));
                if (id != null && scores.get(id) > bestScore) {
                    bestScore = scores.get(id);
                    bestId = id;
                    bestIndex = i;
                }
            }
            if (bestIndex < 0) {
                break;
            }
            tokens.set(bestIndex, bestId);
            tokens.remove(bestIndex + 1);
        }
        return tokens.stream().mapToInt(Integer::intValue).toArray();
    }

    @Test
    void aTruncatedFileIsAOneLineErrorNamingIt(@TempDir Path dir) throws IOException {
        byte[] data = Files.readAllBytes(TokData.require("models/stories260K/tok512.bin"));
        Path truncated = dir.resolve("tokenizer.bin");
        Files.write(truncated, Arrays.copyOf(data, 101));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tokenizers.load(truncated));
        assertTrue(e.getMessage().startsWith(truncated.toString()) && e.getMessage().contains("piece"),
                e.getMessage());
        assertTrue(e.getMessage().lines().count() == 1, e.getMessage());
    }
}
