package dev.rlhf4j.train.data;

import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.model.chat.ChatTemplate.Message;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.model.tokenizer.Tokenizers;
import dev.rlhf4j.tensor.SharedData;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DataTokenizationTest {
    /** GPT-2's ids for "Hello, world!" and " Once upon a time" (the shared data README's example), and its EOS. */
    private static final int[] HELLO = {15496, 11, 995, 0};
    private static final int[] ONCE = {4874, 2402, 257, 640};
    private static final int GPT2_EOS = 50256;

    private static Tokenizer gpt2() throws IOException {
        return Tokenizers.load(SharedData.require("models/hf-fake-gpt2"));
    }

    private static Tokenizer stories() throws IOException {
        return Tokenizers.load(SharedData.require("models/stories260K/tok512.bin"));
    }

    private static int[] concat(int[]... parts) {
        int[] out = new int[0];
        for (int[] p : parts) {
            int at = out.length;
            out = Arrays.copyOf(out, at + p.length);
            System.arraycopy(p, 0, out, at, p.length);
        }
        return out;
    }

    /** {@code n} flags, true from {@code from} on. */
    private static boolean[] trainableFrom(int n, int from) {
        boolean[] t = new boolean[n];
        Arrays.fill(t, from, n, true);
        return t;
    }

    private static Example only(TokenizedDataset d) {
        assertEquals(1, d.examples().size());
        return d.examples().getFirst();
    }

    @Test
    void textIsTheTokenizersEncodingThenEosAndTrainsOnAllButTheFirstToken() throws IOException {
        Tokenizer tok = stories();
        String text = "Once upon a time, there was a cat.";
        int[] encoded = tok.encode(text, true);
        assertEquals(1, encoded[0], "precondition: llama2.c's tokenizer adds BOS");
        TokenizedDataset d = Tokenization.tokenize(List.of(new DataRecord.Text(text)), tok, null, 512, true);
        Example e = only(d);
        assertArrayEquals(concat(encoded, new int[] {2}), e.tokens());
        assertArrayEquals(trainableFrom(encoded.length + 1, 1), e.trainable());
        assertEquals(encoded.length + 1, d.tokens());
        assertEquals(encoded.length, d.trainableTokens());
        assertEquals(0, d.truncated());
    }

    @Test
    void eosIsAppendedOnceEvenWhenTheTextEndsWithIt() throws IOException {
        Tokenizer tok = gpt2();
        int[] expected = concat(HELLO, new int[] {GPT2_EOS});
        for (String text : new String[] {"Hello, world!", "Hello, world!<|endoftext|>"}) {
            Example e = only(Tokenization.tokenize(List.of(new DataRecord.Text(text)), tok, null, 64, false));
            assertArrayEquals(expected, e.tokens(), text);
        }
        Example e = only(Tokenization.tokenize(List.of(new DataRecord.PromptCompletion("Hello,",
                " world!<|endoftext|>")), tok, null, 64, false));
        assertArrayEquals(expected, e.tokens(), "a completion that ends with EOS");
    }

    @Test
    void promptCompletionTrainsOnlyOnTheCompletionAndEosWhenCompletionOnly() throws IOException {
        Tokenizer tok = gpt2();
        List<DataRecord> records = List.of(new DataRecord.PromptCompletion("Hello, world!", " Once upon a time"));
        int[] expected = concat(HELLO, ONCE, new int[] {GPT2_EOS});

        TokenizedDataset completionOnly = Tokenization.tokenize(records, tok, null, 64, true);
        assertArrayEquals(expected, only(completionOnly).tokens());
        assertArrayEquals(trainableFrom(9, 4), only(completionOnly).trainable());
        assertEquals(5, completionOnly.trainableTokens());

        TokenizedDataset all = Tokenization.tokenize(records, tok, null, 64, false);
        assertArrayEquals(expected, only(all).tokens());
        assertArrayEquals(trainableFrom(9, 1), only(all).trainable());
        assertEquals(8, all.trainableTokens());
        assertEquals(9, all.tokens());
    }

    @Test
    void thePromptKeepsTheTokenizersSpecialTokensAndTheCompletionGetsNone() throws IOException {
        Tokenizer tok = stories();
        Example e = only(Tokenization.tokenize(List.of(new DataRecord.PromptCompletion("Once upon a time",
                " there was a dog.")), tok, null, 512, true));
        int[] prompt = tok.encode("Once upon a time", true);
        int[] completion = tok.encode(" there was a dog.", false);
        assertEquals(1, e.tokens()[0], "BOS");
        assertEquals(1, Arrays.stream(e.tokens()).filter(t -> t == 1).count(), "BOS once, before the prompt");
        assertArrayEquals(concat(prompt, completion, new int[] {2}), e.tokens());
        assertArrayEquals(trainableFrom(e.length(), prompt.length), e.trainable());
    }

    private static final List<Message> CHAT = List.of(
            new Message("system", "Be brief."),
            new Message("user", "Hi!"),
            new Message("assistant", "Hello."));

    @Test
    void aConversationTrainsOnTheLastMessageAsChatMlRendersIt() throws IOException {
        Tokenizer tok = gpt2();
        ChatTemplate chatMl = ChatTemplate.chatMl(tok.specialTokens());
        String prompt = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n"
                + "<|im_start|>assistant\n";
        String completion = "Hello.<|im_end|>\n";

        Example e = only(Tokenization.tokenize(List.of(new DataRecord.Conversation(CHAT)), tok, chatMl, 128, true));
        int[] promptIds = tok.encode(prompt, false);
        assertArrayEquals(concat(promptIds, tok.encode(completion, false)), e.tokens(), "no EOS: the template ends it");
        assertArrayEquals(trainableFrom(e.length(), promptIds.length), e.trainable());
        int[] trained = Arrays.copyOfRange(e.tokens(), promptIds.length, e.length());
        assertEquals(completion, tok.decode(trained));
        assertEquals(prompt + completion, tok.decode(e.tokens()));

        Example all = only(Tokenization.tokenize(List.of(new DataRecord.Conversation(CHAT)), tok, chatMl, 128, false));
        assertArrayEquals(e.tokens(), all.tokens());
        assertArrayEquals(trainableFrom(e.length(), 1), all.trainable());
    }

    @Test
    void aTemplateWhosePromptIsNotAPrefixOfTheConversationFailsNamingTheRecord() throws IOException {
        Tokenizer tok = gpt2();
        // The generation prompt says "ASSISTANT:" but an answer is written "Assistant:".
        ChatTemplate odd = new ChatTemplate("{% for m in messages %}{% if m['role'] == 'assistant' %}Assistant: "
                + "{% else %}User: {% endif %}{{ m['content'] }}\n{% endfor %}"
                + "{% if add_generation_prompt %}ASSISTANT:{% endif %}", tok.specialTokens());
        List<DataRecord> records = List.of(new DataRecord.Text("fine"), new DataRecord.Conversation(CHAT));
        String message = assertThrows(IllegalArgumentException.class,
                () -> Tokenization.tokenize(records, tok, odd, 64, true)).getMessage();
        assertEquals("record 2 of 2: the chat template's rendering of the prompt (all messages but the last, with the "
                + "generation prompt) is not the start of its rendering of the whole conversation, so the answer "
                + "cannot be told apart", message);
    }

    @Test
    void conversationErrorsNameTheRecord() throws IOException {
        Tokenizer tok = gpt2();
        List<DataRecord> records = List.of(new DataRecord.Conversation(CHAT));
        assertEquals("record 1 of 1 is a conversation, but no chat template was given",
                assertThrows(IllegalArgumentException.class,
                        () -> Tokenization.tokenize(records, tok, null, 64, true)).getMessage());
        ChatTemplate refusing = new ChatTemplate("{{ raise_exception('no system messages') }}", tok.specialTokens());
        assertEquals("record 1 of 1: chat template: no system messages",
                assertThrows(IllegalArgumentException.class,
                        () -> Tokenization.tokenize(records, tok, refusing, 64, true)).getMessage());
    }

    @Test
    void longSequencesAreCutAndThoseLeftWithNothingToTrainOnAreDropped() throws IOException {
        Tokenizer tok = gpt2();
        List<DataRecord> records = List.of(
                new DataRecord.Text("Hello, world! Once upon a time"),                 // 9 tokens: cut to 6
                new DataRecord.PromptCompletion("Hello, world! Once upon a time", "!"),
                        // prompt of 8: cut, no completion left
                new DataRecord.PromptCompletion("Hello,", " world!"),                  // 5 tokens: fits
                new DataRecord.Text(""));                                              // EOS alone: nothing predicts it
        TokenizedDataset d = Tokenization.tokenize(records, tok, null, 6, true);
        assertEquals(2, d.examples().size());
        assertEquals(2, d.truncated(), "both cut records count, the dropped one too");
        Example cut = d.examples().get(0);
        assertArrayEquals(new int[] {15496, 11, 995, 0, 4874, 2402}, cut.tokens());
        assertArrayEquals(trainableFrom(6, 1), cut.trainable());
        Example fits = d.examples().get(1);
        assertArrayEquals(new int[] {15496, 11, 995, 0, GPT2_EOS}, fits.tokens());
        assertArrayEquals(trainableFrom(5, 2), fits.trainable());
        assertEquals(11, d.tokens());
        assertEquals(5 + 3, d.trainableTokens());

        TokenizedDataset everything = Tokenization.tokenize(records, tok, null, 6, false);
        assertEquals(3, everything.examples().size(), "without completionOnly the cut prompt still trains");
        assertEquals(2, everything.truncated());
        assertArrayEquals(new int[] {15496, 11, 995, 0, 4874, 2402}, everything.examples().get(1).tokens());
    }

    @Test
    void aDatasetWithNothingToTrainOnIsAnError() throws IOException {
        Tokenizer tok = gpt2();
        List<DataRecord> records = List.of(new DataRecord.PromptCompletion("Hello, world! Once upon a time", "!"));
        assertEquals("no example has a token to train on (1 records, 1 of them cut to the maximum length of 4)",
                assertThrows(IllegalArgumentException.class,
                        () -> Tokenization.tokenize(records, tok, null, 4, true)).getMessage());
        assertEquals("maximum length must be at least 2 (a token to predict from and one to predict), got 1",
                assertThrows(IllegalArgumentException.class,
                        () -> Tokenization.tokenize(records, tok, null, 1, false)).getMessage());
    }

    @Test
    void theTinyStoriesSampleIsCountedAndCutExampleByExample() throws IOException {
        Tokenizer tok = stories();
        List<DataRecord> records = DatasetReader.read(SharedData.require("text/tinystories-valid-sample.txt"));
        TokenizedDataset d = Tokenization.tokenize(records, tok, null, 64, true);
        long tokens = 0, trainable = 0;
        int cut = 0;
        for (DataRecord r : records) {
            int n = tok.encode(((DataRecord.Text) r).text(), true).length + 1;
            cut += n > 64 ? 1 : 0;
            tokens += Math.min(n, 64);
            trainable += Math.min(n, 64) - 1;
        }
        assertEquals(records.size(), d.examples().size(), "every paragraph has a token to train on");
        assertEquals(cut, d.truncated());
        assertEquals(tokens, d.tokens());
        assertEquals(trainable, d.trainableTokens());
        for (Example e : d.examples()) {
            assertEquals(1, e.tokens()[0], "BOS first");
            assertTrue(e.length() <= 64);
        }
    }
}
