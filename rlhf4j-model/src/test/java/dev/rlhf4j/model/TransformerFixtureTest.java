package dev.rlhf4j.model;

import dev.rlhf4j.tensor.AdamW;
import dev.rlhf4j.tensor.CrossEntropy;
import dev.rlhf4j.tensor.Fixtures;
import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static dev.rlhf4j.tensor.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The whole model against PyTorch, as llm.c's test_gpt2 does: with the same weights and a batch holding both an
 * unpadded and a left-padded row, the logits, the loss and every parameter's gradient, then the losses of five AdamW
 * steps. Fixtures: {@code tools/fixtures/make_fixtures.py} (float64 reference, float32 here). Tolerances: logits
 * 2e-5 + 1e-4 relative, loss 1e-5, gradients 1e-5 + 1e-3 relative, AdamW losses 1e-4 relative.
 */
class TransformerFixtureTest {

    static ModelConfig configFor(String fixture, int[] c) {
        int vocab = c[0], dim = c[1], layers = c[2], heads = c[3], kvHeads = c[4], hidden = c[5], maxSeq = c[6];
        return switch (fixture) {
            case "gpt2_tiny" -> ModelConfig.gpt2(vocab, dim, layers, heads, maxSeq);
            case "llama_tiny_hf" -> ModelConfig.llama(vocab, dim, layers, heads, kvHeads, hidden, maxSeq, 1e-5f,
                    10000.0, Rope.Style.ROTATE_HALF, false, true);
            case "llama_tiny_interleaved" -> ModelConfig.llama(vocab, dim, layers, heads, kvHeads, hidden, maxSeq,
                    1e-6f, 500.0, Rope.Style.INTERLEAVED, true, false);
            default -> throw new IllegalArgumentException(fixture);
        };
    }

    static Transformer load(Fixtures fx, ModelConfig config) {
        Transformer m = new Transformer(config, OutputHeads.LM);
        for (ParamArena.Entry e : m.params().entries()) {
            m.params().get(e.name()).copyFrom(fx.tensor("param." + e.name()));
        }
        return m;
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2_tiny", "llama_tiny_hf", "llama_tiny_interleaved"})
    void logitsLossAndEveryGradientMatchPyTorch(String name) {
        Fixtures fx = Fixtures.load("fixtures/" + name + ".json");
        ModelConfig config = configFor(name, fx.ints("config"));
        Transformer m = load(fx, config);
        int[] tokens = fx.ints("tokens"), mask = fx.ints("mask"), targets = fx.ints("targets");
        TokenBatch batch = TokenBatch.of(tokens, mask, 2, 8);

        m.forward(batch);
        Tensor logits = m.logits();
        assertClose(name + " logits", fx.doubles("logits"), logits.toArray(), 2e-5, 1e-4);

        int count = 0;
        for (int t : targets) {
            count += t == CrossEntropy.IGNORE_INDEX ? 0 : 1;
        }
        m.zeroGrad();
        double loss = m.lmLoss(targets, null, 1f / count, true) / count;
        assertEquals(fx.doubles("loss")[0], loss, 1e-5, name + " loss");
        m.backward();
        for (ParamArena.Entry e : m.params().entries()) {
            assertClose(name + " grad " + e.name(), fx.doubles("grad." + e.name()), m.grads().get(e.name()).toArray(),
                    1e-5, 1e-3);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2_tiny", "llama_tiny_hf", "llama_tiny_interleaved"})
    void adamWStepsFollowPyTorchLosses(String name) {
        Fixtures fx = Fixtures.load("fixtures/" + name + ".json");
        ModelConfig config = configFor(name, fx.ints("config"));
        Transformer m = load(fx, config);
        int[] targets = fx.ints("targets");
        TokenBatch batch = TokenBatch.of(fx.ints("tokens"), fx.ints("mask"), 2, 8);
        int count = 0;
        for (int t : targets) {
            count += t == CrossEntropy.IGNORE_INDEX ? 0 : 1;
        }
        AdamW opt = new AdamW(new AdamW.Config(0.9f, 0.999f, 1e-8f, 0.1f), m.params());
        double[] expected = fx.doubles("adamw_losses");
        for (int step = 0; step < expected.length; step++) {
            m.zeroGrad();
            m.forward(batch);
            double loss = m.lmLoss(targets, null, 1f / count, true) / count;
            m.backward();
            opt.update(m.params(), m.grads(), 1e-2f);
            assertEquals(expected[step], loss, 1e-4 * Math.abs(expected[step]), name + " loss at step " + step);
        }
    }
}
