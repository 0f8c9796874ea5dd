package dev.rlhf4j.model;

import dev.rlhf4j.tensor.AdamW;
import dev.rlhf4j.tensor.CrossEntropy;
import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Rope;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Per-block activation checkpointing changes where activations live, not what is computed: the backward's recompute
 * of a block runs the same kernels on the same block input (kept bit-for-bit), with the same shapes and thread count,
 * as the forward did, and replays LoRA's dropout masks. Every float of the loss, the head outputs and every gradient
 * must therefore be identical with it on and off, so these tests assert exact equality: any difference is a bug (a
 * buffer shared too early, a mask redrawn, a block recomputed from the wrong input), not rounding.
 */
class GradientCheckpointingTest {
    private static final ModelConfig GPT2 = ModelConfig.gpt2(50, 24, 3, 3, 16);
    /** Grouped-query attention, RoPE and q/k/v biases: every Llama path. */
    private static final ModelConfig LLAMA = ModelConfig.llama(50, 24, 3, 4, 2, 40, 16, 1e-5f, 10000.0,
            Rope.Style.INTERLEAVED, false, true);

    /** Two rows of 8: the second left-padded by 3. */
    private static TokenBatch leftPadded(ModelConfig c, long seed) {
        int[] t = tokens(c, seed, 16);
        int[] mask = new int[16];
        Arrays.fill(mask, 1);
        Arrays.fill(mask, 8, 11, 0);
        return TokenBatch.of(t, mask, 2, 8);
    }

    /** Two rows of 10, each packing documents of 4 and 6 tokens (positions and attention restart at 4). */
    private static TokenBatch packed(ModelConfig c, long seed) {
        int n = 20;
        int[] positions = new int[n], starts = new int[n];
        for (int i = 0; i < n; i++) {
            int t = i % 10;
            positions[i] = t < 4 ? t : t - 4;
            starts[i] = t < 4 ? 0 : 4;
        }
        return new TokenBatch(2, 10, tokens(c, seed, n), null, positions, starts);
    }

    private static int[] tokens(ModelConfig c, long seed, int n) {
        Rng rng = new Rng(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = rng.nextInt(c.vocabSize());
        }
        return t;
    }

    /** What one training step produces: the loss, the scalar head's outputs, and every gradient. */
    private record Step(double loss, float[] values, float[][] grads) {
    }

    /**
     * L = Σ lm loss (one row ignored, weighted rows) + Σ coef·value: both heads' gradients meet in the trunk. With
     * {@code dropoutSeed} ≥ 0 the dropout stream restarts there, so both runs draw the same masks.
     */
    private static Step step(Transformer m, TokenBatch b, long dropoutSeed) {
        int n = b.rows();
        int[] targets = new int[n];
        float[] weights = new float[n], coef = new float[n];
        for (int i = 0; i < n; i++) {
            targets[i] = (i * 7 + 3) % m.config().vocabSize();
            weights[i] = b.mask() != null && b.mask()[i] == 0 ? 0f : 1f + 0.1f * (i % 4);
            coef[i] = (i % 3 - 1) * 0.7f;
        }
        targets[1] = CrossEntropy.IGNORE_INDEX;
        if (dropoutSeed >= 0) {
            m.dropoutSeed(dropoutSeed);
        }
        m.zeroGrad();
        m.forward(b);
        double loss = m.lmLoss(targets, weights, 1f / n, true);
        float[] values = new float[n];
        m.scalarHead(values);
        for (int i = 0; i < n; i++) {
            loss += coef[i] * values[i];
        }
        m.scalarHeadBackward(coef);
        m.backward();
        ParamArena g = m.grads();
        float[][] grads = new float[g.chunkCount()][];
        for (int c = 0; c < grads.length; c++) {
            grads[c] = g.chunk(c).clone();
        }
        return new Step(loss, values, grads);
    }

    private static void assertSameStep(String what, Step off, Step on) {
        assertEquals(off.loss(), on.loss(), 0.0, what + ": loss");
        assertArrayEquals(off.values(), on.values(), what + ": scalar head");
        assertEquals(off.grads().length, on.grads().length);
        for (int c = 0; c < off.grads().length; c++) {
            assertArrayEquals(off.grads()[c], on.grads()[c], what + ": gradients, chunk " + c);
        }
    }

    private static boolean anyNonZero(float[][] grads) {
        for (float[] g : grads) {
            for (float x : g) {
                if (x != 0f) {
                    return true;
                }
            }
        }
        return false;
    }

    @Test
    void lossAndEveryGradientAreBitIdenticalWithCheckpointing() {
        for (ModelConfig c : List.of(GPT2, LLAMA)) {
            Transformer m = Transformer.create(c, OutputHeads.BOTH, 11);
            for (TokenBatch b : List.of(leftPadded(c, 12), packed(c, 13))) {
                String what = c.family() + (b.segmentStarts() != null ? " packed" : " left-padded");
                Step off = step(m, b, -1);
                assertTrue(anyNonZero(off.grads()), what);
                m.gradientCheckpointing(true);
                Step on = step(m, b, -1);
                m.gradientCheckpointing(false);
                assertSameStep(what, off, on);
            }
        }
    }

