package dev.rlhf4j.train.data;

import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.model.chat.ChatTemplate.Message;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.model.tokenizer.Tokenizers;
import dev.rlhf4j.tensor.SharedData;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

class PrefTokenizationTest {
    /** llama2.c's tokenizer.bin: BOS 1, EOS 2. */
    private static final int BOS = 1, EOS = 2;

    private static Tokenizer stories() throws IOException {
        return Tokenizers.load(SharedData.require("models/stories260K/tok512.bin"));
    }

    private static PreferenceRecord text(String prompt, String chosen, String rejected) {
        return new PreferenceRecord.Text(new PreferencePair(prompt, chosen, rejected));
    }

    private static int[] concat(int[] ids, int... more) {
        int[] out = Arrays.copyOf(ids, ids.length + more.length);
        System.arraycopy(more, 0, out, ids.length, more.length);
        return out;
    }

    /** Ids of the characters {@code s}, the encoding of {@link Chars}. */
    private static int[] chars(String s) {
        return s.chars().toArray();
    }

    @Test
    void eachTextSideIsTheWholeTranscriptEncodedOnceThenEos() throws IOException {
        Tokenizer tok = stories();
        // Cut inside a word, the prompt would tokenize differently on its own: the joined text must be encoded.
        String prompt = "Once upon a ti", chosen = "me there was a cat.", rejected = "ny dog.";
        int[] whole = tok.encode(prompt + chosen, true);
        assertFalse(Arrays.equals(whole, concat(tok.encode(prompt, true), tok.encode(chosen, false))),
                "precondition: encoding apart gives other tokens");
        assertEquals(BOS, whole[0], "precondition: llama2.c's tokenizer adds BOS");

        TokenizedPairs t = PairTokenization.tokenize(List.of(text(prompt, chosen, rejected)), tok, null, 512);
        PairExample p = t.pairs().getFirst();
        assertArrayEquals(concat(whole, EOS), p.chosen());
        assertArrayEquals(concat(tok.encode(prompt + rejected, true), EOS), p.rejected());
        assertEquals(0, t.truncated());
        assertEquals(0, t.dropped());
    }

    @Test
    void chatPairsAreRenderedWithTheTemplateAndEncodedWithoutAddedTokens() throws IOException {
        Tokenizer tok = stories();
        ChatTemplate chatMl = ChatTemplate.chatMl(Map.of());
        ConversationPair pair = new ConversationPair(
                List.of(new Message("system", "Be brief."), new Message("user", "Hi")),
                List.of(new Message("assistant", "Hello")), List.of(new Message("assistant", "Go away")), 1.5, -1);
        String prompt = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n";
        TokenizedPairs t = PairTokenization.tokenize(List.of(new PreferenceRecord.Chat(pair)), tok, chatMl, 512);
        PairExample p = t.pairs().getFirst();
        assertArrayEquals(tok.encode(prompt + "<|im_start|>assistant\nHello<|im_end|>\n", false), p.chosen(),
                "no BOS, no EOS: the template opens and closes each turn");
        assertArrayEquals(tok.encode(prompt + "<|im_start|>assistant\nGo away<|im_end|>\n", false), p.rejected());
        assertEquals(1.5, p.margin());

        String message = assertThrows(IllegalArgumentException.class, () -> PairTokenization.tokenize(
                List.of(text("p", "a", "b"), new PreferenceRecord.Chat(pair)), tok, null, 512)).getMessage();
        assertEquals("record 2 of 2 is a conversation, but no chat template was given", message);
    }

    @Test
    void sidesAreCutToTheirFirstTokensAndPairsLeftEqualAreDropped() {
        Tokenizer tok = new Chars(OptionalInt.empty());
        List<PreferenceRecord> records = List.of(
                text("ab", "cdef", "cdxy"),   // both cut to "abcd": dropped
                text("a", "bc", "bd"),        // fits
                text("", "abcde", "ab"),      // chosen cut to "abcd"
                text("p", "abc", "abc"));     // equal from the start: dropped, not cut
        TokenizedPairs t = PairTokenization.tokenize(records, tok, null, 4);
        assertEquals(2, t.pairs().size());
        assertArrayEquals(chars("abc"), t.pairs().get(0).chosen());
        assertArrayEquals(chars("abd"), t.pairs().get(0).rejected());
        assertArrayEquals(chars("abcd"), t.pairs().get(1).chosen());
        assertArrayEquals(chars("ab"), t.pairs().get(1).rejected());
        assertEquals(2, t.truncated());
        assertEquals(1, t.identical(), "chosen == rejected is counted as identical, not as cut");
        assertEquals(1, t.equalAfterCut());
        assertEquals(2, t.dropped());
        assertEquals("2 truncated to max_length 4 (1 of them dropped: equal after the cut), 1 dropped as identical "
                + "(chosen == rejected)", t.describe(4));
    }

