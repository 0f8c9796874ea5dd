package dev.rlhf4j.train.claims;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ClaimStatisticsTest {

    @Test
    void seedStatsUseTheSampleStandardDeviation() {
        // mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, over n − 1 = 3
        SeedStats s = SeedStats.of(new double[] {1, 2, 3, 4});
        assertEquals(4, s.n());
        assertEquals(2.5, s.mean(), 1e-12);
        assertEquals(Math.sqrt(5.0 / 3), s.std(), 1e-12);
        assertEquals(Math.sqrt(5.0 / 3) / 2, s.stderr(), 1e-12);
        assertEquals("2.50 ± 1.29", s.format(2));
    }

    @Test
    void oneSeedHasNoSpread() {
        SeedStats s = SeedStats.of(new double[] {0.7});
        assertEquals(0.7, s.mean(), 0);
        assertEquals(0, s.std(), 0);
        assertThrows(IllegalArgumentException.class, () -> SeedStats.of(new double[0]));
    }

    @Test
    void aDifferenceBeyondTwoStandardErrorsDecides() {
        // mean 0.4, std 0.1, standard error 0.0577: 0.4 > 0.115
        assertEquals(Verdict.SUPPORTED, Verdict.decide(new double[] {0.3, 0.5, 0.4}));
        assertEquals(Verdict.CONTRADICTED, Verdict.decide(new double[] {-0.3, -0.5, -0.4}));
        // mean 0.1, std 0.2, standard error 0.115: 0.1 < 0.231
        assertEquals(Verdict.INCONCLUSIVE, Verdict.decide(new double[] {0.1, -0.1, 0.3}));
    }

    @Test
    void theMarginIsStrict() {
        // {1, 3}: mean 2, std √2, standard error 1: 2 is not more than 2·1
        assertEquals(Verdict.INCONCLUSIVE, Verdict.decide(new double[] {1, 3}));
        // {1.1, 3}: mean 2.05, std 1.9/√2, standard error 0.95: 2.05 > 1.9
        assertEquals(Verdict.SUPPORTED, Verdict.decide(new double[] {1.1, 3}));
    }

    @Test
    void oneSeedOrAMissingValueIsInconclusive() {
        assertEquals(Verdict.INCONCLUSIVE, Verdict.decide(new double[] {5}));
        assertEquals(Verdict.INCONCLUSIVE, Verdict.decide(new double[] {0.3, Double.NaN, 0.4}));
        // equal differences have no spread: any non-zero mean decides
        assertEquals(Verdict.SUPPORTED, Verdict.decide(new double[] {0.01, 0.01}));
        assertEquals(Verdict.INCONCLUSIVE, Verdict.decide(new double[] {0, 0}));
    }

    @Test
    void aClaimIsSupportedWhenEveryTestIsAndContradictedWhenAnyIs() {
        assertEquals(Verdict.SUPPORTED, Verdict.combine(List.of(Verdict.SUPPORTED, Verdict.SUPPORTED)));
        assertEquals(Verdict.INCONCLUSIVE, Verdict.combine(List.of(Verdict.SUPPORTED, Verdict.INCONCLUSIVE)));
        assertEquals(Verdict.CONTRADICTED, Verdict.combine(List.of(Verdict.SUPPORTED, Verdict.CONTRADICTED,
                Verdict.INCONCLUSIVE)));
        assertEquals(Verdict.INCONCLUSIVE, Verdict.combine(List.of()));
        assertEquals("supported", Verdict.SUPPORTED.label());
    }

    @Test
    void perplexityIsTheExponentialOfTheMeanNegativeLogLikelihood() {
        assertEquals(4, Perplexity.of(3 * Math.log(4), 3), 1e-12);
        // −(ln ½ + ln ¼ + ln ½) = ln 16 over 3 tokens: 16^(1/3)
        assertEquals(Math.cbrt(16), Perplexity.of(-(Math.log(0.5) + Math.log(0.25) + Math.log(0.5)), 3), 1e-12);
        assertEquals(0.2, Perplexity.relativeIncrease(10, 12), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> Perplexity.of(1, 0));
    }

    @Test
    void trainingCurvesSmoothCausallyAndFindLevelsAndPeaks() {
        TrainingCurve c = new TrainingCurve(new int[] {1, 2, 3, 4}, new double[] {1, 3, 5, 7});
        TrainingCurve s = c.smoothed(2);
        assertArrayEquals(new double[] {1, 2, 4, 6}, s.values(), 1e-12);
        assertEquals(3, s.firstStepReaching(4));
        assertEquals(-1, s.firstStepReaching(6.5));
        assertEquals(6, s.last(), 0);
        assertEquals(1, new TrainingCurve(new int[] {1, 2, 3, 4}, new double[] {1, 5, 5, 2}).peakIndex());
        assertArrayEquals(new double[] {2, 0, 0.5}, TrainingCurve.sqrtKl(new double[] {4, -1, 0.25}), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> new TrainingCurve(new int[] {1}, new double[0]));
    }
}
