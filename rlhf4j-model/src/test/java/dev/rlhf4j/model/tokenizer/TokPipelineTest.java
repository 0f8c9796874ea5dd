package dev.rlhf4j.model.tokenizer;

import dev.rlhf4j.model.tokenizer.AddedVocabulary.AddedToken;
import dev.rlhf4j.model.tokenizer.AddedVocabulary.Segment;
import dev.rlhf4j.model.tokenizer.PreTokenizer.Behavior;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The pipeline's parts on small inputs whose results follow from the definitions (the word patterns as the Rust
 * and Oniguruma engines run them, HF's split behaviours and decoders, GPT-2's byte alphabet).
 */
class TokPipelineTest {

    private static List<String> split(String pattern, String text) {
        List<String> out = new ArrayList<>();
        PreTokenizer.splitOn(text, TextPattern.regex(pattern), Behavior.Isolated, false, out);
        return out;
    }

    /** {@code \s+(?!\S)} leaves the last space of a run to the next word, which then starts with it. */
    @Test
    void gpt2PatternKeepsOneSpaceWithEachWord() {
        assertEquals(List.of("I", "'m", " ", " fine", ",", "  ", " thanks", "!", "\n", "\n", "OK"),
                split(PreTokenizer.GPT2_PATTERN, "I'm  fine,   thanks!\n\nOK"));
    }

    /** U+3000 is whitespace to Rust's {@code \s}; Java's default ASCII {@code \s} would glue both into one piece. */
    @Test
    void whitespaceIsUnicodeWhitespace() {
        assertEquals(List.of("a", "\u3000", "\u3000", "b"), split(PreTokenizer.GPT2_PATTERN, "a\u3000\u3000b"));
    }

    @Test
    void llama3PatternGroupsDigitsByThreeAndIgnoresCaseInContractions() {
        assertEquals(List.of("HE", "'S", " ", "123", "45", " apples", "\n\n"),
                split(PreTokenizer.LLAMA3_PATTERN, "HE'S 12345 apples\n\n"));
        assertEquals(List.of("1", "2", "3"), split(PreTokenizer.QWEN2_PATTERN, "123"));
    }

    /** The expected pieces are those of HF's own tests for {@code NormalizedString::split}. */
    @Test
    void splitBehavioursAsHf() {
        TextPattern dash = TextPattern.literal("-");
        String text = "The-final--countdown";
        List<List<String>> expected = List.of(List.of("The", "final", "countdown"),
                List.of("The", "-", "final", "-", "-", "countdown"), List.of("The-", "final-", "-", "countdown"),
                List.of("The", "-final", "-", "-countdown"), List.of("The", "-", "final", "--", "countdown"));
        Behavior[] behaviours = {Behavior.Removed, Behavior.Isolated, Behavior.MergedWithPrevious,
                Behavior.MergedWithNext, Behavior.Contiguous};
        for (int i = 0; i < behaviours.length; i++) {
            List<String> out = new ArrayList<>();
            PreTokenizer.splitOn(text, dash, behaviours[i], false, out);
            assertEquals(expected.get(i), out, behaviours[i].name());
        }
        List<String> inverted = new ArrayList<>();
        PreTokenizer.splitOn(text, dash, Behavior.Removed, true, inverted);
        assertEquals(List.of("-", "-", "-"), inverted, "inverted: the gaps are the delimiters");
    }

    @Test
    void digitsAndMetaspace() {
        List<String> out = new ArrayList<>();
        new PreTokenizer.Digits(true).split("abc123", true, out);
        assertEquals(List.of("abc", "1", "2", "3"), out);
        out.clear();
        new PreTokenizer.Digits(false).split("abc123", true, out);
        assertEquals(List.of("abc", "123"), out);
        out.clear();
        new PreTokenizer.Metaspace("\u2581", "always", true).split("Hey   friend!", false, out);
        assertEquals(List.of("\u2581Hey", "\u2581", "\u2581", "\u2581friend!"), out);
        out.clear();
        new PreTokenizer.Metaspace("\u2581", "first", false).split("how are", false, out);
        assertEquals(List.of("how\u2581are"), out, "prepend_scheme first: only at the start of the input");
    }

    @Test
    void byteAlphabetIsGpt2s() {
        assertEquals("\u0120", ByteLevelAlphabet.encode(" "));
        assertEquals("\u010A", ByteLevelAlphabet.encode("\n"));
        assertEquals("a", ByteLevelAlphabet.encode("a"));
        assertEquals("\u0143", String.valueOf(ByteLevelAlphabet.charOf(0xAD)), "the soft hyphen is the 68th");
        assertEquals("\u00C3\u00A9", ByteLevelAlphabet.encode("\u00e9"), "é is C3 A9");
        Set<Character> chars = new HashSet<>();
        for (int b = 0; b < 256; b++) {
            chars.add(ByteLevelAlphabet.charOf(b));
            assertEquals(b, ByteLevelAlphabet.byteOf(ByteLevelAlphabet.charOf(b)));
        }
        assertEquals(256, chars.size());
    }

    @Test
    void decodersAsHf() {
        assertEquals(List.of("\u2581"), new Decoder.ByteFallback().decode(List.of("<0xE2>", "<0x96>", "<0x81>")));
        assertEquals(List.of("\uFFFD", "a"), new Decoder.ByteFallback().decode(List.of("<0xFF>", "a")));
        assertEquals(List.of("a", "b "), new Decoder.Strip(" ", 1, 0).decode(List.of(" a", "b ")));
        assertEquals(List.of("Hey", " friend!"), new Decoder.Metaspace("\u2581", "always", true)
                .decode(List.of("\u2581Hey", "\u2581friend!")));
        assertEquals(List.of("hi \u00e9"), new Decoder.ByteLevel().decode(List.of("hi", "\u0120\u00C3", "\u00A9")));
    }

    private static List<String> segments(AddedToken token, String text) {
        List<String> out = new ArrayList<>();
        for (Segment s : new AddedVocabulary(List.of(token), null).splitRaw(text)) {
            out.add(s.tokenId() >= 0 ? "[" + s.text() + "]" : s.text());
        }
        return out;
    }

    @Test
    void addedTokenFlags() {
        AddedToken plain = new AddedToken(7, "<mask>", true, false, false, false, false);
        AddedToken lstrip = new AddedToken(7, "<mask>", true, true, false, false, false);
        AddedToken rstrip = new AddedToken(7, "<mask>", true, false, true, false, false);
        AddedToken word = new AddedToken(7, "<mask>", true, false, false, true, false);
        assertEquals(List.of("I saw a ", "[<mask>]", " x"), segments(plain, "I saw a <mask> x"));
        assertEquals(List.of("I saw a", "[ <mask>]", " x"), segments(lstrip, "I saw a <mask> x"));
        assertEquals(List.of("I saw a ", "[<mask> ]", "x"), segments(rstrip, "I saw a <mask> x"));
        assertEquals(List.of("a<mask>b"), segments(word, "a<mask>b"));
        assertEquals(List.of("a ", "[<mask>]", " b"), segments(word, "a <mask> b"));
        AddedVocabulary both = new AddedVocabulary(List.of(new AddedToken(1, "<|a|>", true, false, false, false,
                false), new AddedToken(2, "<|a|><|b|>", true, false, false, false, false)), null);
        assertEquals(List.of(new Segment("x", -1, 0), new Segment("<|a|><|b|>", 2, 1)), both.splitRaw("x<|a|><|b|>"),
                "leftmost-longest");
    }
}
