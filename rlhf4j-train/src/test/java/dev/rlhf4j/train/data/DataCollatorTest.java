package dev.rlhf4j.train.data;

import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.TokenBatch;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Rope;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static dev.rlhf4j.tensor.Close.assertClose;
import static dev.rlhf4j.tensor.CrossEntropy.IGNORE_INDEX;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DataCollatorTest {
    private static final int I = IGNORE_INDEX;
    private static final int P = 99; // the pad id

    private static Example example(int[] tokens, boolean... trainable) {
        return new Example(tokens, trainable);
    }

    /** Five examples of lengths 3, 4, 2, 5, 3; example k's tokens are 10k, 10k+1, ... */
    private static final List<Example> FIVE = List.of(
            example(new int[] {10, 11, 12}, false, true, true),
            example(new int[] {20, 21, 22, 23}, false, false, true, true),
            example(new int[] {30, 31}, false, true),
            example(new int[] {40, 41, 42, 43, 44}, false, true, false, true, true),
            example(new int[] {50, 51, 52}, false, true, true));

    @Test
    void padPutsEachExampleInItsOwnRowPaddedToTheLongest() {
        CollatedBatch c = Collator.pad(List.of(FIVE.get(0), FIVE.get(3), FIVE.get(2)), 8, P);
        TokenBatch b = c.batch();
        assertEquals(3, b.batch());
        assertEquals(5, b.seq(), "the longest example, not the sequence length");
        assertArrayEquals(new int[] {
                10, 11, 12, P, P,
                40, 41, 42, 43, 44,
                30, 31, P, P, P}, b.tokens());
        assertArrayEquals(new int[] {
                1, 1, 1, 0, 0,
                1, 1, 1, 1, 1,
                1, 1, 0, 0, 0}, b.mask());
        assertArrayEquals(new int[] {
                0, 1, 2, 0, 0,
                0, 1, 2, 3, 4,
                0, 1, 0, 0, 0}, b.positions());
        assertNull(b.segmentStarts());
        assertArrayEquals(new int[] {
                11, 12, I, I, I,
                41, I, 43, 44, I,
                31, I, I, I, I}, c.targets());
        assertEquals(2 + 3 + 1, c.lossTokens());
        assertEquals(3 + 5 + 2, c.realTokens());
    }

    @Test
    void packFillsRowsInOrderClosingARowWhenTheNextExampleDoesNotFit() {
        Collator.Packed packed = Collator.pack(FIVE, 0, 2, 8, P);
        assertEquals(4, packed.consumed(), "the fifth example does not fit in what is left");
        CollatedBatch c = packed.batch();
        TokenBatch b = c.batch();
        assertEquals(2, b.batch());
        assertEquals(8, b.seq());
        assertArrayEquals(new int[] {
                10, 11, 12, 20, 21, 22, 23, P,
                30, 31, 40, 41, 42, 43, 44, P}, b.tokens());
        assertArrayEquals(new int[] {
                1, 1, 1, 1, 1, 1, 1, 0,
                1, 1, 1, 1, 1, 1, 1, 0}, b.mask());
        assertArrayEquals(new int[] {
                0, 1, 2, 0, 1, 2, 3, 0,
                0, 1, 0, 1, 2, 3, 4, 0}, b.positions());
        assertArrayEquals(new int[] {
                0, 0, 0, 3, 3, 3, 3, 7,
                0, 0, 2, 2, 2, 2, 2, 7}, b.segmentStarts());
        assertArrayEquals(new int[] {
                11, 12, I, I, 22, 23, I, I,
                31, I, 41, I, 43, 44, I, I}, c.targets(), "no target crosses from one example to the next");
        assertEquals(2 + 2 + 1 + 3, c.lossTokens());
        assertEquals(3 + 4 + 2 + 5, c.realTokens());
    }

    @Test
    void packStartsWhereTheLastBatchStoppedAndPadsRowsLeftEmpty() {
        Collator.Packed packed = Collator.pack(FIVE, 4, 2, 4, P);
        assertEquals(1, packed.consumed());
        TokenBatch b = packed.batch().batch();
        assertArrayEquals(new int[] {50, 51, 52, P, P, P, P, P}, b.tokens());
        assertArrayEquals(new int[] {1, 1, 1, 0, 0, 0, 0, 0}, b.mask());
        assertArrayEquals(new int[] {0, 1, 2, 0, 0, 0, 0, 0}, b.positions());
        assertArrayEquals(new int[] {0, 0, 0, 3, 0, 0, 0, 0}, b.segmentStarts());
        assertArrayEquals(new int[] {51, 52, I, I, I, I, I, I}, packed.batch().targets());
        assertEquals(2, packed.batch().lossTokens());
        assertEquals(3, packed.batch().realTokens());
    }

    @Test
    void anExampleThatFillsARowExactlyLeavesNoPadding() {
        Collator.Packed exact = Collator.pack(List.of(FIVE.get(0), FIVE.get(4)), 0, 2, 3, P);
        assertEquals(2, exact.consumed());
        assertArrayEquals(new int[] {10, 11, 12, 50, 51, 52}, exact.batch().batch().tokens());
        assertArrayEquals(new int[] {0, 0, 0, 0, 0, 0}, exact.batch().batch().segmentStarts());
    }

    @Test
    void examplesLongerThanTheSequenceAreRefused() {
        assertEquals("pack: example 3 has 5 tokens, more than the sequence length of 4 (truncate when tokenizing)",
                assertThrows(IllegalArgumentException.class, () -> Collator.pack(FIVE, 2, 3, 4, P)).getMessage());
        assertEquals("pad: example 1 has 4 tokens, more than the sequence length of 3 (truncate when tokenizing)",
                assertThrows(IllegalArgumentException.class,
                        () -> Collator.pad(FIVE.subList(0, 2), 3, P)).getMessage());
        assertEquals("pack: start 5 is outside the 5 examples",
                assertThrows(IllegalArgumentException.class, () -> Collator.pack(FIVE, 5, 1, 8, P)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> Collator.pad(List.of(), 8, P));
    }

    @Test
    void exampleFlagsMustMatchItsTokens() {
        assertEquals("example of 2 tokens has 1 trainable flags",
                assertThrows(IllegalArgumentException.class, () -> example(new int[] {1, 2}, false)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> example(new int[0]));
    }

    /** Random examples of 2 to 20 tokens, each token after the first trainable with probability 3/4. */
    private static List<Example> randomExamples(int count, int vocab, long seed) {
        Rng rng = new Rng(seed);
        List<Example> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int n = 2 + rng.nextInt(19);
            int[] tokens = new int[n];
            boolean[] trainable = new boolean[n];
            for (int k = 0; k < n; k++) {
                tokens[k] = rng.nextInt(vocab);
                trainable[k] = k > 0 && rng.nextInt(4) != 0;
            }
            out.add(new Example(tokens, trainable));
        }
        return out;
    }

    private static float[] gradients(ParamArena grads) {
        float[] all = new float[(int) grads.size()];
        int at = 0;
        for (int c = 0; c < grads.chunkCount(); c++) {
            float[] chunk = grads.chunk(c);
            int n = Math.min(chunk.length, all.length - at);
            System.arraycopy(chunk, 0, all, at, n);
            at += n;
        }
        return all;
    }

    /**
     * The point of packing: the loss (and its gradient) of a packed batch is the sum over its examples run alone,
     * for GPT-2's learned positions and for Llama's rotary ones.
     */
    @Test
    void aPackedBatchGivesTheLossAndGradientsOfEachExampleAlone() {
        int vocab = 64, seqLen = 32;
        ModelConfig[] configs = {
                ModelConfig.gpt2(vocab, 16, 1, 2, 64),
                ModelConfig.llama(vocab, 16, 1, 2, 1, 32, 64, 1e-5f, 10000.0, Rope.Style.ROTATE_HALF, false, false)};
        List<Example> examples = randomExamples(12, vocab, 3);
        for (ModelConfig config : configs) {
            Transformer model = Transformer.create(config, OutputHeads.LM, 1);
            double packedLoss = 0;
            int packedTokens = 0, batches = 0;
            model.zeroGrad();
            for (int from = 0; from < examples.size(); batches++) {
                Collator.Packed p = Collator.pack(examples, from, 2, seqLen, 0);
                model.forward(p.batch().batch());
                packedLoss += model.lmLoss(p.batch().targets(), null, 1f, true);
                model.backward();
                packedTokens += p.batch().lossTokens();
                from += p.consumed();
            }
            float[] packedGrads = gradients(model.grads());

            double aloneLoss = 0;
            int aloneTokens = 0;
            model.zeroGrad();
            for (Example e : examples) {
                CollatedBatch c = Collator.pad(List.of(e), seqLen, 0);
                model.forward(c.batch());
                aloneLoss += model.lmLoss(c.targets(), null, 1f, true);
                model.backward();
                aloneTokens += c.lossTokens();
            }
            String what = config.family() + " ";
            assertTrue(batches > 1 && batches < examples.size(), what + "several examples share rows");
            assertEquals(aloneTokens, packedTokens, what + "loss tokens");
            assertEquals(aloneLoss, packedLoss, 1e-4 * Math.abs(aloneLoss), what + "loss sum");
            assertClose(what + "gradients", gradients(model.grads()), packedGrads, 1e-6, 1e-4);
        }
    }
}
