package dev.rlhf4j.train.ppo;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** PPO's arithmetic against values worked out by hand (tolerance 1e-12 unless stated). */
class PpoMathTest {
    private static final double EPS = 1e-12;

    @Test
    void klEstimators() {
        // r = ref − logp = −0.5: k1 = 0.5, k3 = e^−0.5 − 1 + 0.5
        assertEquals(0.5, PpoMath.KlEstimator.K1.of(-1.0, -1.5), EPS);
        assertEquals(Math.exp(-0.5) - 0.5, PpoMath.KlEstimator.K3.of(-1.0, -1.5), EPS);
        // k1 can be negative per token, k3 never is; both vanish when the models agree
        assertEquals(-0.25, PpoMath.KlEstimator.K1.of(-2.0, -1.75), EPS);
        assertTrue(PpoMath.KlEstimator.K3.of(-2.0, -1.75) > 0);
        assertEquals(0, PpoMath.KlEstimator.K3.of(-0.3, -0.3), EPS);
        assertEquals(PpoMath.KlEstimator.K3, PpoMath.KlEstimator.parse("K3"));
        assertThrows(IllegalArgumentException.class, () -> PpoMath.KlEstimator.parse("k2"));
    }

    @Test
    void rewardsPutTheScoreOnTheLastTokenAfterTheKlPenalty() {
        double[][] kl = {new double[2], new double[1]};
        double[][] r = PpoMath.rewards(new double[][] {{-1, -2}, {-0.5}}, new double[][] {{-1.5, -2}, {-0.25}},
                new double[] {3, -1}, 0.1, PpoMath.KlEstimator.K1, kl);
        assertArrayEquals(new double[] {0.5, 0}, kl[0], EPS);
        assertArrayEquals(new double[] {-0.25}, kl[1], EPS);
        assertArrayEquals(new double[] {-0.05, 3}, r[0], EPS);
        assertArrayEquals(new double[] {0.025 - 1}, r[1], EPS);
    }

    @Test
    void generalisedAdvantageEstimation() {
        // γ = 1, λ = 0.5: δ2 = 3 − 1.5 = 1.5; δ1 = 2 + 1.5 − 1 = 2.5, A1 = 2.5 + 0.75 = 3.25;
        // δ0 = 1 + 1 − 0.5 = 1.5, A0 = 1.5 + 0.5·3.25 = 3.125
        double[][] ret = {new double[3], new double[2]};
        double[][] a = PpoMath.gae(new double[][] {{1, 2, 3}, {0, 1}}, new double[][] {{0.5, 1, 1.5}, {0.2, 0.4}},
                1.0, 0.5, ret);
        assertArrayEquals(new double[] {3.125, 3.25, 1.5}, a[0], EPS);
        assertArrayEquals(new double[] {3.625, 4.25, 3.0}, ret[0], EPS);
        // γ = 1, λ = 0.5 on the second: δ1 = 0.6, δ0 = 0 + 0.4 − 0.2 = 0.2, A0 = 0.2 + 0.3 = 0.5
        assertArrayEquals(new double[] {0.5, 0.6}, a[1], EPS);
        // γ = 0.9, λ = 0.8: δ1 = 0.6, δ0 = 0.9·0.4 − 0.2 = 0.16, A0 = 0.16 + 0.72·0.6 = 0.592
        double[][] ret2 = {new double[2]};
        double[][] b = PpoMath.gae(new double[][] {{0, 1}}, new double[][] {{0.2, 0.4}}, 0.9, 0.8, ret2);
        assertArrayEquals(new double[] {0.592, 0.6}, b[0], EPS);
        assertArrayEquals(new double[] {0.792, 1.0}, ret2[0], EPS);
    }

    @Test
    void whiteningUsesTheUnbiasedVarianceOverTheWholeRaggedBatch() {
        // mean 2, unbiased variance (1 + 0 + 1)/2 = 1
        double s = 1 / Math.sqrt(1 + 1e-8);
        double[][] x = {{1, 2}, {3}};
        PpoMath.whiten(x, true);
        assertArrayEquals(new double[] {-s, 0}, x[0], EPS);
        assertArrayEquals(new double[] {s}, x[1], EPS);
        double[][] y = {{1, 2}, {3}};
        PpoMath.whiten(y, false);
        assertArrayEquals(new double[] {2 - s, 2}, y[0], EPS);
        assertArrayEquals(new double[] {2 + s}, y[1], EPS);
    }