    @Test
    void anIdenticalPairLongerThanTheMaximumIsIdenticalNotTruncated() {
        TokenizedPairs t = PairTokenization.tokenize(List.of(text("", "abcdef", "abcdef"), text("", "a", "b")),
                new Chars(OptionalInt.empty()), null, 4);
        assertEquals(1, t.pairs().size());
        assertEquals(0, t.truncated());
        assertEquals(1, t.identical());
        assertEquals(0, t.equalAfterCut());
        assertEquals("0 truncated to max_length 4, 1 dropped as identical (chosen == rejected)", t.describe(4));
    }

    @Test
    void eosIsAppendedUnlessTheSequenceEndsWithIt() {
        Tokenizer tok = new Chars(OptionalInt.of('|'));
        PairExample p = PairTokenization.tokenize(List.of(text("a", "b|", "c")), tok, null, 16).pairs().getFirst();
        assertArrayEquals(chars("ab|"), p.chosen());
        assertArrayEquals(chars("ac|"), p.rejected());
    }

    @Test
    void marginsAndRankingGroupsAreCarriedToTheExamples() {
        List<PreferenceRecord> records = List.of(
                new PreferenceRecord.Text(new PreferencePair("q", "1", "2", 0.5, 0)),
                new PreferenceRecord.Text(new PreferencePair("q", "1", "3", 0.5, 0)),
                new PreferenceRecord.Text(new PreferencePair("r", "x", "y", 2.0, -1)));
        List<PairExample> pairs = PairTokenization.tokenize(records, new Chars(OptionalInt.empty()), null, 8).pairs();
        assertEquals(List.of(0.5, 0.5, 2.0), pairs.stream().map(PairExample::margin).toList());
        assertEquals(List.of(0, 0, -1), pairs.stream().map(PairExample::group).toList());
    }

    @Test
    void unusableInputsAreOneLineErrors() {
        Tokenizer tok = new Chars(OptionalInt.empty());
        assertEquals("record 2 of 2: the chosen side encodes to no tokens, so there is no token to read its reward at",
                assertThrows(IllegalArgumentException.class, () -> PairTokenization.tokenize(
                        List.of(text("a", "b", "c"), text("", "", "x")), tok, null, 8)).getMessage());
        assertEquals("no preference pair is left of 1: 0 identical (chosen == rejected), 1 with the same tokens on "
                        + "both sides after the cut to the maximum length of 2",
                assertThrows(IllegalArgumentException.class, () -> PairTokenization.tokenize(
                        List.of(text("ab", "c", "d")), tok, null, 2)).getMessage());
        assertEquals("maximum length must be at least 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> PairTokenization.tokenize(
                        List.of(text("a", "b", "c")), tok, null, 0)).getMessage());
    }

    @Test
    void hhRlhfTokenizesWhollyAndDropsOnlyItsTwoTiedRows() throws IOException {
        Tokenizer tok = stories();
        Path file = SharedData.require("preference/hh-rlhf/helpful-base_test.jsonl.gz");
        TokenizedPairs t = PairTokenization.tokenize(PreferenceReader.read(file), tok, null, Integer.MAX_VALUE);
        assertEquals(2354 - 2, t.pairs().size());
        assertEquals(2, t.identical(), "helpful-base has two rows with chosen == rejected");
        assertEquals(2, t.dropped());
        assertEquals(0, t.truncated());
        for (PairExample p : t.pairs()) {
            assertEquals(BOS, p.chosen()[0]);
            assertEquals(BOS, p.rejected()[0]);
            assertEquals(EOS, p.chosen()[p.chosen().length - 1]);
            assertEquals(EOS, p.rejected()[p.rejected().length - 1]);
        }
    }

    /** One id per UTF-16 unit, no BOS, an optional EOS: token counts are character counts. */
    private record Chars(OptionalInt eos) implements Tokenizer {
        @Override
        public int[] encode(String text, boolean addSpecialTokens) {
            return chars(text);
        }

        @Override
        public String decode(int[] ids, boolean skipSpecialTokens) {
            StringBuilder s = new StringBuilder();
            for (int id : ids) {
                s.append((char) id);
            }
            return s.toString();
        }

        @Override
        public int vocabSize() {
            return Character.MAX_VALUE + 1;
        }

        @Override
        public String token(int id) {
            return String.valueOf((char) id);
        }

        @Override
        public OptionalInt id(String token) {
            return token.length() == 1 ? OptionalInt.of(token.charAt(0)) : OptionalInt.empty();
        }

        @Override
        public OptionalInt bosId() {
            return OptionalInt.empty();
        }

        @Override
        public OptionalInt eosId() {
            return eos;
        }

        @Override
        public OptionalInt padId() {
            return OptionalInt.empty();
        }

        @Override
        public boolean isSpecial(int id) {
            return eos.isPresent() && id == eos.getAsInt();
        }

        @Override
        public Map<String, String> specialTokens() {
            return Map.of();
        }

        @Override
        public String describe() {
            return "one token per character";
        }

        @Override
        public void save(Path dir) {
            throw new UnsupportedOperationException("a test tokenizer is not saved");
        }
    }
}
