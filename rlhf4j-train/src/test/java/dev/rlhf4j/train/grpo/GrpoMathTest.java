package dev.rlhf4j.train.grpo;

import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.UserError;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GrpoMathTest {

    @Test
    void grpoAdvantagesAreStandardisedWithinEachGroup() {
        // group of 4: mean 3, unbiased std sqrt(14/3) = 2.1602469
        assertArrayEquals(new double[] {-0.9257772446135025, -0.46288862230675126, 0.0, 1.3886658669202538},
                GrpoMath.groupAdvantages(new double[] {1, 2, 3, 6}, 4, GrpoMath.Advantage.GRPO), 1e-12);
        // two groups of 2: (1, 3) has std sqrt(2); (5, 5) has std 0 and so advantage 0 (the 1e-4 keeps it finite)
        double a = 0.7070567847218314; // 1/(sqrt(2) + 1e-4)
        assertArrayEquals(new double[] {-a, a, 0, 0},
                GrpoMath.groupAdvantages(new double[] {1, 3, 5, 5}, 2, GrpoMath.Advantage.GRPO), 1e-12);
    }

    @Test
    void rlooSubtractsTheMeanOfTheOtherSamples() {
        // 1 − (2+3+6)/3, 2 − (1+3+6)/3, 3 − (1+2+6)/3, 6 − (1+2+3)/3
        assertArrayEquals(new double[] {-8.0 / 3, -4.0 / 3, 0, 4},
                GrpoMath.groupAdvantages(new double[] {1, 2, 3, 6}, 4, GrpoMath.Advantage.RLOO), 1e-12);
        assertArrayEquals(new double[] {-1, 1, 2, -2},
                GrpoMath.groupAdvantages(new double[] {0, 1, 4, 2}, 2, GrpoMath.Advantage.RLOO), 1e-12);
    }

    @Test
    void reinforcePlusPlusWhitensReturnsToGoOverTheWholeBatch() {
        // β = 0.5: rewards [−0.05, −0.1 + 1] and [−0.15 − 1]; returns-to-go [0.85, 0.9] and [−1.15], whitened over
        // the three tokens together (mean 0.2, unbiased std 1.1694016)
        double[][] adv = GrpoMath.reinforcePlusPlus(new double[][] {{0.1, 0.2}, {0.3}}, new double[] {1, -1}, 0.5);
        assertArrayEquals(new double[] {0.5558398602193955, 0.5985967725439644}, adv[0], 1e-9);
        assertArrayEquals(new double[] {-1.1544366327633597}, adv[1], 1e-9);
    }

    @Test
    void theTokenTermIsTheClippedSurrogatePlusBetaK3() {
        // ρ = e^0.1 inside the clip: loss −2ρ + 0.1·(e^0.1 − 1 − 0.1), gradient −2ρ + 0.1·(1 − e^0.1)
        GrpoMath.Term t = GrpoMath.term(-1, -1.1, -0.9, 2, 0.2, 0.1);
        assertEquals(-2.2098247443437304, t.loss(), 1e-12);
        assertEquals(-2.22085892795886, t.grad(), 1e-12);
        assertEquals(Math.exp(0.1) - 1.1, t.kl(), 1e-12);
        assertFalse(t.clippedLow() || t.clippedHigh());
        // ρ = e^0.5 > 1.2 with a positive advantage: the clipped term wins, no surrogate gradient; only the KL's
        GrpoMath.Term c = GrpoMath.term(-0.5, -1, -0.5, 1, 0.2, 0.1);
        assertEquals(-1.2, c.loss(), 1e-12);
        assertEquals(0, c.grad(), 1e-12);
        assertTrue(c.clippedHigh());
        // ρ = e^−0.5 < 0.8 with a negative advantage: clipped below
        assertTrue(GrpoMath.term(-1.5, -1, -1, -1, 0.2, 0).clippedLow());
    }

    @Test
    void lossTypesWeighTokensAsTrlDoes() {
        int[] lengths = {2, 4};
        assertEquals(0.25, GrpoMath.tokenWeight(GrpoMath.LossType.GRPO, lengths, 0, 8), 1e-15);
        assertEquals(0.125, GrpoMath.tokenWeight(GrpoMath.LossType.GRPO, lengths, 1, 8), 1e-15);
        assertEquals(1.0 / 6, GrpoMath.tokenWeight(GrpoMath.LossType.BNPO, lengths, 0, 8), 1e-15);
        assertEquals(1.0 / 6, GrpoMath.tokenWeight(GrpoMath.LossType.BNPO, lengths, 1, 8), 1e-15);
        assertEquals(1.0 / 16, GrpoMath.tokenWeight(GrpoMath.LossType.DR_GRPO, lengths, 1, 8), 1e-15);
    }

    /**
     * The step's loss as a function of every log-probability, against central differences in double precision.
     * Log ratios are drawn away from the clip's kinks (|log ρ| < 0.1 or > 0.3, ε = 0.2) so that no ±h step crosses
     * one. With h = 1e-5 the difference quotient's error is rounding ≈ u·|L|/h ≈ 1e-16·10/1e-5 = 1e-10 plus
     * truncation ≈ h²·|L'''|/6 ≈ 1e-10·e^0.4: a tolerance of 1e-8 leaves two orders of magnitude.
     */
    @Test
    void theLossGradientMatchesCentralDifferences() {
        Rng rng = new Rng(11);
        int[] lengths = {3, 1, 5, 2};
        double[][] lp = new double[4][], old = new double[4][], ref = new double[4][], adv = new double[4][];
        for (int i = 0; i < 4; i++) {
            int n = lengths[i];
            lp[i] = new double[n];
            old[i] = new double[n];
            ref[i] = new double[n];
            adv[i] = new double[n];
            for (int t = 0; t < n; t++) {
                lp[i][t] = -0.2 - 3 * rng.nextDouble();
                double logRatio = (t + i) % 3 == 0 ? 0.08 * (2 * rng.nextDouble() - 1)
                        : (rng.nextDouble() < 0.5 ? -1 : 1) * (0.3 + 0.3 * rng.nextDouble());
                old[i][t] = lp[i][t] - logRatio;
                ref[i][t] = lp[i][t] + (2 * rng.nextDouble() - 1);
                adv[i][t] = 2 * rng.nextDouble() - 1;
            }
        }
        for (GrpoMath.LossType type : GrpoMath.LossType.values()) {
            for (double beta : new double[] {0, 0.04, 0.5}) {
                double[][] grad = new double[4][];
                for (int i = 0; i < 4; i++) {
                    grad[i] = new double[lengths[i]];
                }
                GrpoMath.loss(lp, old, ref, adv, 0.2, beta, type, 6, grad);
                double h = 1e-5;
                for (int i = 0; i < 4; i++) {
                    for (int t = 0; t < lengths[i]; t++) {
                        double keep = lp[i][t];
                        double[][] scratch = new double[4][];
                        for (int j = 0; j < 4; j++) {
                            scratch[j] = new double[lengths[j]];
                        }
                        lp[i][t] = keep + h;
                        double up = GrpoMath.loss(lp, old, ref, adv, 0.2, beta, type, 6, scratch);
                        lp[i][t] = keep - h;
                        double down = GrpoMath.loss(lp, old, ref, adv, 0.2, beta, type, 6, scratch);
                        lp[i][t] = keep;
                        assertEquals((up - down) / (2 * h), grad[i][t], 1e-8,
                                type + " β=" + beta + " row " + i + " token " + t);
                    }
                }
            }
        }
    }

    @Test
    void groupEstimatorsNeedGroupsThatDivideTheBatch() {
        assertThrows(IllegalArgumentException.class,
                () -> GrpoMath.groupAdvantages(new double[] {1, 2, 3}, 2, GrpoMath.Advantage.GRPO));
        assertThrows(IllegalArgumentException.class,
                () -> GrpoMath.groupAdvantages(new double[] {1, 2}, 1, GrpoMath.Advantage.RLOO));
        assertEquals(GrpoMath.Advantage.REINFORCE_PP, GrpoMath.Advantage.parse("reinforce++"));
        assertThrows(UserError.class, () -> GrpoMath.Advantage.parse("ppo"));
    }
}
