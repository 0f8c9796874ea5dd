package dev.rlhf4j.model.io;

import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.TokenBatch;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.Fixtures;
import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Rope;

import java.util.Arrays;
import java.util.stream.IntStream;

import static dev.rlhf4j.tensor.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Shared helpers of the checkpoint tests: random models, logits, bit-exact comparison, the PyTorch references. */
final class TestModels {
    private TestModels() {
    }

    /** PyTorch logits of the shared models ({@code tools/checkpoints/make_reference_logits.py}). */
    static final String REFERENCE = "fixtures/checkpoint_logits.json";

    static ModelConfig llama(int kvHeads, boolean tied, boolean qkvBias, Rope.Style style) {
        return ModelConfig.llama(37, 24, 2, 4, kvHeads, 40, 16, 1e-5f, 10000.0, style, tied, qkvBias);
    }

    /** A model with every parameter random (norm weights and biases too, so a misplaced one shows). */
    static Transformer random(ModelConfig c, OutputHeads heads, long seed) {
        Transformer m = new Transformer(c, heads);
        Rng rng = new Rng(seed);
        for (ParamArena.Entry e : m.params().entries()) {
            rng.fillNormal(m.params().get(e.name()), 0.5);
        }
        return m;
    }

    static int[] tokens(int n, int vocab, long seed) {
        Rng rng = new Rng(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = rng.nextInt(vocab);
        }
        return t;
    }

    /** Logits {@code [tokens.length, vocab]} of one unpadded sequence. */
    static float[] logits(Transformer m, int[] tokens) {
        m.forward(TokenBatch.of(tokens, 1, tokens.length));
        return m.logits().toArray();
    }

    static void assertSameParameters(Transformer expected, Transformer actual) {
        assertEquals(expected.config(), actual.config());
        assertEquals(expected.heads(), actual.heads());
        for (ParamArena.Entry e : expected.params().entries()) {
            float[] a = expected.params().get(e.name()).toArray(), b = actual.params().get(e.name()).toArray();
            for (int i = 0; i < a.length; i++) {
                if (Float.floatToRawIntBits(a[i]) != Float.floatToRawIntBits(b[i])) {
                    throw new AssertionError(e.name() + "[" + i + "]: expected " + a[i] + " but got " + b[i]);
                }
            }
        }
    }

    /** Compares the model's logits on the fixture's tokens with PyTorch's, at the sampled vocabulary ids if any. */
    static void assertMatchesPyTorch(String model, Transformer m, double tolerance) {
        Fixtures fx = Fixtures.load(REFERENCE);
        int[] tokens = fx.ints(model + ".tokens");
        float[] all = logits(m, tokens);
        int vocab = m.config().vocabSize();
        int[] ids = fx.has(model + ".vocab_ids") ? fx.ints(model + ".vocab_ids")
                : IntStream.range(0, vocab).toArray();
        float[] picked = new float[tokens.length * ids.length];
        for (int t = 0; t < tokens.length; t++) {
            for (int j = 0; j < ids.length; j++) {
                picked[t * ids.length + j] = all[t * vocab + ids[j]];
            }
        }
        assertArrayEquals(fx.shape(model + ".logits"), new int[] {tokens.length, ids.length});
        assertClose(model + " logits vs PyTorch", fx.doubles(model + ".logits"), picked, tolerance, tolerance);
        assertTrue(Arrays.stream(fx.doubles(model + ".logits")).anyMatch(v -> Math.abs(v) > 10 * tolerance),
                "reference logits too small to test anything at tolerance " + tolerance);
    }
}
