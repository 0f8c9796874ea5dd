package dev.rlhf4j.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Byte-level vocabularies given as GGUF stores them ({@code tokenizer.ggml.tokens / merges / token_type / pre}),
 * built here from HF's vocab.json + merges.txt.
 */
class TokGgufVocabTest {

    /** tokens by id, merges as "a b" strings, as a GGUF file lists them. */
    record Lists(List<String> tokens, List<String> merges) {
        static Lists of(String dir) throws IOException {
            Path d = TokData.require(dir);
            JsonNode vocab = new ObjectMapper().readTree(d.resolve("vocab.json").toFile());
            String[] tokens = new String[vocab.size()];
            for (Map.Entry<String, JsonNode> e : vocab.properties()) {
                tokens[e.getValue().asInt()] = e.getKey();
            }
            List<String> merges = new ArrayList<>(Files.readAllLines(d.resolve("merges.txt")));
            merges.removeIf(l -> l.startsWith("#version") || l.isEmpty());
            return new Lists(List.of(tokens), merges);
        }
    }

    @Test
    void smolLmVocabularyEncodesAsItsTokenizerJson() throws IOException {
        Lists smol = Lists.of("tokenizers/smollm2");
        // SmolLM2's 17 special tokens (ids 0..16) are control tokens in GGUF.
        int[] types = IntStream.range(0, smol.tokens.size()).map(id -> id <= 16 ? 3 : 1).toArray();
        Tokenizer gguf = Tokenizers.fromByteLevelBpe(smol.tokens, smol.merges, types, 1, 2, -1, "smollm");
        Tokenizer json = TokData.load("tokenizers/smollm2");
        String text = TokData.tinyStories() + " 2024 <|im_start|>user\n12345<|im_end|>";
        assertArrayEquals(json.encode(text, false), gguf.encode(text, false));
        assertArrayEquals(new int[] {6403, 1980, 253, 655}, gguf.encode("Once upon a time", true));
        assertEquals(1, gguf.bosId().orElseThrow());
        assertTrue(gguf.isSpecial(2));
        assertEquals("user", gguf.decode(gguf.encode("<|im_start|>user<|im_end|>", true), true));
    }

    @Test
    void preTokenizerNamePicksTheWordPattern() throws IOException {
        Lists gpt2 = Lists.of("tokenizers/gpt2");
        Tokenizer reference = TokData.load("tokenizers/gpt2");
        int[] types = IntStream.range(0, gpt2.tokens.size()).map(id -> id == 50256 ? 3 : 1).toArray();
        for (String name : new String[] {"gpt2", "default", "no-such-pre", null}) {
            Tokenizer t = Tokenizers.fromByteLevelBpe(gpt2.tokens, gpt2.merges, types, 50256, 50256, -1, name);
            assertArrayEquals(TokByteLevelBpeTest.GPT2_IDS, t.encode(TokByteLevelBpeTest.GPT2_TEXT, true), name);
            assertArrayEquals(reference.encode("12345", false), t.encode("12345", false), name);
        }
        // Llama 3: numbers in groups of three, BOS added; Qwen2: one digit per word.
        Tokenizer llama3 = Tokenizers.fromByteLevelBpe(gpt2.tokens, gpt2.merges, types, 50256, 50256, -1,
                "llama-bpe");
        assertArrayEquals(concat(new int[] {50256}, reference.encode("123", false), reference.encode("45", false)),
                llama3.encode("12345", true));
        Tokenizer qwen2 = Tokenizers.fromByteLevelBpe(gpt2.tokens, gpt2.merges, types, 50256, 50256, -1, "qwen2");
        assertArrayEquals(concat(reference.encode("1", false), reference.encode("2", false),
                reference.encode("3", false)), qwen2.encode("123", true));
    }

    @Test
    void malformedListsAreOneLineErrors() throws IOException {
        Lists gpt2 = Lists.of("tokenizers/gpt2");
        IllegalArgumentException noSpace = assertThrows(IllegalArgumentException.class,
                () -> Tokenizers.fromByteLevelBpe(gpt2.tokens, List.of("Ġt"), null, -1, -1, -1, "gpt2"));
        assertTrue(noSpace.getMessage().contains("'Ġt'"), noSpace.getMessage());
        IllegalArgumentException outside = assertThrows(IllegalArgumentException.class,
                () -> Tokenizers.fromByteLevelBpe(gpt2.tokens, gpt2.merges, null, 60000, -1, -1, "gpt2"));
        assertTrue(outside.getMessage().contains("60000"), outside.getMessage());
    }

    private static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
    }
}
