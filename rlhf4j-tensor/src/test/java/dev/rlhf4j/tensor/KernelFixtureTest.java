package dev.rlhf4j.tensor;

import org.junit.jupiter.api.Test;

import static dev.rlhf4j.tensor.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Every kernel's forward and backward against PyTorch ({@code tools/fixtures/make_fixtures.py}; references in
 * float64 from float32 inputs). Tolerance: 1e-5 absolute plus 1e-5 relative unless stated, i.e. float32
 * rounding of a few operations.
 */
class KernelFixtureTest {
    private static final Fixtures FX = Fixtures.load("fixtures/kernels.json");
    private static final double ATOL = 1e-5, RTOL = 1e-5;

    @Test
    void linearMatchesTorch() {
        Tensor x = FX.tensor("linear.x"), w = FX.tensor("linear.w"), b = FX.tensor("linear.b");
        Tensor y = Tensor.zeros(2, 3, 4);
        Linear.forward(x, w, b, y);
        assertClose("linear y", FX.doubles("linear.y"), y.toArray(), ATOL, RTOL);
        Tensor dx = Tensor.zeros(2, 3, 5), dw = Tensor.zeros(4, 5), db = Tensor.zeros(4);
        Linear.backward(FX.tensor("linear.dy"), x, w, dx, false, dw, db);
        assertClose("linear dx", FX.doubles("linear.dx"), dx.toArray(), ATOL, RTOL);
        assertClose("linear dw", FX.doubles("linear.dw"), dw.toArray(), ATOL, RTOL);
        assertClose("linear db", FX.doubles("linear.db"), db.toArray(), ATOL, RTOL);
    }

    @Test
    void embeddingMatchesTorch() {
        int[] ids = FX.ints("embedding.ids");
        Tensor table = FX.tensor("embedding.table");
        Tensor out = Tensor.zeros(ids.length, 6);
        Embedding.forward(ids, table, out, false);
        assertClose("embedding out", FX.doubles("embedding.out"), out.toArray(), 0, 0);
        Tensor dtable = Tensor.zeros(10, 6);
        Embedding.backward(ids, FX.tensor("embedding.dy"), dtable);
        assertClose("embedding dtable", FX.doubles("embedding.dtable"), dtable.toArray(), ATOL, RTOL);
    }

    @Test
    void layerNormMatchesTorch() {
        Tensor x = FX.tensor("layernorm.x"), w = FX.tensor("layernorm.w"), b = FX.tensor("layernorm.b");
        Tensor y = Tensor.zeros(6, 8);
        float[] mean = new float[6], rstd = new float[6];
        LayerNorm.forward(x, w, b, y, mean, rstd, 1e-5f);
        assertClose("layernorm y", FX.doubles("layernorm.y"), y.toArray(), ATOL, RTOL);
        Tensor dx = Tensor.zeros(6, 8), dw = Tensor.zeros(8), db = Tensor.zeros(8);
        LayerNorm.backward(FX.tensor("layernorm.dy"), x, w, mean, rstd, dx, dw, db);
        assertClose("layernorm dx", FX.doubles("layernorm.dx"), dx.toArray(), ATOL, RTOL);
        assertClose("layernorm dw", FX.doubles("layernorm.dw"), dw.toArray(), ATOL, RTOL);
        assertClose("layernorm db", FX.doubles("layernorm.db"), db.toArray(), ATOL, RTOL);
    }

    @Test
    void rmsNormMatchesTorch() {
        Tensor x = FX.tensor("rmsnorm.x"), w = FX.tensor("rmsnorm.w");
        Tensor y = Tensor.zeros(6, 8);
        float[] rstd = new float[6];
        RmsNorm.forward(x, w, y, rstd, 1e-5f);
        assertClose("rmsnorm y", FX.doubles("rmsnorm.y"), y.toArray(), ATOL, RTOL);
        Tensor dx = Tensor.zeros(6, 8), dw = Tensor.zeros(8);
        RmsNorm.backward(FX.tensor("rmsnorm.dy"), x, w, rstd, dx, dw);
        assertClose("rmsnorm dx", FX.doubles("rmsnorm.dx"), dx.toArray(), ATOL, RTOL);
        assertClose("rmsnorm dw", FX.doubles("rmsnorm.dw"), dw.toArray(), ATOL, RTOL);
    }

