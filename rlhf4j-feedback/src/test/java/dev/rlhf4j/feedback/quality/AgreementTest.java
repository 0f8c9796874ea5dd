package dev.rlhf4j.feedback.quality;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

class AgreementTest {
    /** {@code n} copies of the pair (a, b) appended to the two raters' lists. */
    private static void add(List<String> first, List<String> second, int n, String a, String b) {
        for (int i = 0; i < n; i++) {
            first.add(a);
            second.add(b);
        }
    }

    @Test
    void kappaOfTheTextbookTwoByTwoTable() {
        // The 2x2 table of Wikipedia's "Cohen's kappa" article, 50 proposals read by two raters:
        //              B yes  B no
        //      A yes     20      5      (A: 25 yes, 25 no)
        //      A no      10     15      (B: 30 yes, 20 no)
        // p_o = (20 + 15) / 50 = 0.7
        // p_e = P(A yes)·P(B yes) + P(A no)·P(B no) = 0.5·0.6 + 0.5·0.4 = 0.30 + 0.20 = 0.5
        // κ = (p_o − p_e) / (1 − p_e) = (0.7 − 0.5) / 0.5 = 0.4
        List<String> a = new ArrayList<>();
        List<String> b = new ArrayList<>();
        add(a, b, 20, "yes", "yes");
        add(a, b, 5, "yes", "no");
        add(a, b, 10, "no", "yes");
        add(a, b, 15, "no", "no");
        assertEquals(0.7, Agreement.percentAgreement(a, b), 1e-12);
        assertEquals(0.4, Agreement.cohensKappa(a, b), 1e-12);
    }

    @Test
    void kappaOfFourCategoriesAgainstAHandComputation() {
        // 10 items, categories f(irst better), s(econd better), t(ie), b(oth bad):
        // pairs: (f,f)x4 (s,s)x2 (f,s)x1 (t,t)x1 (b,t)x1 (s,f)x1 → p_o = 7/10
        // A: f 5, s 3, t 1, b 1;  B: f 5, s 3, t 2, b 0
        // p_e = (5·5 + 3·3 + 1·2 + 1·0) / 100 = 36/100 = 0.36
        // κ = (0.7 − 0.36) / 0.64 = 0.34 / 0.64 = 0.53125
        List<String> a = new ArrayList<>();
        List<String> b = new ArrayList<>();
        add(a, b, 4, "f", "f");
        add(a, b, 2, "s", "s");
        add(a, b, 1, "f", "s");
        add(a, b, 1, "t", "t");
        add(a, b, 1, "b", "t");
        add(a, b, 1, "s", "f");
        assertEquals(0.53125, Agreement.cohensKappa(a, b), 1e-12);
    }

    @Test
    void kappaIsOneForIdenticalLabelsAndUndefinedWhenChanceAgreementIsCertain() {
        assertEquals(1.0, Agreement.cohensKappa(List.of("a", "b", "a", "c"), List.of("a", "b", "a", "c")), 1e-12);
        // both raters always "a": p_e = 1, κ = 0/0
        assertNull(Agreement.cohensKappa(List.of("a", "a", "a"), List.of("a", "a", "a")));
        assertEquals(1.0, Agreement.percentAgreement(List.of("a", "a", "a"), List.of("a", "a", "a")), 1e-12);
        assertNull(Agreement.cohensKappa(List.of(), List.of()));
        assertNull(Agreement.percentAgreement(List.of(), List.of()));
        // complete disagreement on two balanced categories: p_o = 0, p_e = 0.5, κ = −1
        assertEquals(-1.0, Agreement.cohensKappa(List.of("a", "b"), List.of("b", "a")), 1e-12);
    }

    @Test
    void kendallTauOfIdenticalReversedAndOneSwap() {
        List<Integer> ranking = List.of(3, 1, 4, 2);
        assertEquals(1.0, Agreement.kendallTau(ranking, ranking), 1e-12);
        assertEquals(-1.0, Agreement.kendallTau(ranking, List.of(2, 4, 1, 3)), 1e-12);
        // one adjacent swap of n = 4: 1 discordant pair of n(n−1)/2 = 6, τ = (5 − 1) / 6 = 1 − 4/(n(n−1)) = 2/3
        assertEquals(2.0 / 3, Agreement.kendallTau(ranking, List.of(3, 4, 1, 2)), 1e-12);
        // n = 2 swapped: τ = −1; n = 3 with the best moved last: pairs (3,1) (3,4) discordant, (1,4) kept: −1/3
        assertEquals(-1.0, Agreement.kendallTau(List.of(1, 2), List.of(2, 1)), 1e-12);
        assertEquals(-1.0 / 3, Agreement.kendallTau(List.of(3, 1, 4), List.of(1, 4, 3)), 1e-12);
    }

    @Test
    void kendallTauRefusesRankingsOfDifferentThings() {
        assertThrows(IllegalArgumentException.class, () -> Agreement.kendallTau(List.of(1, 2), List.of(1, 3)));
        assertThrows(IllegalArgumentException.class, () -> Agreement.kendallTau(List.of(1, 1), List.of(1, 2)));
        assertThrows(IllegalArgumentException.class, () -> Agreement.kendallTau(List.of(1), List.of(1)));
    }
}
