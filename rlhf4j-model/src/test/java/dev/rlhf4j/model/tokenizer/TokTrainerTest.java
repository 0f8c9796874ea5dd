package dev.rlhf4j.model.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The byte-level BPE trainer: merges worked out by hand, then a 2,000-token vocabulary on TinyStories. */
class TokTrainerTest {

    private static List<String> merges(Tokenizer t) {
        BpeModel model = ((BpeTokenizer) t).model();
        List<String> merges = new ArrayList<>();
        for (int i = 0; i < model.mergeCount(); i++) {
            merges.add(String.join(" ", model.merge(i)));
        }
        return merges;
    }

    /** Words "abab" and "Ġabab": (a, b) occurs 4 times, then (ab, ab) twice. */
    @Test
    void mostFrequentPairIsMergedFirst() {
        Tokenizer t = new BpeTrainer(258, List.of()).train(List.of("abab abab"));
        assertEquals(List.of("a b", "ab ab"), merges(t));
        assertEquals(258, t.vocabSize());
        assertArrayEquals(new int[] {257}, t.encode("abab", false));
        assertEquals("ab", t.token(256));
    }

    /**
     * Words "ab", "Ġcd" ×2, "Ġab": (Ġ, c), (a, b) and (c, d) occur twice each; the smallest left id wins the tie
     * (Ġ is byte 32), then (a, b) beats the new (Ġc, d) because 97 < 256.
     */
    @Test
    void tiesGoToTheSmallerLeftId() {
        Tokenizer t = new BpeTrainer(259, List.of()).train(List.of("ab cd ab cd"));
        assertEquals(List.of("\u0120 c", "a b", "\u0120c d"), merges(t));
    }

    @Test
    void stopsWhenNoPairOccursTwice() {
        Tokenizer t = new BpeTrainer(1000, List.of()).train(List.of("abcd"));
        assertEquals(List.of(), merges(t));
        assertEquals(256, t.vocabSize());
    }

    @Test
    void trainsTwoThousandTokensOnTinyStoriesDeterministically(@TempDir Path dir) throws IOException {
        String text = TokData.tinyStories();
        List<String> stories = List.of(text.split("\n\n"));
        BpeTrainer trainer = new BpeTrainer(2000, List.of("<|endoftext|>", "<|pad|>"),
                Map.of("eos_token", "<|endoftext|>", "pad_token", "<|pad|>"));
        long start = System.nanoTime();
        Tokenizer first = trainer.train(stories);
        System.out.printf("trained 2000 tokens on %d stories in %.0f ms%n", stories.size(),
                (System.nanoTime() - start) / 1e6);
        Tokenizer second = trainer.train(stories);
        assertEquals(merges(first), merges(second), "same texts, same merges");
        assertEquals(2000, first.vocabSize());

        int[] ids = first.encode(text, false);
        int bytes = text.getBytes(StandardCharsets.UTF_8).length;
        System.out.printf("TinyStories: %d bytes -> %d tokens (%.2f bytes per token)%n", bytes, ids.length,
                (double) bytes / ids.length);
        assertTrue(ids.length < bytes, "the trained vocabulary compresses the text");
        assertEquals(text, first.decode(ids));

        assertEquals(0, first.eosId().orElseThrow());
        assertEquals(1, first.padId().orElseThrow());
        assertArrayEquals(new int[] {0}, first.encode("<|endoftext|>", false), "special tokens stay whole");
        first.save(dir);
        Tokenizer reloaded = Tokenizers.load(dir);
        assertArrayEquals(ids, reloaded.encode(text, false));
        assertEquals(first.eosId(), reloaded.eosId());
    }

    @Test
    void rejectsImpossibleSettings() {
        assertThrows(IllegalArgumentException.class, () -> new BpeTrainer(300, List.of("a".repeat(2), "<x>"),
                Map.of("eos_token", "<y>")));
        IllegalArgumentException small = assertThrows(IllegalArgumentException.class,
                () -> new BpeTrainer(200, List.of()));
        assertTrue(small.getMessage().contains("200"), small.getMessage());
    }
}