    @Test
    void loraWithDropoutReplaysTheForwardsMasksInTheRecompute() {
        for (ModelConfig c : List.of(GPT2, LLAMA)) {
            Transformer base = Transformer.create(c, OutputHeads.BOTH, 21);
            Transformer m = base.withLora(new LoraConfig(4, 8f, 0.3f, List.of(LoraConfig.ALL_LINEAR), false),
                    OutputHeads.BOTH, 22);
            // fresh adapters have B = 0, which would leave A's gradient (and dropout's effect on it) zero
            Rng rng = new Rng(23);
            for (ParamArena.Entry e : m.trainable().entries()) {
                if (e.name().endsWith("lora_B")) {
                    rng.fillNormal(m.trainable().get(e.name()), 0.3);
                }
            }
            TokenBatch b = leftPadded(c, 24);
            m.train(true);
            Step off = step(m, b, 5);
            m.gradientCheckpointing(true);
            Step on = step(m, b, 5);
            assertSameStep(c.family() + " LoRA, dropout", off, on);
            // the masks matter: another dropout stream gives other gradients, so equality above is not vacuous
            Step other = step(m, b, 6);
            assertFalse(Arrays.equals(on.grads()[0], other.grads()[0]), c.family() + ": dropout had no effect");
            // a second step of the same stream (forward count 1) also matches: the recompute did not advance it
            m.gradientCheckpointing(false);
            m.dropoutSeed(5);
            m.forward(b);
            Step secondOff = step(m, b, -1);
            m.gradientCheckpointing(true);
            m.dropoutSeed(5);
            m.forward(b);
            Step secondOn = step(m, b, -1);
            assertSameStep(c.family() + " LoRA, dropout, second forward", secondOff, secondOn);
        }
    }

    @Test
    void trainingStepsGiveBitIdenticalWeights() {
        for (ModelConfig c : List.of(GPT2, LLAMA)) {
            Transformer[] models = {Transformer.create(c, OutputHeads.BOTH, 31), Transformer.create(c, OutputHeads.BOTH,
                    31)};
            models[1].gradientCheckpointing(true);
            for (Transformer m : models) {
                AdamW opt = new AdamW(AdamW.Config.defaults(0.1f), m.params());
                for (int s = 0; s < 3; s++) {
                    step(m, s % 2 == 0 ? leftPadded(c, 40 + s) : packed(c, 40 + s), -1);
                    opt.update(m.params(), m.grads(), 1e-2f);
                }
            }
            for (int k = 0; k < models[0].params().chunkCount(); k++) {
                assertArrayEquals(models[0].params().chunk(k), models[1].params().chunk(k), c.family() + " weights");
            }
        }
    }

    /** Floats of one layer's activations: what checkpointing keeps once instead of once per layer. */
    private static long layerFloats(ModelConfig c, TokenBatch b) {
        // ln1, resMid, ln2 [rows, dim]; two norms' mean and rstd [rows]; qkv; attention output; up projection and
        // activation; attention probabilities [batch, heads, seq, seq]
        long rows = b.rows();
        return rows * (3L * c.dim() + 4 + c.qkvDim() + (long) c.heads() * c.headDim() + c.fcDim() + c.hiddenDim())
                + (long) b.batch() * c.heads() * b.seq() * b.seq();
    }

    @Test
    void workspaceKeepsOneLayersActivationsInsteadOfAll() {
        for (ModelConfig c : List.of(GPT2, LLAMA)) {
            Transformer m = Transformer.create(c, OutputHeads.BOTH, 51);
            TokenBatch b = packed(c, 52);
            step(m, b, -1);
            long off = m.workspaceBytes();
            m.gradientCheckpointing(true);
            step(m, b, -1);
            long on = m.workspaceBytes();
            assertEquals(4 * (c.layers() - 1) * layerFloats(c, b), off - on, c.family() + ": bytes saved");
            m.gradientCheckpointing(false);
            step(m, b, -1);
            assertEquals(off, m.workspaceBytes(), c.family() + ": turning it off restores the full workspace");
        }
    }

    @Test
    void aFrozenModelKeepsOneLayersActivationsAndGivesTheSameOutputs() {
        for (ModelConfig c : List.of(GPT2, LLAMA)) {
            Transformer m = Transformer.create(c, OutputHeads.BOTH, 61);
            TokenBatch b = leftPadded(c, 62);
            m.forward(b);
            float[] logits = m.logits().toArray();
            long full = m.workspaceBytes();
            Transformer frozen = m.frozenCopy();
            frozen.forward(b);
            assertArrayEquals(logits, frozen.logits().toArray(), c.family() + " frozen");
            assertEquals(4 * (c.layers() - 1) * layerFloats(c, b), full - frozen.workspaceBytes(), "bytes saved");
            // freezing a model that already ran: its next forward drops the per-layer buffers
            m.freeze();
            m.forward(b);
            assertArrayEquals(logits, m.logits().toArray(), c.family() + " frozen");
            assertEquals(frozen.workspaceBytes(), m.workspaceBytes(), c.family() + " frozen");
        }
    }
}
