package dev.rlhf4j.tensor;

import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * bfloat16 and Q8_0 weight matrices against a float64 reference computed from the values they hold (the
 * bfloat16-rounded or dequantised weights), and bfloat16 against the unrounded float32 weights.
 *
 * <p>Tolerances. Every kernel computes each output as float32 products and sums in some order (vector lanes, FMA,
 * Q8_0's per-block partial sums scaled by the block's d, BLAS's blocking); along any product's path there are at most
 * k + 1 roundings for a dot product of length k plus the bias, so |computed − exact| ≤ γ·(Σ_p |x_p·w_p| + |b|) with
 * γ = (k + 2)·u/(1 − (k + 2)·u), u = 2⁻²⁴ (Higham, Accuracy and Stability of Numerical Algorithms, §3.1). Against
 * the unrounded weights a bfloat16 weight differs by at most 2⁻⁸ relative (8 significant bits, round to nearest),
 * which adds 2⁻⁸·Σ|x_p·w_p|. The sizes cover n = 1, 4, 8 (streaming kernel), 9 and 64 (widened tiles and GEMM), row
 * lengths that are not a multiple of any vector width, and matrices split over several tiles and row blocks.
 */
class WeightMatrixTest {
    private static final double U = 0x1p-24;
    private static final int[] NS = {1, 2, 3, 4, 5, 8, 9, 64};
    /** [out, in]: tiny, odd lengths, one big enough to run in parallel, one split over several GEMM tiles. */
    private static final int[][] BF16_SHAPES = {{1, 1}, {7, 77}, {131, 33}, {300, 261}, {200, 3000}};
    private static final int[][] Q8_SHAPES = {{1, 32}, {7, 96}, {131, 160}, {300, 288}, {200, 3008}};

    private static Tensor random(Rng rng, float scale, int... shape) {
        Tensor t = Tensor.zeros(shape);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) {
            d[i] = (float) (scale * (2 * rng.nextDouble() - 1));
        }
        return t;
    }

    /** A view at a nonzero offset into a larger array, as the model's activations are. */
    private static Tensor offsetView(Tensor t, int pad) {
        float[] big = new float[t.size() + 2 * pad];
        System.arraycopy(t.data(), t.offset(), big, pad, t.size());
        return Tensor.view(big, pad, t.shape());
    }

    /**
     * Checks {@code y} against x·wᵀ + b in float64: |y − exact| ≤ γ_{k+2}·(Σ|x·w| + |b|) + rel·Σ|x·w|, where
     * {@code w} holds the values the reference multiplies by.
     */
    private static void assertForward(String what, Tensor x, float[] w, Tensor b, Tensor y, double rel) {
        int n = x.rows(), k = x.cols(), out = y.cols();
        double gamma = (k + 2) * U / (1 - (k + 2) * U);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < out; j++) {
                double s = 0, mag = 0;
                for (int p = 0; p < k; p++) {
                    double t = (double) x.data()[x.offset() + i * k + p] * w[j * k + p];
                    s += t;
                    mag += Math.abs(t);
                }
                double bias = b == null ? 0 : b.data()[b.offset() + j];
                double bound = gamma * (1 + rel) * (mag + Math.abs(bias)) + rel * mag;
                double got = y.data()[y.offset() + i * out + j];
                if (!(Math.abs(got - (s + bias)) <= bound)) {
                    fail(what + ": y[" + i + ", " + j + "] = " + got + ", expected " + (s + bias) + " within " + bound);
                }
            }
        }
    }

    private static float[] roundedToBf16(Tensor w) {
        float[] r = w.toArray();
        for (int i = 0; i < r.length; i++) {
            r[i] = Bf16Matrix.fromBf16(Bf16Matrix.toBf16(r[i]));
        }
        return r;
    }

    @Test
    void bf16ForwardMatchesFloat64OnRoundedWeightsAndUnroundedWithinBf16Bound() {
        Rng rng = new Rng(11);
        for (int[] shape : BF16_SHAPES) {
            int out = shape[0], in = shape[1];
            Tensor w = random(rng, 0.5f, out, in);
            Bf16Matrix m = Bf16Matrix.of(w);
            float[] rounded = roundedToBf16(w);
            Tensor b = random(rng, 1f, out);
            for (int n : NS) {
                Tensor x = offsetView(random(rng, 2f, n, in), 5);
                Tensor y = offsetView(Tensor.zeros(n, out), 3);
                String what = "bf16 [" + out + ", " + in + "] n=" + n;
                m.forward(x, b, y);
                assertForward(what + " (rounded)", x, rounded, b, y, 0);
                assertForward(what + " (fp32 weights)", x, w.toArray(), b, y, 0x1p-8);
                m.forward(x, null, y);
                assertForward(what + " no bias", x, rounded, null, y, 0);
                // more rows than the streaming kernel takes: W widened whole (above) or in tiles (here)
                m.forward(x, b, y, 0);
                assertForward(what + " (tiles)", x, rounded, b, y, 0);
            }
        }
    }

    @Test
    void q8ForwardMatchesFloat64OnDequantisedWeights() {
        Rng rng = new Rng(12);
        for (int[] shape : Q8_SHAPES) {
            int out = shape[0], in = shape[1];
            Q8Matrix m = Q8Matrix.quantize(random(rng, 0.5f, out, in));
            float[] deq = m.toF32().data();
            Tensor b = random(rng, 1f, out);
            for (int n : NS) {
                Tensor x = offsetView(random(rng, 2f, n, in), 7);
                Tensor y = Tensor.zeros(n, out);
                m.forward(x, b, y);
                assertForward("q8_0 [" + out + ", " + in + "] n=" + n, x, deq, b, y, 0);
                m.forward(x, b, y, 0);
                assertForward("q8_0 [" + out + ", " + in + "] n=" + n + " (tiles)", x, deq, b, y, 0);
            }
        }
    }

    @Test
    void f32MatrixIsTheLinearLayer() {
        Rng rng = new Rng(13);
        Tensor w = random(rng, 0.5f, 131, 33), b = random(rng, 1f, 131);
        F32Matrix m = new F32Matrix(w);
        for (int n : NS) {
            Tensor x = random(rng, 2f, n, 33), y = Tensor.zeros(n, 131), expected = Tensor.zeros(n, 131);
            m.forward(x, b, y);
            Linear.forward(x, w, b, expected);
            assertArrayEquals(expected.data(), y.data());
            assertForward("f32 n=" + n, x, w.data(), b, y, 0);
        }
    }

    /** dx = dy·W against float64, overwritten and accumulated, for every storage type. */
    @Test
    void backwardInputMatchesFloat64() {
        Rng rng = new Rng(14);
        int[][] shapes = {{7, 96}, {131, 160}, {200, 3008}, {1500, 64}};
        for (int[] shape : shapes) {
            int out = shape[0], in = shape[1];
            Tensor w = random(rng, 0.5f, out, in);
            WeightMatrix[] kinds = {new F32Matrix(w), Bf16Matrix.of(w), Q8Matrix.quantize(w)};
            for (WeightMatrix m : kinds) {
                float[] held = m.toF32().data();
                for (int n : new int[] {1, 4, 9, 64}) {
                    Tensor dy = offsetView(random(rng, 1f, n, out), 2);
                    Tensor dx0 = random(rng, 1f, n, in);
                    Tensor dx = offsetView(dx0, 4);
                    m.backwardInput(dy, dx, true);
                    assertBackward(m + " n=" + n + " accumulate", dy, held, dx0, dx);
                    m.backwardInput(dy, dx, false);
                    assertBackward(m + " n=" + n, dy, held, null, dx);
                    if (!(m instanceof F32Matrix)) {
                        // strips of widened columns instead of W widened whole
                        Tensor dx1 = offsetView(dx0, 4);
                        m.backwardInput(dy, dx1, true, 0);
                        assertBackward(m + " n=" + n + " accumulate (strips)", dy, held, dx0, dx1);
                        m.backwardInput(dy, dx1, false, 0);
                        assertBackward(m + " n=" + n + " (strips)", dy, held, null, dx1);
                    }
                }
            }
        }
    }

    private static void assertBackward(String what, Tensor dy, float[] w, Tensor before, Tensor dx) {
        int n = dy.rows(), out = dy.cols(), in = dx.cols();
        double gamma = (out + 2) * U / (1 - (out + 2) * U);
        for (int i = 0; i < n; i++) {
            for (int p = 0; p < in; p++) {
                double s = 0, mag = 0;
                for (int j = 0; j < out; j++) {
                    double t = (double) dy.data()[dy.offset() + i * out + j] * w[j * in + p];
                    s += t;
                    mag += Math.abs(t);
                }
                double add = before == null ? 0 : before.data()[i * in + p];
                double got = dx.data()[dx.offset() + i * in + p];
                double bound = gamma * (mag + Math.abs(add));
                if (!(Math.abs(got - (s + add)) <= bound)) {
                    fail(what + ": dx[" + i + ", " + p + "] = " + got + ", expected " + (s + add) + " within " + bound);
                }
            }
        }
    }

    @Test
    void gatherRowsCopiesOrAddsTheHeldRows() {
        Rng rng = new Rng(15);
        Tensor w = random(rng, 1f, 50, 64);
        int[] ids = {3, 49, 0, 3, 17};
        for (WeightMatrix m : new WeightMatrix[] {new F32Matrix(w), Bf16Matrix.of(w), Q8Matrix.quantize(w)}) {
            float[] held = m.toF32().data();
            Tensor out = Tensor.zeros(ids.length, 64);
            m.gatherRows(ids, out, false);
            Tensor acc = Tensor.zeros(ids.length, 64);
            acc.fill(1f);
            m.gatherRows(ids, acc, true);
            for (int i = 0; i < ids.length; i++) {
                for (int c = 0; c < 64; c++) {
                    float v = held[ids[i] * 64 + c];
                    assertEquals(v, out.get(i, c), m + " row " + i);
                    assertEquals(1f + v, acc.get(i, c), m + " accumulated row " + i);
                }
            }
            assertThrows(IllegalArgumentException.class, () -> m.gatherRows(new int[] {50}, Tensor.zeros(1, 64),
                    false));
        }
    }

    @Test
    void bf16RoundsToNearestEven() {
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to the even mantissa, 1
        assertEquals(1f, Bf16Matrix.fromBf16(Bf16Matrix.toBf16(1f + 0x1p-8f)));
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even)
        assertEquals(1f + 0x1p-6f, Bf16Matrix.fromBf16(Bf16Matrix.toBf16(1f + 3 * 0x1p-8f)));
        assertEquals(1f + 0x1p-7f, Bf16Matrix.fromBf16(Bf16Matrix.toBf16(1f + 0x1p-8f + 0x1p-20f)));
        assertEquals(-2.5f, Bf16Matrix.fromBf16(Bf16Matrix.toBf16(-2.5f)));
        assertEquals(Float.POSITIVE_INFINITY, Bf16Matrix.fromBf16(Bf16Matrix.toBf16(Float.MAX_VALUE)));
        assertTrue(Float.isNaN(Bf16Matrix.fromBf16(Bf16Matrix.toBf16(Float.NaN))));
        Rng rng = new Rng(16);
        for (int i = 0; i < 10_000; i++) {
            float v = (float) ((rng.nextDouble() - 0.5) * Math.pow(2, rng.nextInt(40) - 20));
            float r = Bf16Matrix.fromBf16(Bf16Matrix.toBf16(v));
            assertTrue(Math.abs(r - v) <= 0x1p-8 * Math.abs(v), v + " rounded to " + r);
        }
    }

    @Test
    void q8QuantisationErrorAndGgufBlocksRoundTrip() {
        Rng rng = new Rng(17);
        Tensor w = random(rng, 3f, 9, 64);
        Q8Matrix m = Q8Matrix.quantize(w);
        float[] deq = m.toF32().data();
        for (int blk = 0; blk < 9 * 2; blk++) {
            double amax = 0;
            for (int i = 0; i < 32; i++) {
                amax = Math.max(amax, Math.abs(w.data()[blk * 32 + i]));
            }
            // |w − d·q| ≤ s/2 (rounding q with s = amax/127) + 127·|s − d| (d is s rounded to float16, 2⁻¹¹ relative)
            double s = amax / 127, bound = s / 2 + 127 * s * 0x1p-11 + 1e-7 * amax;
            for (int i = 0; i < 32; i++) {
                int at = blk * 32 + i;
                assertTrue(Math.abs(deq[at] - w.data()[at]) <= bound, "element " + at);
            }
        }
        byte[] blocks = m.toGgufBlocks();
        assertEquals(9 * 2 * 34, blocks.length);
        Q8Matrix back = Q8Matrix.fromGguf(MemorySegment.ofArray(blocks), 0, 9, 64);
        assertArrayEquals(deq, back.toF32().data());
        assertEquals(9 * 64 + 4 * 18, m.bytes());
        assertThrows(IllegalArgumentException.class, () -> Q8Matrix.quantize(Tensor.zeros(2, 33)));
    }

    /** The decomposition into tasks depends only on the shapes, so any thread count gives the same bits. */
    @Test
    void resultsDoNotDependOnTheThreadCount() {
        Rng rng = new Rng(18);
        Tensor w = random(rng, 0.5f, 300, 288);
        WeightMatrix[] kinds = {Bf16Matrix.of(w), Q8Matrix.quantize(w)};
        int before = Parallel.global().threads();
        try {
            for (WeightMatrix m : kinds) {
                for (int n : new int[] {1, 4, 9, 64}) {
                    Tensor x = random(rng, 1f, n, 288), dy = random(rng, 1f, n, 300);
                    float[][] results = new float[2][];
                    float[][] grads = new float[2][];
                    int[] threads = {1, before + 2};
                    for (int t = 0; t < 2; t++) {
                        Parallel.setGlobalThreads(threads[t]);
                        Tensor y = Tensor.zeros(n, 300), dx = Tensor.zeros(n, 288);
                        // the streaming kernel (n <= 8) and the widened tiles run over fixed blocks; W widened whole
                        // goes to the GEMM backend, whose splits are its own (as for a float32 matrix)
                        m.forward(x, null, y, 0);
                        m.backwardInput(dy, dx, false, 0);
                        results[t] = y.data();
                        grads[t] = dx.data();
                    }
                    assertArrayEquals(results[0], results[1], m + " forward n=" + n);
                    assertArrayEquals(grads[0], grads[1], m + " backward n=" + n);
                }
            }
        } finally {
            Parallel.setGlobalThreads(before);
        }
    }

    /**
     * Token log-probabilities through a packed head widen each vocabulary chunk and run the float32 code on it: the
     * same bits as a float32 head holding the packed values (KernelGradCheckTest checks the float32 head).
     */
    @Test
    void tokenLogProbsThroughAPackedHeadEqualAFloat32HeadOfItsValues() {
        Rng rng = new Rng(19);
        int n = 5, dim = 64, vocab = 300;
        Tensor h = random(rng, 1f, n, dim), w = random(rng, 0.5f, vocab, dim);
        int[] tokens = {0, 299, 17, 150, 3};
        float[] dlogp = {1f, -0.5f, 0.25f, 2f, -1f}, dent = {0.3f, 0f, -0.2f, 1f, 0.5f};
        for (WeightMatrix m : new WeightMatrix[] {Bf16Matrix.of(w), Q8Matrix.quantize(w)}) {
            Tensor held = m.toF32();
            float[][] logp = new float[2][n], ent = new float[2][n];
            TokenLogProbs.Saved s0 = TokenLogProbs.forward(h, m, tokens, 0.7f, logp[0], ent[0], 2, 128);
            TokenLogProbs.Saved s1 = TokenLogProbs.forward(h, held, tokens, 0.7f, logp[1], ent[1], 2, 128);
            assertArrayEquals(logp[1], logp[0], m.toString());
            assertArrayEquals(ent[1], ent[0], m.toString());
            Tensor dh0 = Tensor.zeros(n, dim), dh1 = Tensor.zeros(n, dim);
            TokenLogProbs.backward(h, m, tokens, 0.7f, s0, dlogp, dent, dh0, null, 2, 128);
            TokenLogProbs.backward(h, held, tokens, 0.7f, s1, dlogp, dent, dh1, null, 2, 128);
            assertArrayEquals(dh1.data(), dh0.data(), m.toString());
            assertThrows(IllegalArgumentException.class, () -> TokenLogProbs.backward(h, m, tokens, 0.7f, s0, dlogp,
                    dent, dh0, Tensor.zeros(vocab, dim)));
        }
    }

    @Test
    void shapeErrorsNameTheShapes() {
        Bf16Matrix m = Bf16Matrix.of(Tensor.zeros(4, 6));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> m.forward(Tensor.zeros(2, 5), null, Tensor.zeros(2, 4)));
        assertTrue(e.getMessage().contains("[2, 5]") && e.getMessage().contains("[4, 6]"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> m.forward(Tensor.zeros(2, 6), null, Tensor.zeros(3, 4)));
        assertThrows(IllegalArgumentException.class, () -> m.backwardInput(Tensor.zeros(2, 4), Tensor.zeros(2, 5),
                false));
        assertEquals(48, m.bytes());
        assertEquals("bf16[4, 6]", m.toString());
    }
}
