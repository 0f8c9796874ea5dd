package dev.rlhf4j.model;

import dev.rlhf4j.tensor.Parallel;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static dev.rlhf4j.tensor.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Logits with the key/value cache equal those of a full forward pass (tolerance 1e-5 absolute + 1e-5 relative). */
class KvCacheDecoderTest {
    private static final ModelConfig GPT2 = ModelConfig.gpt2(61, 32, 2, 4, 24);
    private static final ModelConfig LLAMA = ModelConfig.llama(61, 32, 2, 4, 2, 48, 24, 1e-5f, 10000.0,
            Rope.Style.ROTATE_HALF, false, true);
    private static final ModelConfig LLAMA_INTERLEAVED = ModelConfig.llama(61, 32, 2, 4, 1, 48, 24, 1e-5f, 500.0,
            Rope.Style.INTERLEAVED, true, false);

    private static int[] tokens(long seed, int n, int vocab) {
        Rng r = new Rng(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = r.nextInt(vocab);
        }
        return t;
    }

    @Test
    void prefillThenOneTokenAtATimeEqualsTheFullForward() {
        for (ModelConfig c : new ModelConfig[] {GPT2, LLAMA, LLAMA_INTERLEAVED}) {
            Transformer m = Transformer.create(c, OutputHeads.LM, 5);
            // two sequences of 14 slots: row 0 real throughout, row 1 left-padded by 4
            int seq = 14, prompt = 6;
            int[] all = tokens(6, 2 * seq, c.vocabSize());
            int[] mask = new int[2 * seq];
            Arrays.fill(mask, 1);
            for (int t = 0; t < 4; t++) {
                mask[seq + t] = 0;
            }
            m.forward(TokenBatch.of(all, mask, 2, seq));
            float[] full = m.logits().toArray();

            KvCacheDecoder dec = new KvCacheDecoder(m, 2, seq);
            int[] pTok = new int[2 * prompt], pMask = new int[2 * prompt];
            for (int b = 0; b < 2; b++) {
                System.arraycopy(all, b * seq, pTok, b * prompt, prompt);
                System.arraycopy(mask, b * seq, pMask, b * prompt, prompt);
            }
            float[] pre = dec.stepAllPositions(pTok, pMask, prompt).toArray();
            int v = c.vocabSize();
            for (int b = 0; b < 2; b++) {
                for (int t = 0; t < prompt; t++) {
                    if (mask[b * seq + t] == 0) {
                        continue; // padding rows are not defined
                    }
                    assertClose(c.family() + " prefill b" + b + " t" + t,
                            Arrays.copyOfRange(full, (b * seq + t) * v, (b * seq + t + 1) * v),
                            Arrays.copyOfRange(pre, (b * prompt + t) * v, (b * prompt + t + 1) * v), 1e-5, 1e-5);
                }
            }
            for (int t = prompt; t < seq; t++) {
                Tensor step = dec.step(new int[] {all[t], all[seq + t]}, null, 1);
                for (int b = 0; b < 2; b++) {
                    assertClose(c.family() + " step " + t + " b" + b,
                            Arrays.copyOfRange(full, (b * seq + t) * v, (b * seq + t + 1) * v),
                            Arrays.copyOfRange(step.data(), b * v, (b + 1) * v), 1e-5, 1e-5);
                }
            }
            assertTrue(dec.length() == seq);
        }
    }

    @Test
    void overflowingTheCacheIsReported() {
        Transformer m = Transformer.create(GPT2, OutputHeads.LM, 1);
        KvCacheDecoder dec = new KvCacheDecoder(m, 1, 8);
        dec.step(tokens(1, 8, 61), null, 8);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> dec.step(new int[] {1}, null,
                1));
        assertTrue(e.getMessage().contains("capacity"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new KvCacheDecoder(m, 1, 25));
    }

    @Test
    void theCapacityAskedForIsTheLimitWhateverTheVectorWidth() {
        // The cache rows are padded to the vector length (8 or 16 floats), but the limit stays what was asked for:
        // 5 tokens, and the model's whole 24-token window (24 is not a multiple of 16).
        Transformer m = Transformer.create(GPT2, OutputHeads.LM, 1);
        for (int cap : new int[] {5, GPT2.maxSeqLen()}) {
            KvCacheDecoder dec = new KvCacheDecoder(m, 2, cap);
            assertEquals(cap, dec.capacity());
            dec.step(tokens(2, 2 * (cap - 1), 61), null, cap - 1);
            dec.step(new int[] {3, 4}, null, 1);
            assertEquals(cap, dec.length());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> dec.step(new int[] {3, 4}, null, 1));
            assertTrue(e.getMessage().contains("exceed the cache capacity of " + cap), e.getMessage());
        }
    }

    @Test
    void aModelAndDecoderBuiltBeforeTheThreadPoolGrowsKeepWorking() {
        // The CLI's --threads (and bench) replace the shared pool: buffers sized per worker must follow it.
        int before = Parallel.global().threads();
        try {
            Parallel.setGlobalThreads(1);
            Transformer m = Transformer.create(LLAMA, OutputHeads.LM, 3);
            KvCacheDecoder dec = new KvCacheDecoder(m, 2, 12);
            int[] prompt = tokens(4, 2 * 6, LLAMA.vocabSize());
            m.forward(TokenBatch.of(prompt, 2, 6));
            float[] fullOne = m.logits().toArray();
            float[] decOne = dec.stepAllPositions(prompt, null, 6).toArray();
            Parallel.setGlobalThreads(before + 3);
            dec.reset();
            m.forward(TokenBatch.of(prompt, 2, 6));
            assertClose("forward after the pool grew", fullOne, m.logits().toArray(), 1e-5, 1e-5);
            assertClose("decoder after the pool grew", decOne, dec.stepAllPositions(prompt, null, 6).toArray(), 1e-5,
                    1e-5);
        } finally {
            Parallel.setGlobalThreads(before);
        }
    }
}
