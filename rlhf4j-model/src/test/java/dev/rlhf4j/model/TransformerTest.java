package dev.rlhf4j.model;

import dev.rlhf4j.tensor.AdamW;
import dev.rlhf4j.tensor.CrossEntropy;
import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import static dev.rlhf4j.tensor.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TransformerTest {
    private static final ModelConfig GPT2 = ModelConfig.gpt2(50, 24, 2, 3, 16);
    private static final ModelConfig LLAMA = ModelConfig.llama(50, 24, 2, 4, 2, 40, 16, 1e-5f, 10000.0,
            Rope.Style.ROTATE_HALF, false, false);

    private static int[] randomTokens(long seed, int n, int vocab) {
        Rng rng = new Rng(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = rng.nextInt(vocab);
        }
        return t;
    }

    @Test
    void leftPaddingDoesNotChangeTheLogitsOfRealTokens() {
        for (ModelConfig c : new ModelConfig[] {GPT2, LLAMA}) {
            Transformer m = Transformer.create(c, OutputHeads.LM, 1);
            int[] seq = randomTokens(2, 5, c.vocabSize());
            m.forward(TokenBatch.of(seq, 1, 5));
            float[] alone = m.logits().toArray();
            // the same sequence left-padded to 8 next to another sequence
            int[] tokens = new int[16], mask = new int[16];
            int[] other = randomTokens(3, 8, c.vocabSize());
            for (int t = 0; t < 8; t++) {
                tokens[t] = other[t];
                mask[t] = 1;
            }
            for (int t = 0; t < 5; t++) {
                tokens[8 + 3 + t] = seq[t];
                mask[8 + 3 + t] = 1;
            }
            m.forward(TokenBatch.of(tokens, mask, 2, 8));
            float[] padded = m.logits().toArray();
            float[] tail = java.util.Arrays.copyOfRange(padded, (8 + 3) * c.vocabSize(), 16 * c.vocabSize());
            assertClose(c.family() + " padded logits", alone, tail, 1e-5, 1e-5);
        }
    }

    @Test
    void packedDocumentsGiveTheLogitsOfEachDocumentAlone() {
        for (ModelConfig c : new ModelConfig[] {GPT2, LLAMA}) {
            Transformer m = Transformer.create(c, OutputHeads.LM, 2);
            int[] a = randomTokens(30, 4, c.vocabSize()), b = randomTokens(31, 6, c.vocabSize());
            m.forward(TokenBatch.of(a, 1, 4));
            float[] la = m.logits().toArray();
            m.forward(TokenBatch.of(b, 1, 6));
            float[] lb = m.logits().toArray();
            int[] tokens = new int[10], positions = new int[10], starts = new int[10];
            for (int t = 0; t < 10; t++) {
                tokens[t] = t < 4 ? a[t] : b[t - 4];
                positions[t] = t < 4 ? t : t - 4;
                starts[t] = t < 4 ? 0 : 4;
            }
            m.forward(new TokenBatch(1, 10, tokens, null, positions, starts));
            float[] packed = m.logits().toArray();
            int v = c.vocabSize();
            assertClose(c.family() + " first document", la, java.util.Arrays.copyOfRange(packed, 0, 4 * v), 1e-5, 1e-5);
            assertClose(c.family() + " second document", lb, java.util.Arrays.copyOfRange(packed, 4 * v, 10 * v),
                    1e-5, 1e-5);
        }
    }

    @Test
    void chunkedLmLossEqualsCrossEntropyOnFullLogits() {
        Transformer m = Transformer.create(LLAMA, OutputHeads.LM, 4);
        int n = 2 * 9;
        int[] tokens = randomTokens(5, n, LLAMA.vocabSize()), targets = randomTokens(6, n, LLAMA.vocabSize());
        targets[3] = CrossEntropy.IGNORE_INDEX;
        float[] weights = new float[n];
        java.util.Arrays.fill(weights, 1f);
        weights[7] = 0.5f;
        TokenBatch b = TokenBatch.of(tokens, 2, 9);
        m.forward(b);
        m.zeroGrad();
        double fused = m.lmLoss(targets, weights, 0.1f, true);
        m.backward();
        float[] fusedGrad = m.grads().chunk(0).clone();

        m.zeroGrad();
        m.forward(b);
        Tensor logits = m.logits();
        double full = CrossEntropy.forward(logits, targets, weights, 0.1f, true, null);
        m.lmHeadBackward(logits);
        m.backward();
        assertEquals(full, fused, 1e-4);
        assertClose("fused vs full gradients", fusedGrad, m.grads().chunk(0), 1e-6, 1e-4);
    }

    @Test
    void scalarHeadGradientMatchesFiniteDifferences() {
        Transformer m = Transformer.create(GPT2, OutputHeads.SCALAR, 8);
        int[] tokens = randomTokens(9, 6, GPT2.vocabSize());
        TokenBatch b = TokenBatch.of(tokens, 1, 6);
        float[] coef = {0.3f, -1.2f, 0.5f, 2.0f, -0.7f, 1.1f};
        m.forward(b);
        float[] v = new float[6];
        m.scalarHead(v);
        m.zeroGrad();
        m.scalarHeadBackward(coef);
        m.backward();
        // float32 finite differences of L = Σ coef·value on a few parameters of every kind
        String[] names = {"score.weight", "h.1.mlp.proj.weight", "h.0.attn.qkv.bias", "wte", "wpe", "ln_f.weight"};
        for (String name : names) {
            Tensor p = m.params().get(name);
            Tensor g = m.grads().get(name);
            for (int k = 0; k < 3; k++) {
                int i = (k * 7919 + 13) % p.size();
                float keep = p.data()[p.offset() + i];
                float h = 1e-2f;
                p.data()[p.offset() + i] = keep + h;
                double up = objective(m, b, coef);
                p.data()[p.offset() + i] = keep - h;
                double down = objective(m, b, coef);
                p.data()[p.offset() + i] = keep;
                double fd = (up - down) / (2 * h);
                double analytic = g.data()[g.offset() + i];
                assertEquals(fd, analytic, 2e-3 + 2e-2 * Math.abs(fd), name + "[" + i + "]");
            }
        }
    }

    private static double objective(Transformer m, TokenBatch b, float[] coef) {
        m.forward(b);
        float[] v = new float[coef.length];
        m.scalarHead(v);
        double s = 0;
        for (int i = 0; i < coef.length; i++) {
            s += coef[i] * v[i];
        }
        return s;
    }

    @Test
    void sameSeedAndDataGiveBitIdenticalTraining() {
        float[][] runs = new float[2][];
        double[][] losses = new double[2][4];
        for (int r = 0; r < 2; r++) {
            Transformer m = Transformer.create(LLAMA, OutputHeads.LM, 11);
            AdamW opt = new AdamW(AdamW.Config.defaults(0.1f), m.params());
            int[] tokens = randomTokens(12, 4 * 12, LLAMA.vocabSize());
            int[] targets = randomTokens(13, 4 * 12, LLAMA.vocabSize());
            for (int step = 0; step < 4; step++) {
                m.zeroGrad();
                m.forward(TokenBatch.of(tokens, 4, 12));
                losses[r][step] = m.lmLoss(targets, null, 1f / 48, true);
                m.backward();
                opt.update(m.params(), m.grads(), 1e-3f);
            }
            runs[r] = m.params().chunk(0).clone();
        }
        assertArrayEquals(losses[0], losses[1]);
        assertArrayEquals(runs[0], runs[1]);
    }

    @Test
    void frozenCopyIsIndependentAndRefusesBackward() {
        Transformer policy = Transformer.create(GPT2, OutputHeads.LM, 21);
        Transformer ref = policy.frozenCopy();
        assertTrue(ref.frozen());
        assertArrayEquals(policy.params().chunk(0), ref.params().chunk(0));
        int[] tokens = randomTokens(22, 8, GPT2.vocabSize());
        TokenBatch b = TokenBatch.of(tokens, 1, 8);
        AdamW opt = new AdamW(AdamW.Config.defaults(0f), policy.params());
        policy.zeroGrad();
        policy.forward(b);
        policy.lmLoss(tokens, null, 1f / 8, true);
        policy.backward();
        opt.update(policy.params(), policy.grads(), 1e-2f);
        assertNotEquals(policy.params().get("wte").get(tokens[0], 0), ref.params().get("wte").get(tokens[0], 0));
        ref.forward(b);
        IllegalStateException e = assertThrows(IllegalStateException.class, ref::backward);
        assertTrue(e.getMessage().contains("frozen"));
        assertThrows(IllegalStateException.class, () -> ref.lmLoss(tokens, null, 1f, true));
    }

    @Test
    void initialisationFollowsGpt2() {
        Transformer m = Transformer.create(ModelConfig.gpt2(500, 64, 4, 4, 32), OutputHeads.BOTH, 3);
        ParamArena p = m.params();
        assertEquals(0.02, std(p.get("wte")), 0.002);
        assertEquals(0.02 / Math.sqrt(8), std(p.get("h.2.attn.proj.weight")), 0.002);
        assertArrayEquals(new float[256], p.get("h.0.mlp.fc.bias").toArray());
        assertEquals(1f, p.get("h.3.ln2.weight").get(5));
        assertEquals(1f, p.get("ln_f.weight").get(0));
        assertTrue(p.has("score.weight"));
        // 4 layers of 12·64² + 13·64 plus embeddings, positions, final norm and score head
        long expected = 500 * 64 + 32 * 64 + 4 * (12L * 64 * 64 + 13 * 64) + 2 * 64 + 64;
        assertEquals(expected, m.parameterCount());
    }

    private static double std(Tensor t) {
        double s = 0, s2 = 0;
        for (float v : t.toArray()) {
            s += v;
            s2 += v * v;
        }
        int n = t.size();
        return Math.sqrt(s2 / n - (s / n) * (s / n));
    }

    @Test
    void badInputsAreReportedClearly() {
        Transformer m = Transformer.create(GPT2, OutputHeads.LM, 1);
        IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class,
                () -> m.forward(TokenBatch.of(new int[20], 1, 20)));
        assertTrue(tooLong.getMessage().contains("20") && tooLong.getMessage().contains("16"), tooLong.getMessage());
        IllegalArgumentException badId = assertThrows(IllegalArgumentException.class,
                () -> m.forward(TokenBatch.of(new int[] {1, 2, 50, 3}, 1, 4)));
        assertTrue(badId.getMessage().contains("id 50"), badId.getMessage());
        assertThrows(IllegalArgumentException.class, () -> ModelConfig.gpt2(50, 25, 2, 3, 16));
        IllegalArgumentException gqa = assertThrows(IllegalArgumentException.class, () -> ModelConfig.llama(50, 24, 2,
                4, 3, 40, 16, 1e-5f, 1e4, Rope.Style.ROTATE_HALF, true, false));
        assertTrue(gqa.getMessage().contains("kvHeads"), gqa.getMessage());
        Transformer scalarOnly = Transformer.create(GPT2, OutputHeads.SCALAR, 1);
        assertThrows(IllegalStateException.class, scalarOnly::lmHeadWeight);
    }
}
