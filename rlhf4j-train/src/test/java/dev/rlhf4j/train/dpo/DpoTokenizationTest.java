package dev.rlhf4j.train.dpo;

import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.model.tokenizer.Tokenizers;
import dev.rlhf4j.tensor.SharedData;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.data.PreferencePair;
import dev.rlhf4j.train.data.PreferenceRecord;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DpoTokenizationTest {
    /** llama2.c's tokenizer.bin: BOS 1, EOS 2. */
    private static final int BOS = 1, EOS = 2;
    private static final Path DATA = Path.of("prefs.jsonl");

    private static Tokenizer stories() throws IOException {
        return Tokenizers.load(SharedData.require("models/stories260K/tok512.bin"));
    }

    private static PreferenceRecord text(String prompt, String chosen, String rejected) {
        return new PreferenceRecord.Text(new PreferencePair(prompt, chosen, rejected));
    }

    private static int[] withEos(int[] ids) {
        int[] out = Arrays.copyOf(ids, ids.length + 1);
        out[ids.length] = EOS;
        return out;
    }

    @Test
    void promptAndCompletionsAreEncodedApartAndShareThePromptTokens() throws IOException {
        Tokenizer tok = stories();
        String prompt = "Once upon a time", chosen = " there was a cat.", rejected = " a dog ran.";
        DpoTokenization.Tokenized t = DpoTokenization.tokenize(DATA, List.of(text(prompt, chosen, rejected)), tok,
                null, 512, 512);
        DpoExample e = t.examples().getFirst();
        assertArrayEquals(tok.encode(prompt, true), e.prompt());
        assertEquals(BOS, e.prompt()[0]);
        assertArrayEquals(withEos(tok.encode(chosen, false)), e.chosen());
        assertArrayEquals(withEos(tok.encode(rejected, false)), e.rejected());
        assertEquals(0, t.truncated());
        assertEquals(-1, e.group());
    }

    @Test
    void thePromptKeepsItsEndAndCompletionsTheirStart() throws IOException {
        Tokenizer tok = stories();
        String prompt = "Once upon a time there was a little girl named Lily", chosen = " She liked to play outside.",
                rejected = " He was sad.";
        int[] p = tok.encode(prompt, true), c = withEos(tok.encode(chosen, false));
        int maxPrompt = 4, maxLength = 8;
        DpoTokenization.Tokenized t = DpoTokenization.tokenize(DATA, List.of(text(prompt, chosen, rejected)), tok,
                null, maxPrompt, maxLength);
        DpoExample e = t.examples().getFirst();
        assertArrayEquals(Arrays.copyOfRange(p, p.length - maxPrompt, p.length), e.prompt());
        assertArrayEquals(Arrays.copyOf(c, maxLength - maxPrompt), e.chosen());
        assertTrue(e.rejected().length <= maxLength - maxPrompt);
        assertEquals(1, t.truncated());
        // a prompt limit at or past max_length still leaves one completion token
        DpoExample tight = DpoTokenization.tokenize(DATA, List.of(text(prompt, "She", "He")), tok, null, 512, 6)
                .examples().getFirst();
        assertEquals(5, tight.prompt().length);
        assertEquals(1, tight.chosen().length);
    }

    @Test
    void identicalPairsAreDroppedAndCountedAndRankingsKeepTheirGroup() throws IOException {
        Tokenizer tok = stories();
        PreferenceRecord ranked = new PreferenceRecord.Text(new PreferencePair("Tom", " ran.", " sat.", 0, 3));
        DpoTokenization.Tokenized t = DpoTokenization.tokenize(DATA, List.of(text("A", " b", " b"), ranked,
                text("Lily", " is happy today", " is happy now")), tok, null, 512, 5);
        assertEquals(1, t.identical());
        assertEquals(3, t.examples().getFirst().group());
        // " is happy today" and " is happy now" share their first four tokens, all that fits after "Lily"
        assertEquals(1, t.equalAfterCut());
        assertEquals(1, t.examples().size());
        assertTrue(t.describe(512, 5).contains("1 dropped as identical"), t.describe(512, 5));
        UserError none = assertThrows(UserError.class, () -> DpoTokenization.tokenize(DATA,
                List.of(text("A", " b", " b")), tok, null, 512, 64));
        assertTrue(none.getMessage().startsWith(DATA + ": no preference pair is left of 1"), none.getMessage());
    }

    @Test
    void errorsNameTheRecord() throws IOException {
        Tokenizer tok = stories();
        PreferenceRecord chat = new PreferenceRecord.Chat(new dev.rlhf4j.train.data.ConversationPair(
                List.of(new dev.rlhf4j.model.chat.ChatTemplate.Message("user", "hi")),
                List.of(new dev.rlhf4j.model.chat.ChatTemplate.Message("assistant", "yo")),
                List.of(new dev.rlhf4j.model.chat.ChatTemplate.Message("assistant", "no"))));
        UserError e = assertThrows(UserError.class, () -> DpoTokenization.tokenize(DATA,
                List.of(text("A", " b", " c"), chat), tok, null, 512, 64));
        assertTrue(e.getMessage().startsWith(DATA + ": record 2 of 2"), e.getMessage());
        assertThrows(UserError.class, () -> DpoTokenization.tokenize(DATA, List.of(text("A", " b", " c")), tok, null,
                512, 1));
    }
}
