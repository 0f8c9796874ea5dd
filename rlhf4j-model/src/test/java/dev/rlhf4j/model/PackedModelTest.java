package dev.rlhf4j.model;

import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static dev.rlhf4j.tensor.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Models with packed (bfloat16 or Q8_0) matrices.
 *
 * <p>Two comparisons, with two tolerances. (1) Against the float32 model holding exactly the packed values
 * ({@link Transformer#unpacked()}): the same function, computed with float32 products and sums in another order
 * (streaming kernels or widened tiles instead of one GEMM), so each linear output differs by at most about
 * k·2⁻²⁴·Σ|x·w| (k ≤ 128 here: under 10⁻⁵ relative); 10⁻⁴ of the largest logit leaves room for that to pass through
 * two blocks. (2) Against the original float32 model: each bfloat16 weight is within 2⁻⁸ relative of its float32
 * value, so each linear output moves by at most 2⁻⁸·Σ|x·w|; to first order the 2·layers + 1 linears on a path each
 * add such a term, so the logits are held to (2·layers + 1)·2⁻⁸ of the largest logit. A Q8_0 weight is within
 * (2⁻⁸ + 2⁻¹¹) of its block's largest magnitude (rounding q, and the scale's float16 rounding), and the largest of 32
 * normal weights is about 2.5 times their mean magnitude, so Q8_0 is held to 4 times the bfloat16 bound. This second
 * comparison is a first-order band, not a proof; the first one is the exact property.
 */
class PackedModelTest {
    /** Tied embeddings, LayerNorm, GELU, biases; every width a multiple of Q8_0's 32. */
    private static final ModelConfig GPT2 = ModelConfig.gpt2(61, 32, 2, 4, 24);
    /** Grouped-query attention, tied embeddings, q/k/v biases, SwiGLU. */
    private static final ModelConfig LLAMA_TIED = ModelConfig.llama(61, 32, 2, 4, 2, 64, 24, 1e-5f, 10000.0,
            Rope.Style.ROTATE_HALF, true, true);
    /** Untied LM head, interleaved RoPE, one key/value head. */
    private static final ModelConfig LLAMA = ModelConfig.llama(61, 32, 2, 4, 1, 64, 24, 1e-5f, 500.0,
            Rope.Style.INTERLEAVED, false, false);
    private static final ModelConfig[] CONFIGS = {GPT2, LLAMA_TIED, LLAMA};
    private static final int BATCH = 2, SEQ = 14;

    private static TokenBatch batch(ModelConfig c, long seed) {
        Rng rng = new Rng(seed);
        int[] t = new int[BATCH * SEQ];
        for (int i = 0; i < t.length; i++) {
            t[i] = rng.nextInt(c.vocabSize());
        }
        int[] mask = new int[t.length];
        Arrays.fill(mask, 1);
        for (int i = 0; i < 4; i++) {
            mask[SEQ + i] = 0; // a left-padded second row
        }
        return TokenBatch.of(t, mask, BATCH, SEQ);
    }

    /** A model with larger weights than GPT-2's initialisation, so that rounding them shows in the logits. */
    private static Transformer model(ModelConfig c, OutputHeads heads, long seed) {
        Transformer m = Transformer.create(c, heads, seed);
        Rng rng = new Rng(seed + 100);
        for (ParamArena.Entry e : m.params().entries()) {
            if (e.shape().length == 2) {
                rng.fillNormal(m.params().get(e.name()), 0.2);
            }
        }
        return m;
    }

    private static float[] logits(Transformer m, TokenBatch b) {
        m.forward(b);
        return realRows(m.logits().toArray(), b, m.config().vocabSize());
    }

    /** Logits of the real (unpadded) rows only: padded rows are not defined. */
    private static float[] realRows(float[] z, TokenBatch b, int v) {
        float[] out = new float[z.length];
        for (int i = 0; i < b.rows(); i++) {
            if (b.mask()[i] != 0) {
                System.arraycopy(z, i * v, out, i * v, v);
            }
        }
        return out;
    }

    private static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }

    @Test
    void packedLogitsEqualTheFloat32ModelOfThePackedValuesAndStayNearTheOriginal() {
        for (ModelConfig c : CONFIGS) {
            Transformer m = model(c, OutputHeads.LM, 3);
            TokenBatch b = batch(c, 4);
            float[] exact = logits(m, b);
            for (WeightDtype dtype : new WeightDtype[] {WeightDtype.BF16, WeightDtype.Q8_0}) {
                Transformer p = m.packed(dtype);
                String what = c.family() + (c.tiedEmbeddings() ? " tied " : " ") + dtype.label();
                assertTrue(p.isPacked() && p.frozen(), what);
                assertEquals(dtype, p.weightDtype());
                float[] packed = logits(p, b);
                float[] sameValues = logits(p.unpacked(), b);
                double scale = maxAbs(sameValues);
                assertClose(what + " vs the float32 model of its values", sameValues, packed, 1e-4 * scale, 0);
                double bound = (2 * c.layers() + 1) * 0x1p-8 * (dtype == WeightDtype.Q8_0 ? 4 : 1) * maxAbs(exact);
                assertClose(what + " vs the float32 original", exact, packed, bound, 0);
                // rounding did change something: the comparison above is not vacuous
                assertNotEquals(0.0, maxDiff(exact, packed), what);
            }
        }
    }

    private static double maxDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    @Test
    void packingHalvesTheBytesAndKeepsTheRestInFloat32() {
        Transformer m = model(GPT2, OutputHeads.LM, 5);
        Transformer bf = m.packed(WeightDtype.BF16), q8 = m.packed(WeightDtype.Q8_0);
        long rest = Transformer.restLayout(GPT2, OutputHeads.LM).size();
        long matrices = m.parameterCount() - rest;
        assertEquals(4 * m.parameterCount(), m.weightBytes());
        assertEquals(4 * rest + 2 * matrices, bf.weightBytes());
        assertEquals(4 * rest + matrices + matrices / 8, q8.weightBytes());
        assertEquals(m.parameterCount(), bf.parameterCount());
        IllegalStateException e = assertThrows(IllegalStateException.class, bf::params);
        assertTrue(e.getMessage().contains("bf16") && e.getMessage().contains("unpacked()"), e.getMessage());
        assertThrows(IllegalStateException.class, bf::lmHeadWeight);
        assertThrows(IllegalStateException.class, () -> bf.packed(WeightDtype.Q8_0));
        assertEquals(m, m.packed(WeightDtype.FP32));
        // unpacking is exact: packing the unpacked model again gives the same values
        Transformer back = bf.unpacked();
        assertFalse(back.isPacked());
        for (ParamArena.Entry en : back.params().entries()) {
            float[] once = back.params().get(en.name()).toArray();
            float[] twice = back.packed(WeightDtype.BF16).unpacked().params().get(en.name()).toArray();
            assertArrayEquals(once, twice, en.name());
        }
        // a packed model runs forward only
        bf.forward(batch(GPT2, 1));
        assertThrows(IllegalStateException.class, bf::backward);
    }

    /** Training forward and decoder on the same packed weights: the decoder's logits equal the full forward's. */
    @Test
    void decoderOnPackedWeightsEqualsThePackedForward() {
        for (ModelConfig c : CONFIGS) {
            Transformer m = model(c, OutputHeads.LM, 7);
            TokenBatch b = batch(c, 8);
            for (WeightDtype dtype : new WeightDtype[] {WeightDtype.BF16, WeightDtype.Q8_0}) {
                Transformer p = m.packed(dtype);
                float[] full = logits(p, b);
                // the packed model's own decoder, and a float32 model's decoder reading a packed copy
                for (KvCacheDecoder dec : new KvCacheDecoder[] {new KvCacheDecoder(p, BATCH, SEQ),
                        new KvCacheDecoder(m, BATCH, SEQ, dtype)}) {
                    assertEquals(dtype, dec.weightDtype());
                    assertDecoderMatches(c + " " + dtype.label(), dec, b, full);
                }
            }
        }
    }

    /** Prefill of 6, then one token at a time; each position's logits against the full forward's. */
    private static void assertDecoderMatches(String what, KvCacheDecoder dec, TokenBatch b, float[] full) {
        int v = full.length / (BATCH * SEQ), prompt = 6;
        int[] pTok = new int[BATCH * prompt], pMask = new int[BATCH * prompt];
        for (int r = 0; r < BATCH; r++) {
            System.arraycopy(b.tokens(), r * SEQ, pTok, r * prompt, prompt);
            System.arraycopy(b.mask(), r * SEQ, pMask, r * prompt, prompt);
        }
        float[] pre = dec.stepAllPositions(pTok, pMask, prompt).toArray();
        for (int r = 0; r < BATCH; r++) {
            for (int t = 0; t < prompt; t++) {
                if (b.mask()[r * SEQ + t] != 0) {
                    assertClose(what + " prefill " + r + "," + t, slice(full, r * SEQ + t, v),
                            slice(pre, r * prompt + t, v), 1e-5, 1e-5);
                }
            }
        }
        for (int t = prompt; t < SEQ; t++) {
            Tensor step = dec.step(new int[] {b.tokens()[t], b.tokens()[SEQ + t]}, null, 1);
            for (int r = 0; r < BATCH; r++) {
                assertClose(what + " step " + t + " row " + r, slice(full, r * SEQ + t, v),
                        slice(step.data(), r, v), 1e-5, 1e-5);
            }
        }
    }

    private static float[] slice(float[] a, int row, int v) {
        return Arrays.copyOfRange(a, row * v, (row + 1) * v);
    }

    /** A decoder over a float32 model reads its packed copy until {@link KvCacheDecoder#refreshPacked()}. */
    @Test
    void decoderCopyFollowsTheModelOnlyWhenRefreshed() {
        Transformer m = model(GPT2, OutputHeads.LM, 9);
        TokenBatch b = batch(GPT2, 10);
        KvCacheDecoder dec = new KvCacheDecoder(m, BATCH, SEQ, WeightDtype.BF16);
        float[] before = logits(m.packed(WeightDtype.BF16), b);
        new Rng(11).fillNormal(m.params().get("h.1.mlp.fc.weight"), 0.3); // an optimizer step, say
        float[] after = logits(m.packed(WeightDtype.BF16), b);
        assertDecoderMatches("stale copy", dec, b, before);
        dec.reset();
        dec.refreshPacked();
        assertDecoderMatches("refreshed copy", dec, b, after);
    }

    /**
     * LoRA over a packed base: the adapters' gradients equal those of the same adapters over the float32 model of
     * the packed values (10⁻⁴ of the largest gradient: float32 reordering, as above), with the LM loss's gradient
     * flowing back through every packed projection and the packed head.
     */
    @Test
    void loraGradientsOverAPackedBaseEqualThoseOverItsFloat32Values() {
        LoraConfig lc = new LoraConfig(3, 6f, 0f, List.of(LoraConfig.ALL_LINEAR), false);
        for (ModelConfig c : CONFIGS) {
            for (WeightDtype dtype : new WeightDtype[] {WeightDtype.BF16, WeightDtype.Q8_0}) {
                Transformer packedBase = model(c, OutputHeads.LM, 13).packed(dtype);
                Transformer onPacked = packedBase.withLora(lc, OutputHeads.LM, 14);
                Transformer onF32 = packedBase.unpacked().withLora(lc, OutputHeads.LM, 14);
                for (Transformer t : new Transformer[] {onPacked, onF32}) {
                    Rng rng = new Rng(15); // B random too: fresh adapters have B = 0
                    for (ParamArena.Entry e : t.trainable().entries()) {
                        if (e.name().endsWith("lora_B")) {
                            rng.fillNormal(t.trainable().get(e.name()), 0.3);
                        }
                    }
                }
                TokenBatch b = batch(c, 16);
                int[] targets = new int[b.rows()];
                for (int i = 0; i < targets.length; i++) {
                    targets[i] = (i * 7 + 3) % c.vocabSize();
                }
                double[] losses = new double[2];
                int k = 0;
                for (Transformer t : new Transformer[] {onPacked, onF32}) {
                    t.zeroGrad();
                    t.forward(b);
                    losses[k++] = t.lmLoss(targets, null, 1f, true);
                    t.backward();
                }
                String what = c.family() + " " + dtype.label();
                assertEquals(losses[1], losses[0], 1e-4 * Math.abs(losses[1]), what + " loss");
                for (ParamArena.Entry e : onF32.grads().entries()) {
                    float[] want = onF32.grads().get(e.name()).toArray();
                    float[] got = onPacked.grads().get(e.name()).toArray();
                    assertClose(what + " " + e.name(), want, got, 1e-4 * maxAbs(want) + 1e-7, 0);
                }
                assertTrue(onPacked.isPacked());
                assertTrue(onPacked.withoutAdapters().isPacked());
            }
        }
    }
}
