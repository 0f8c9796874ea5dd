package dev.rlhf4j.model.tokenizer;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * decode(encode(text)) gives the text back for the whole TinyStories sample, with every kind of tokenizer. Also
 * prints the encoding speed (first run, with the JIT still compiling, and best of five); nothing asserts on time.
 */
class TokRoundTripTest {

    @ParameterizedTest
    @ValueSource(strings = {"tokenizers/gpt2", "models/hf-fake-gpt2", "tokenizers/smollm2", "tokenizers/mistral",
            "models/stories260K/tok512.bin"})
    void decodeOfEncodeIsTheTinyStoriesSample(String source) {
        String text = TokData.tinyStories();
        Tokenizer tokenizer = TokData.load(source);
        int[] ids = null;
        long first = 0, best = Long.MAX_VALUE;
        for (int run = 0; run < 5; run++) {
            long start = System.nanoTime();
            ids = tokenizer.encode(text, false);
            long took = System.nanoTime() - start;
            first = run == 0 ? took : first;
            best = Math.min(best, took);
        }
        double mb = text.getBytes(StandardCharsets.UTF_8).length / 1e6;
        System.out.printf("%-30s %7d tokens; encode %.2f MB: first %6.1f ms, best %6.1f ms (%.1f MB/s)%n", source,
                ids.length, mb, first / 1e6, best / 1e6, mb / (best / 1e9));
        assertEquals(text, tokenizer.decode(ids, true));
        assertEquals(text, tokenizer.decode(ids, false), "the text holds no special tokens");
    }
}