    @Test
    void geluAndSiluMatchTorch() {
        Tensor x = FX.tensor("gelu.x"), dy = FX.tensor("gelu.dy");
        Tensor y = Tensor.zeros(61), dx = Tensor.zeros(61);
        Activations.geluForward(x, y);
        assertClose("gelu y", FX.doubles("gelu.y"), y.toArray(), ATOL, RTOL);
        Activations.geluBackward(x, dy, dx);
        assertClose("gelu dx", FX.doubles("gelu.dx"), dx.toArray(), ATOL, RTOL);
        Activations.siluForward(x, y);
        assertClose("silu y", FX.doubles("silu.y"), y.toArray(), ATOL, RTOL);
        Activations.siluBackward(x, FX.tensor("silu.dy"), dx);
        assertClose("silu dx", FX.doubles("silu.dx"), dx.toArray(), ATOL, RTOL);
    }

    @Test
    void swigluMatchesTorch() {
        Tensor gu = FX.tensor("swiglu.gu");
        Tensor y = Tensor.zeros(5, 6), dgu = Tensor.zeros(5, 12);
        Activations.swigluForward(gu, y);
        assertClose("swiglu y", FX.doubles("swiglu.y"), y.toArray(), ATOL, RTOL);
        Activations.swigluBackward(gu, FX.tensor("swiglu.dy"), dgu);
        assertClose("swiglu dgu", FX.doubles("swiglu.dgu"), dgu.toArray(), ATOL, RTOL);
    }

    @Test
    void ropeMatchesTorchInBothConventions() {
        int[] positions = FX.ints("rope.positions");
        for (String style : new String[] {"interleaved", "rotate_half"}) {
            Rope rope = new Rope(8, 16, 10000.0,
                    style.equals("interleaved") ? Rope.Style.INTERLEAVED : Rope.Style.ROTATE_HALF);
            Tensor x = FX.tensor("rope_" + style + ".x");
            rope.forward(x, positions, 4);
            assertClose("rope " + style + " y", FX.doubles("rope_" + style + ".y"), x.toArray(), ATOL, RTOL);
            Tensor dy = FX.tensor("rope_" + style + ".dy");
            rope.backward(dy, positions, 4);
            assertClose("rope " + style + " dx", FX.doubles("rope_" + style + ".dx"), dy.toArray(), ATOL, RTOL);
        }
    }

    @Test
    void attentionWithGqaAndLeftPaddingMatchesTorch() {
        Attention.Dims dims = new Attention.Dims(2, 6, 4, 2, 8);
        Tensor qkv = FX.tensor("attention.qkv");
        int[] mask = FX.ints("attention.mask");
        Tensor out = Tensor.zeros(12, 32);
        float[] probs = new float[(int) dims.probsSize()];
        Attention.forward(dims, qkv, mask, out, probs, null);
        assertClose("attention out", FX.doubles("attention.out"), out.toArray(), ATOL, RTOL);
        Tensor dqkv = Tensor.zeros(12, 64);
        Attention.backward(dims, FX.tensor("attention.dy"), qkv, probs, dqkv, null);
        assertClose("attention dqkv", FX.doubles("attention.dqkv"), dqkv.toArray(), ATOL, RTOL);
    }

    @Test
    void crossEntropyMatchesTorch() {
        Tensor logits = FX.tensor("ce.logits");
        int[] targets = FX.ints("ce.targets");
        float[] weights = FX.floats("ce.weights");
        float[] perRow = new float[6];
        double sum = CrossEntropy.forward(logits, targets, weights, 0.25f, true, perRow);
        assertEquals(FX.doubles("ce.loss_sum")[0], sum, 1e-5);
        assertClose("ce per row", FX.doubles("ce.per_row"), perRow, ATOL, RTOL);
        assertClose("ce dlogits", FX.doubles("ce.dlogits"), logits.toArray(), ATOL, RTOL);
    }