    @Test
    void clippedSurrogate() {
        double up = Math.log(1.5), down = Math.log(0.5);
        // A > 0, ratio 1.5 beyond 1 + ε: the clipped term −2·1.2 = −2.4 wins over −3: no gradient
        PpoMath.PolicyTerm t = PpoMath.policyTerm(up, 0, 2, 0.2);
        assertEquals(-2.4, t.loss(), 1e-12);
        assertEquals(0, t.grad(), EPS);
        assertTrue(t.clipped());
        assertEquals(1.5, t.ratio(), 1e-12);
        // A < 0, ratio 1.5: −A·ρ = 3 beats 2.4, gradient −A·ρ = 3
        t = PpoMath.policyTerm(up, 0, -2, 0.2);
        assertEquals(3, t.loss(), 1e-12);
        assertEquals(3, t.grad(), 1e-12);
        assertFalse(t.clipped());
        // A > 0, ratio 0.5 below 1 − ε: unclipped −1 beats −1.6
        t = PpoMath.policyTerm(down, 0, 2, 0.2);
        assertEquals(-1, t.loss(), 1e-12);
        assertEquals(-1, t.grad(), 1e-12);
        // A < 0, ratio 0.5: the clipped 2·0.8 = 1.6 beats 1: no gradient
        t = PpoMath.policyTerm(down, 0, -2, 0.2);
        assertEquals(1.6, t.loss(), 1e-12);
        assertEquals(0, t.grad(), EPS);
        assertTrue(t.clipped());
        // inside the clip range both terms agree and the gradient is −A·ρ
        t = PpoMath.policyTerm(Math.log(1.1), 0, 1, 0.2);
        assertEquals(-1.1, t.loss(), 1e-12);
        assertEquals(-1.1, t.grad(), 1e-12);
        assertFalse(t.clipped());
    }

    @Test
    void clippedSurrogateGradientMatchesCentralDifferences() {
        double h = 1e-6;
        for (double lp : new double[] {-0.7, -0.12, 0.05, 0.15, 0.4}) {
            for (double a : new double[] {-1.3, 0.8}) {
                double num = (PpoMath.policyTerm(lp + h, 0, a, 0.2).loss()
                        - PpoMath.policyTerm(lp - h, 0, a, 0.2).loss()) / (2 * h);
                assertEquals(num, PpoMath.policyTerm(lp, 0, a, 0.2).grad(), 1e-6, "logp " + lp + ", A " + a);
                double v = lp, num2 = (PpoMath.valueTerm(v + h, 0.1, a, 0.2).loss()
                        - PpoMath.valueTerm(v - h, 0.1, a, 0.2).loss()) / (2 * h);
                assertEquals(num2, PpoMath.valueTerm(v, 0.1, a, 0.2).grad(), 1e-6, "v " + v + ", R " + a);
            }
        }
    }

    @Test
    void clippedValueLoss() {
        // v = 1, old 0.5, R = 2: v_clip = 0.7, (0.7 − 2)² = 1.69 > 1: clipped wins, loss 0.845, no gradient
        PpoMath.ValueTerm t = PpoMath.valueTerm(1.0, 0.5, 2.0, 0.2);
        assertEquals(0.845, t.loss(), 1e-12);
        assertEquals(0, t.grad(), EPS);
        assertTrue(t.clipped());
        // v = 0.2, old 0.5, R = 1: v_clip = 0.3, 0.64 > 0.49: unclipped, loss 0.32, gradient v − R = −0.8
        t = PpoMath.valueTerm(0.2, 0.5, 1.0, 0.2);
        assertEquals(0.32, t.loss(), 1e-12);
        assertEquals(-0.8, t.grad(), 1e-12);
        assertFalse(t.clipped());
        // inside the clip range: 0.5·(1 − 0)², gradient 1
        t = PpoMath.valueTerm(1.0, 0.9, 0.0, 0.2);
        assertEquals(0.5, t.loss(), 1e-12);
        assertEquals(1.0, t.grad(), 1e-12);
    }

    @Test
    void adaptiveKlController() {
        // Ziegler et al.: e = clip(KL/target − 1, ±0.2), β ← β(1 + e·n/horizon)
        PpoMath.KlController c = new PpoMath.KlController(0.1, 6, 10000);
        c.update(9, 100); // e = 0.5 → 0.2
        assertEquals(0.1 * 1.002, c.value(), 1e-15);
        c.update(6.6, 100); // e = 0.1
        assertEquals(0.1 * 1.002 * 1.001, c.value(), 1e-15);
        c.update(3, 100); // e = −0.5 → −0.2
        assertEquals(0.1 * 1.002 * 1.001 * 0.998, c.value(), 1e-15);
        PpoMath.KlController fixed = new PpoMath.KlController(0.05, 0, 0);
        fixed.update(100, 64);
        assertEquals(0.05, fixed.value(), 0);
        assertFalse(fixed.adaptive());
        assertThrows(IllegalArgumentException.class, () -> new PpoMath.KlController(-1, 0, 0));
    }

    @Test
    void explainedVariance() {
        assertEquals(1, PpoMath.explainedVariance(new double[][] {{1, 2}, {3}}, new double[][] {{1, 2}, {3}}), EPS);
        // values all 0: Var(R − V) = Var(R)
        assertEquals(0, PpoMath.explainedVariance(new double[][] {{0, 0}, {0}}, new double[][] {{1, 2}, {3}}), EPS);
        // V = R − 1 everywhere: the residual is constant, all variance explained
        assertEquals(1, PpoMath.explainedVariance(new double[][] {{0, 1}, {2}}, new double[][] {{1, 2}, {3}}), EPS);
        assertTrue(Double.isNaN(PpoMath.explainedVariance(new double[][] {{0, 0}}, new double[][] {{1, 1}})));
    }
}
