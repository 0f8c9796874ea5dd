package dev.rlhf4j.model;

import dev.rlhf4j.tensor.AdamW;
import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.UserError;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.rlhf4j.tensor.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LoraTest {
    private static final ModelConfig GPT2 = ModelConfig.gpt2(50, 24, 2, 3, 16);
    /** Grouped-query attention, interleaved RoPE (q/k rows permuted on save) and q/k/v biases: every Llama path. */
    private static final ModelConfig LLAMA = ModelConfig.llama(50, 24, 2, 4, 2, 40, 16, 1e-5f, 10000.0,
            Rope.Style.INTERLEAVED, false, true);
    private static final int BATCH = 2, SEQ = 5;

    private static TokenBatch batch(ModelConfig c, long seed) {
        Rng rng = new Rng(seed);
        int[] t = new int[BATCH * SEQ];
        for (int i = 0; i < t.length; i++) {
            t[i] = rng.nextInt(c.vocabSize());
        }
        int[] mask = new int[t.length];
        java.util.Arrays.fill(mask, 1);
        mask[SEQ] = 0; // a left-padded second row
        return TokenBatch.of(t, mask, BATCH, SEQ);
    }

    /** An adapted model whose B are random too (fresh adapters have B = 0, which would hide half the gradient). */
    private static Transformer adapted(ModelConfig c, OutputHeads heads, LoraConfig lc, long seed) {
        Transformer base = Transformer.create(c, heads, seed);
        Transformer m = base.withLora(lc, heads, seed + 1);
        Rng rng = new Rng(seed + 2);
        for (ParamArena.Entry e : m.trainable().entries()) {
            if (e.name().endsWith("lora_B")) {
                rng.fillNormal(m.trainable().get(e.name()), 0.3);
            }
        }
        return m;
    }

    /** L = Σ lm loss over the rows + Σ coef·value: both heads' gradients meet in the trunk. */
    private static double loss(Transformer m, TokenBatch b, boolean backward) {
        int n = b.rows();
        int[] targets = new int[n];
        float[] coef = new float[n];
        for (int i = 0; i < n; i++) {
            targets[i] = (i * 7 + 3) % m.config().vocabSize();
            coef[i] = (i % 3 - 1) * 0.7f;
        }
        m.forward(b);
        double l = m.lmLoss(targets, null, 1f, backward);
        if (m.heads().scalar()) {
            float[] v = new float[n];
            m.scalarHead(v);
            for (int i = 0; i < n; i++) {
                l += coef[i] * v[i];
            }
            if (backward) {
                m.scalarHeadBackward(coef);
            }
        }
        if (backward) {
            m.backward();
        }
        return l;
    }

    @Test
    void freshAdaptersLeaveTheModelUnchangedAndShareItsWeights() {
        for (ModelConfig c : List.of(GPT2, LLAMA)) {
            Transformer base = Transformer.create(c, OutputHeads.LM, 3);
            Transformer m = base.withLora(new LoraConfig(4, 8f, 0f, List.of(LoraConfig.ALL_LINEAR), false),
                    OutputHeads.LM, 4);
            TokenBatch b = batch(c, 5);
            base.forward(b);
            float[] expected = base.logits().toArray();
            m.forward(b);
            assertArrayEquals(expected, m.logits().toArray(), "B = 0: the adapted model is the base model");
            assertSame(base.params(), m.params(), "the base weights are shared, not copied");
            assertSame(base.params(), m.withoutAdapters().params());
            assertTrue(m.withoutAdapters().frozen());
            int sites = c.isGpt2() ? 4 : 7;
            assertEquals((long) c.layers() * sites, m.lora().sites().size());
        }
    }

    /**
     * With {@code W' = W + s·B·A}, the chain rule gives {@code ∂L/∂B = s·(∂L/∂W')·Aᵀ} and {@code ∂L/∂A =
     * s·Bᵀ·(∂L/∂W')}: the adapters' gradients must equal these, computed from the full gradient of the merged model
     * (itself tested against finite differences and PyTorch). Both are float32 sums of at most a few hundred terms
     * of size |g|·|A| or |g|·|B|, so they agree to ~1e-5 relative; 1e-4 of the largest entry is the bound.
     */
    @Test
    void adapterGradientsAreTheChainRuleOfTheMergedModelsGradient() {
        for (ModelConfig c : List.of(GPT2, LLAMA)) {
            LoraConfig lc = new LoraConfig(3, 6f, 0f, List.of(LoraConfig.ALL_LINEAR), false);
            Transformer m = adapted(c, OutputHeads.BOTH, lc, 11);
            TokenBatch b = batch(c, 12);
            m.zeroGrad();
            double lAdapted = loss(m, b, true);
            Transformer merged = m.merged();
            merged.zeroGrad();
            double lMerged = loss(merged, b, true);
            assertEquals(lMerged, lAdapted, 1e-4 * Math.abs(lMerged), "merged and adapted models compute one function");
            float s = lc.scale();
            int r = lc.r();
            for (LoraConfig.Site site : m.lora().sites()) {
                Tensor gw = merged.grads().get(Lora.weightName(site));
                Tensor a = m.trainable().get(site.aName()), bm = m.trainable().get(site.bName());
                float[] expectB = new float[site.rows() * r], expectA = new float[r * site.in()];
                for (int o = 0; o < site.rows(); o++) {
                    for (int i = 0; i < site.in(); i++) {
                        float g = gw.data()[gw.offset() + (site.row0() + o) * site.in() + i];
                        for (int k = 0; k < r; k++) {
                            expectB[o * r + k] += s * g * a.data()[a.offset() + k * site.in() + i];
                            expectA[k * site.in() + i] += s * bm.data()[bm.offset() + o * r + k] * g;
                        }
                    }
                }
                String what = c.family() + " " + site.aName();
                assertClose(what + " dB", expectB, m.grads().get(site.bName()).toArray(), 1e-4 * maxAbs(expectB), 0);
                assertClose(what + " dA", expectA, m.grads().get(site.aName()).toArray(), 1e-4 * maxAbs(expectA), 0);
            }
            float[] scoreG = merged.grads().get(Lora.SCORE).toArray();
            assertClose("score head", scoreG, m.grads().get(Lora.SCORE).toArray(), 1e-4 * maxAbs(scoreG), 0);
        }
    }

    /**
     * PPO's path through a frozen head: a forward that keeps {@code E_p[W]} for its backward gives the adapters the
     * same gradients as the backward that recomputes the logits (both float32 sums over the vocabulary of the same
     * terms, in another order: 1e-4 of the largest entry), at two temperatures, with GPT-2's tied head and Llama's.
     */
    @Test
    void frozenHeadFastBackwardGivesTheAdaptersTheSameGradients() {
        for (ModelConfig c : List.of(GPT2, LLAMA)) {
            for (float temp : new float[] {1f, 0.7f}) {
                Transformer m = adapted(c, OutputHeads.LM, new LoraConfig(3, 6f, 0f, List.of(LoraConfig.ALL_LINEAR),
                        false), 21);
                TokenBatch b = batch(c, 22);
                int[] rows = {1, 2, 3, 7, 8, 9}, tokens = {4, 9, 9, 33, 0, 49};
                float[] dlogp = {0.3f, -0.2f, 0.5f, 0.1f, -0.4f, 0.25f};
                float[][] grads = new float[2][];
                for (int k = 0; k < 2; k++) {
                    m.zeroGrad();
                    m.forward(b);
                    float[] lp = new float[rows.length], ent = new float[rows.length];
                    var saved = m.tokenLogProbs(rows, tokens, temp, lp, ent, k == 1);
                    assertEquals(k == 1, saved.expected() != null, "u is kept only when asked, for a frozen head");
                    m.tokenLogProbsBackward(rows, tokens, temp, saved, dlogp, null);
                    m.backward();
                    grads[k] = m.grads().chunk(0).clone();
                }
                assertClose(c.family() + " T=" + temp, grads[0], grads[1], 1e-4 * maxAbs(grads[0]), 0);
            }
        }
    }

    /** An independent check: central float32 differences of the loss on a few adapter entries. */
    @Test
    void adapterGradientsMatchFiniteDifferences() {
        for (boolean dropout : new boolean[] {false, true}) {
            LoraConfig lc = new LoraConfig(2, 4f, dropout ? 0.3f : 0f, List.of("q_proj", "v_proj", "down_proj"),
                    false);
            Transformer m = adapted(LLAMA, OutputHeads.LM, lc, 21);
            m.train(true);
            TokenBatch b = batch(LLAMA, 22);
            m.zeroGrad();
            m.dropoutSeed(7);
            loss(m, b, true);
            for (LoraConfig.Site site : m.lora().sites()) {
                for (String name : List.of(site.aName(), site.bName())) {
                    Tensor p = m.trainable().get(name);
                    Tensor g = m.grads().get(name);
                    for (int k = 0; k < 2; k++) {
                        int i = (k * 7919 + 13) % p.size();
                        float keep = p.data()[p.offset() + i];
                        float h = 1e-2f;
                        p.data()[p.offset() + i] = keep + h;
                        m.dropoutSeed(7);
                        double up = loss(m, b, false);
                        p.data()[p.offset() + i] = keep - h;
                        m.dropoutSeed(7);
                        double down = loss(m, b, false);
                        p.data()[p.offset() + i] = keep;
                        double fd = (up - down) / (2 * h);
                        assertEquals(fd, g.data()[g.offset() + i], 2e-3 + 2e-2 * Math.abs(fd),
                                "dropout " + dropout + " " + name + "[" + i + "]");
                    }
                }
            }
        }
    }

    @Test
    void dropoutActsOnlyInTrainingForwards() {
        LoraConfig lc = new LoraConfig(2, 4f, 0.5f, List.of("c_attn"), false);
        Transformer m = adapted(GPT2, OutputHeads.LM, lc, 31);
        TokenBatch b = batch(GPT2, 32);
        m.forward(b);
        float[] eval1 = m.logits().toArray();
        m.train(true);
        m.dropoutSeed(1);
        m.forward(b);
        float[] train1 = m.logits().toArray();
        m.dropoutSeed(1);
        m.forward(b);
        assertArrayEquals(train1, m.logits().toArray(), "the same seed draws the same masks");
        m.forward(b);
        assertTrue(!java.util.Arrays.equals(train1, m.logits().toArray()), "the next forward draws new masks");
        m.train(false);
        m.forward(b);
        assertArrayEquals(eval1, m.logits().toArray(), "no dropout outside training");
    }

    @Test
    void decoderAppliesTheAdapters() {
        for (ModelConfig c : List.of(GPT2, LLAMA)) {
            Transformer m = adapted(c, OutputHeads.LM, new LoraConfig(4, 8f, 0f, List.of(LoraConfig.ALL_LINEAR),
                    false), 41);
            int[] tokens = batch(c, 42).tokens();
            m.forward(TokenBatch.of(tokens, BATCH, SEQ));
            float[] full = m.logits().toArray();
            KvCacheDecoder dec = new KvCacheDecoder(m, BATCH, SEQ);
            float[] cached = dec.stepAllPositions(tokens, null, SEQ).toArray();
            assertClose(c.family() + " decoder vs forward", full, cached, 1e-4, 1e-4);
            Transformer base = m.withoutAdapters();
            base.forward(TokenBatch.of(tokens, BATCH, SEQ));
            assertTrue(maxDiff(full, base.logits().toArray()) > 1e-3, "the adapters change the logits");
        }
    }

    @Test
    void onlyAdaptersAndTheScalarHeadAreTrained() {
        Transformer base = Transformer.create(GPT2, OutputHeads.LM, 51);
        float[] before = base.params().chunk(0).clone();
        Transformer m = base.withLora(LoraConfig.of(2, 4f, List.of("c_fc")), OutputHeads.BOTH, 52);
        assertTrue(m.trainable().has(Lora.SCORE));
        assertEquals(0f, maxAbs(m.trainable().get(Lora.SCORE).toArray()), "a new value head starts at zero");
        AdamW opt = new AdamW(AdamW.Config.defaults(0.1f), m.trainable());
        for (int step = 0; step < 3; step++) {
            m.zeroGrad();
            loss(m, batch(GPT2, 53 + step), true);
            opt.update(m.trainable(), m.grads(), 1e-2f);
        }
        assertArrayEquals(before, base.params().chunk(0), "the base weights never change");
        assertTrue(maxAbs(m.trainable().get("h.0.mlp.c_fc.lora_B").toArray()) > 0);
        assertEquals(2L * (2 * 24 + 96 * 2) + 24, m.trainableCount());
        assertTrue(!base.withLora(LoraConfig.of(2, 4f, List.of("c_fc")), OutputHeads.LM, 1).trainable()
                .has(Lora.SCORE), "an LM-only model trains no head");
    }

    @Test
    void targetModulesResolveAsPeftResolvesThem() {
        assertEquals(List.of("attn.c_proj", "mlp.c_proj"), LoraConfig.of(2, 2f, List.of("c_proj")).sites(GPT2)
                .stream().filter(s -> s.layer() == 0).map(LoraConfig.Site::module).toList());
        assertEquals(List.of("attn.c_proj"), LoraConfig.of(2, 2f, List.of("attn.c_proj")).sites(GPT2).stream()
                .filter(s -> s.layer() == 1).map(LoraConfig.Site::module).toList());
        List<LoraConfig.Site> qv = LoraConfig.of(2, 2f, LoraConfig.defaultTargets(LLAMA)).sites(LLAMA);
        assertEquals(4, qv.size());
        LoraConfig.Site v = qv.get(1);
        assertEquals("self_attn.v_proj", v.module());
        assertEquals(LLAMA.heads() * LLAMA.headDim() + LLAMA.kvHeads() * LLAMA.headDim(), v.row0());
        assertEquals(1, LoraConfig.of(2, 2f, List.of("re:.*layers\\.1\\.mlp\\.up_proj")).sites(LLAMA).size());
        UserError e = assertThrows(UserError.class, () -> LoraConfig.of(2, 2f, List.of("q_proj")).sites(GPT2));
        assertTrue(e.getMessage().contains("'q_proj'") && e.getMessage().contains("c_attn"), e.getMessage());
        assertThrows(UserError.class, () -> LoraConfig.of(0, 2f, List.of("c_attn")));
        assertThrows(UserError.class, () -> new LoraConfig(2, 2f, 1f, List.of("c_attn"), false));
        assertThrows(UserError.class, () -> LoraConfig.of(2, 2f, List.of("re:(")));
        assertEquals(2f, new LoraConfig(4, 4f, 0f, List.of("c_attn"), true).scale(), 1e-6f);
        assertEquals(1f, LoraConfig.of(4, 4f, List.of("c_attn")).scale());
    }

    private static float maxAbs(float[] a) {
        float m = 0;
        for (float x : a) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

    private static double maxDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }
}
