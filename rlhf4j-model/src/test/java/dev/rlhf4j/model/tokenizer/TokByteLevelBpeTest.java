package dev.rlhf4j.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Byte-level BPE (GPT-2, SmolLM2): the ids known from shared/data/README.md, and GPT-2's own BPE definition. */
class TokByteLevelBpeTest {

    static final String GPT2_TEXT = "Hello, world! Once upon a time";
    static final int[] GPT2_IDS = {15496, 11, 995, 0, 4874, 2402, 257, 640};

    @Test
    void gpt2VocabAndMergesGiveTheKnownIds() {
        Tokenizer gpt2 = TokData.load("tokenizers/gpt2");
        assertArrayEquals(GPT2_IDS, gpt2.encode(GPT2_TEXT, false));
        assertArrayEquals(GPT2_IDS, gpt2.encode(GPT2_TEXT, true), "GPT-2 adds no special tokens");
        assertEquals(GPT2_TEXT, gpt2.decode(GPT2_IDS));
        assertEquals(50257, gpt2.vocabSize());
        // GPT2Tokenizer's defaults where no tokenizer_config.json is given.
        assertEquals(50256, gpt2.eosId().orElseThrow());
        assertEquals(50256, gpt2.bosId().orElseThrow());
        assertEquals("byte-level BPE, 50257 tokens", gpt2.describe());
    }

    @Test
    void gpt2TokenizerJsonGivesTheKnownIds() {
        Tokenizer gpt2 = TokData.load("models/hf-fake-gpt2");
        assertArrayEquals(GPT2_IDS, gpt2.encode(GPT2_TEXT, true));
        assertEquals(50256, gpt2.eosId().orElseThrow());
        assertEquals("<|endoftext|>", gpt2.specialTokens().get("unk_token"));
        assertArrayEquals(new int[] {50256}, gpt2.encode("<|endoftext|>", false));
    }

    @Test
    void smolLm2GivesTheKnownIds() {
        Tokenizer smol = TokData.load("tokenizers/smollm2");
        assertArrayEquals(new int[] {6403, 1980, 253, 655}, smol.encode("Once upon a time", true));
        assertArrayEquals(new int[] {19556, 28, 905, 17, 13463, 662, 6509, 25616},
                smol.encode("Hello, world! Karneeshkar", true));
    }

    @Test
    void smolLm2FindsSpecialTokensWrittenInTheText() {
        Tokenizer smol = TokData.load("tokenizers/smollm2");
        String chat = "<|im_start|>user\nhi<|im_end|>";
        int[] ids = smol.encode(chat, false);
        int[] inner = smol.encode("user\nhi", false);
        assertEquals(inner.length + 2, ids.length);
        assertEquals(1, ids[0]);
        assertEquals(2, ids[ids.length - 1]);
        assertArrayEquals(inner, Arrays.copyOfRange(ids, 1, ids.length - 1));
        assertTrue(smol.isSpecial(1) && smol.isSpecial(2) && !smol.isSpecial(inner[0]));
        assertEquals(chat, smol.decode(ids, false));
        assertEquals("user\nhi", smol.decode(ids, true));
    }

    @Test
    void smolLm2ConfigGivesRoles() {
        Tokenizer smol = TokData.load("tokenizers/smollm2");
        assertEquals(1, smol.bosId().orElseThrow());
        assertEquals(2, smol.eosId().orElseThrow());
        assertEquals(49152, smol.padId().orElseThrow());
        assertEquals(49153, smol.vocabSize(), "49,152 tokens and the added <|PAD_TOKEN|>");
        assertEquals("<|PAD_TOKEN|>", smol.token(49152));
        assertTrue(Tokenizers.chatTemplate(smol).isEmpty(), "shared/data's SmolLM2 config has no chat_template");
    }

    /**
     * The merges agree with GPT-2's {@code bpe()} (openai/gpt-2 encoder.py: merge every occurrence of the
     * lowest-ranked pair until none is left) on every word of TinyStories, with the byte alphabet, the word
     * pattern and the ranks rebuilt here from the definitions and vocab.json / merges.txt.
     */
    @Test
    void gpt2MergesAgreeWithGpt2sBpeDefinitionOnTinyStories() throws IOException {
        Path dir = TokData.require("tokenizers/gpt2");
        String text = TokData.tinyStories();
        JsonNode vocabJson = new ObjectMapper().readTree(dir.resolve("vocab.json").toFile());
        Map<String, Integer> vocab = new HashMap<>();
        vocabJson.properties().forEach(e -> vocab.put(e.getKey(), e.getValue().asInt()));
        Map<String, Integer> ranks = new HashMap<>();
        List<String> lines = Files.readAllLines(dir.resolve("merges.txt"));
        for (int i = 1; i < lines.size(); i++) {
            ranks.putIfAbsent(lines.get(i), i - 1);
        }
        char[] byteChar = bytesToUnicode();
        Matcher words = Pattern.compile("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| "
                + "?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
                Pattern.UNICODE_CHARACTER_CLASS).matcher(text);
        List<Integer> expected = new ArrayList<>();
        Map<String, List<String>> cache = new HashMap<>();
        while (words.find()) {
            StringBuilder word = new StringBuilder();
            for (byte b : words.group().getBytes(StandardCharsets.UTF_8)) {
                word.append(byteChar[b & 0xFF]);
            }
            for (String piece : cache.computeIfAbsent(word.toString(), w -> bpe(w, ranks))) {
                expected.add(vocab.get(piece));
            }
        }
        int[] actual = TokData.load("tokenizers/gpt2").encode(text, false);
        assertArrayEquals(expected.stream().mapToInt(Integer::intValue).toArray(), actual);
    }

    /** GPT-2's bytes_to_unicode(), transcribed. */
    private static char[] bytesToUnicode() {
        char[] map = new char[256];
        int n = 0;
        for (int b = 0; b < 256; b++) {
            boolean kept = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            map[b] = kept ? (char) b : (char) (256 + n++);
        }
        return map;
    }

    private static List<String> bpe(String word, Map<String, Integer> ranks) {
        List<String> parts = new ArrayList<>();
        word.codePoints().forEach(c -> parts.add(Character.toString(c)));
        while (parts.size() > 1) {
            String best = null;
            int bestRank = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < parts.size(); i++) {
                Integer r = ranks.get(parts.get(i) + " " + parts.get(i + 1));
                if (r != null && r < bestRank) {
                    bestRank = r;
                    best = parts.get(i) + " " + parts.get(i + 1);
                }
            }
            if (best == null) {
                break;
            }
            String[] pair = best.split(" ");
            List<String> merged = new ArrayList<>();
            for (int i = 0; i < parts.size(); i++) {
                if (i + 1 < parts.size() && parts.get(i).equals(pair[0]) && parts.get(i + 1).equals(pair[1])) {
                    merged.add(pair[0] + pair[1]);
                    i++;
                } else {
                    merged.add(parts.get(i));
                }
            }
            parts.clear();
            parts.addAll(merged);
        }
        return parts;
    }
}