    @Test
    void tokenLogProbsAndEntropyMatchTorch() {
        Tensor h = FX.tensor("logprobs.h"), w = FX.tensor("logprobs.w");
        int[] tokens = FX.ints("logprobs.tokens");
        float temp = FX.floats("logprobs.temperature")[0];
        int n = tokens.length;
        // vocabulary chunks of 16 and row blocks of 3 so that the streaming log-sum-exp crosses chunk boundaries
        for (int[] blocks : new int[][] {{3, 16}, {256, 2048}}) {
            float[] logp = new float[n], ent = new float[n];
            TokenLogProbs.Saved saved = TokenLogProbs.forward(h, w, tokens, temp, logp, ent, blocks[0], blocks[1]);
            assertClose("logp", FX.doubles("logprobs.logp"), logp, ATOL, RTOL);
            assertClose("entropy", FX.doubles("logprobs.entropy"), ent, ATOL, RTOL);
            Tensor dh = Tensor.zeros(h.shape()), dw = Tensor.zeros(w.shape());
            TokenLogProbs.backward(h, w, tokens, temp, saved, FX.floats("logprobs.dlogp"),
                    FX.floats("logprobs.dentropy"), dh, dw, blocks[0], blocks[1]);
            assertClose("logprobs dh", FX.doubles("logprobs.dh"), dh.toArray(), 2e-5, 2e-5);
            assertClose("logprobs dw", FX.doubles("logprobs.dw"), dw.toArray(), 2e-5, 2e-5);
        }
    }

    @Test
    void residualMatchesTorch() {
        Tensor out = Tensor.zeros(4, 6);
        Residual.forward(FX.tensor("residual.a"), FX.tensor("residual.b"), out);
        assertClose("residual out", FX.doubles("residual.out"), out.toArray(), ATOL, RTOL);
        Tensor da = Tensor.zeros(4, 6), db = Tensor.zeros(4, 6);
        Residual.backward(FX.tensor("residual.dy"), da, db);
        assertClose("residual da", FX.doubles("residual.da"), da.toArray(), 0, 0);
        assertClose("residual db", FX.doubles("residual.db"), db.toArray(), 0, 0);
    }

    @Test
    void adamWMatchesTorchStepForStep() {
        ParamArena p = new ParamArena.Layout().add("m", true, 3, 4).add("v", false, 5).allocate();
        ParamArena g = p.zerosLike();
        p.get("m").copyFrom(FX.tensor("adamw.p_matrix0").reshape(3, 4));
        p.get("v").copyFrom(FX.tensor("adamw.p_vector0"));
        AdamW opt = new AdamW(new AdamW.Config(0.9f, 0.95f, 1e-8f, 0.1f), p);
        for (int step = 0; step < 3; step++) {
            g.get("m").copyFrom(FX.tensor("adamw.g_matrix" + step).reshape(3, 4));
            g.get("v").copyFrom(FX.tensor("adamw.g_vector" + step));
            opt.update(p, g, 0.01f);
            assertClose("adamw matrix step " + (step + 1), FX.doubles("adamw.p_matrix" + (step + 1)),
                    p.get("m").toArray(), 1e-6, 1e-6);
            assertClose("adamw vector step " + (step + 1), FX.doubles("adamw.p_vector" + (step + 1)),
                    p.get("v").toArray(), 1e-6, 1e-6);
        }
        assertEquals(3, opt.step());
    }

    @Test
    void globalNormClippingMatchesTorch() {
        ParamArena g = new ParamArena.Layout().add("m", true, 3, 4).add("v", false, 5).allocate();
        g.get("m").copyFrom(FX.tensor("clip.g_matrix").reshape(3, 4));
        g.get("v").copyFrom(FX.tensor("clip.g_vector"));
        double norm = GradClip.clip(g, 1.0);
        assertEquals(FX.doubles("clip.norm")[0], norm, 1e-5);
        assertClose("clipped matrix", FX.doubles("clip.clipped_matrix"), g.get("m").toArray(), 1e-6, 1e-6);
        assertClose("clipped vector", FX.doubles("clip.clipped_vector"), g.get("v").toArray(), 1e-6, 1e-6);
        assertEquals(1.0, GradClip.globalNorm(g), 1e-5);
    }
}
