package dev.rlhf4j.train.dpo;

import dev.rlhf4j.tensor.UserError;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The DPO losses against values worked out by hand and their derivatives against central finite differences. */
class DpoLossTest {
    private static final double EPS = 1e-12;
    private static final double LN2 = Math.log(2);

    @Test
    void sigmoidMatchesHandValues() {
        DpoLoss dpo = new DpoLoss(DpoLossType.SIGMOID, 0.1, 0);
        // h = 0: −log σ(0) = ln 2; dL/dπc = −β σ(0) = −0.05
        DpoLoss.Term even = dpo.term(-3, -5, -3, -5);
        assertEquals(LN2, even.loss(), EPS);
        assertEquals(-0.05, even.dPolicyChosen(), EPS);
        assertEquals(0.05, even.dPolicyRejected(), EPS);
        // πc − ρc = 1, πr − ρr = −1: h = 2, βh = 0.2, loss = log(1 + e^−0.2); rewards ±β
        DpoLoss.Term term = dpo.term(-3, -5, -4, -4);
        assertEquals(Math.log(1 + Math.exp(-0.2)), term.loss(), EPS);
        assertEquals(0.598138869381, term.loss(), 1e-11);
        assertEquals(-0.1 / (1 + Math.exp(0.2)), term.dPolicyChosen(), EPS);
        assertEquals(0.1, term.rewardChosen(), EPS);
        assertEquals(-0.1, term.rewardRejected(), EPS);
    }

    @Test
    void labelSmoothingMatchesHandValues() {
        // cDPO at h = 0: (0.9 + 0.1)·ln 2; dL/dh = β(−0.9·½ + 0.1·½) = −0.04
        DpoLoss.Term cdpo = new DpoLoss(DpoLossType.SIGMOID, 0.1, 0.1).term(-2, -2, -1, -1);
        assertEquals(LN2, cdpo.loss(), EPS);
        assertEquals(-0.04, cdpo.dPolicyChosen(), EPS);
        // robust at h = 0: (0.9 ln 2 − 0.1 ln 2)/0.8 = ln 2; dL/dh = β(−0.45 − 0.05)/0.8 = −0.0625
        DpoLoss.Term robust = new DpoLoss(DpoLossType.ROBUST, 0.1, 0.1).term(-2, -2, -1, -1);
        assertEquals(LN2, robust.loss(), EPS);
        assertEquals(-0.0625, robust.dPolicyChosen(), EPS);
        assertEquals(0.0625, robust.dPolicyRejected(), EPS);
        // with ε = 0 robust is plain DPO
        DpoLoss.Term plain = new DpoLoss(DpoLossType.SIGMOID, 0.3, 0).term(-1, -4, -2, -2.5);
        DpoLoss.Term robust0 = new DpoLoss(DpoLossType.ROBUST, 0.3, 0).term(-1, -4, -2, -2.5);
        assertEquals(plain.loss(), robust0.loss(), EPS);
        assertEquals(plain.dPolicyChosen(), robust0.dPolicyChosen(), EPS);
    }

    @Test
    void hingeAndIpoMatchHandValues() {
        DpoLoss hinge = new DpoLoss(DpoLossType.HINGE, 0.5, 0);
        // h = 1: 1 − 0.5 = 0.5, slope −β; h = 3: past the margin, no loss and no gradient
        assertEquals(0.5, hinge.term(0, -1, 0, 0).loss(), EPS);
        assertEquals(-0.5, hinge.term(0, -1, 0, 0).dPolicyChosen(), EPS);
        assertEquals(0, hinge.term(0, -3, 0, 0).loss(), EPS);
        assertEquals(0, hinge.term(0, -3, 0, 0).dPolicyChosen(), EPS);
        // ipo, β = 0.1: target 1/(2β) = 5; h = 2 gives (2 − 5)² = 9, dL/dh = 2(2 − 5) = −6
        DpoLoss.Term ipo = new DpoLoss(DpoLossType.IPO, 0.1, 0).term(-1, -2.5, -1.5, -1);
        assertEquals(9, ipo.loss(), EPS);
        assertEquals(-6, ipo.dPolicyChosen(), EPS);
        assertEquals(6, ipo.dPolicyRejected(), EPS);
    }

    @Test
    void everyTypeMatchesCentralFiniteDifferencesOfItsOwnLoss() {
        double[][] points = {{-12.5, -14.0, -13.0, -13.2}, {-3.0, -1.0, -2.0, -2.5}, {-40.0, -55.0, -41.0, -45.0},
                {-0.7, -0.9, -1.3, -0.4}};
        double[] betas = {0.1, 0.5, 2.0};
        double step = 1e-5;
        for (DpoLossType type : DpoLossType.values()) {
            double[] smoothings = type == DpoLossType.SIGMOID || type == DpoLossType.ROBUST
                    ? new double[] {0, 0.1, 0.3} : new double[] {0};
            for (double beta : betas) {
                for (double eps : smoothings) {
                    DpoLoss dpo = new DpoLoss(type, beta, eps);
                    for (double[] p : points) {
                        double h = (p[0] - p[1]) - (p[2] - p[3]);
                        if (type == DpoLossType.HINGE && Math.abs(1 - beta * h) < 1e-3) {
                            continue; // no derivative at the kink
                        }
                        DpoLoss.Term t = dpo.term(p[0], p[1], p[2], p[3]);
                        double dc = (dpo.term(p[0] + step, p[1], p[2], p[3]).loss()
                                - dpo.term(p[0] - step, p[1], p[2], p[3]).loss()) / (2 * step);
                        double dr = (dpo.term(p[0], p[1] + step, p[2], p[3]).loss()
                                - dpo.term(p[0], p[1] - step, p[2], p[3]).loss()) / (2 * step);
                        // truncation error ~ step²·L''' and rounding ~ 1e-16·L/step: both well under 1e-7 here
                        String where = type + " β=" + beta + " ε=" + eps + " at h=" + h;
                        assertEquals(dc, t.dPolicyChosen(), 1e-7 * Math.max(1, Math.abs(dc)), where);
                        assertEquals(dr, t.dPolicyRejected(), 1e-7 * Math.max(1, Math.abs(dr)), where);
                    }
                }
            }
        }
    }

    @Test
    void largeMarginsStayFinite() {
        DpoLoss dpo = new DpoLoss(DpoLossType.SIGMOID, 1, 0.2);
        DpoLoss.Term far = dpo.term(0, -2000, 0, 0);
        assertTrue(Double.isFinite(far.loss()) && Double.isFinite(far.dPolicyChosen()));
        // −0.8·log σ(2000) − 0.2·log σ(−2000) = 0.2·2000 to double precision
        assertEquals(400, far.loss(), 1e-9);
        DpoLoss.Term wrong = new DpoLoss(DpoLossType.SIGMOID, 1, 0).term(-2000, 0, 0, 0);
        assertEquals(2000, wrong.loss(), 1e-9);
        assertEquals(-1, wrong.dPolicyChosen(), EPS);
    }

    @Test
    void rejectsBadSettings() {
        assertThrows(UserError.class, () -> new DpoLoss(DpoLossType.SIGMOID, 0, 0));
        assertThrows(UserError.class, () -> new DpoLoss(DpoLossType.SIGMOID, -0.1, 0));
        assertThrows(UserError.class, () -> new DpoLoss(DpoLossType.SIGMOID, Double.NaN, 0));
        assertThrows(UserError.class, () -> new DpoLoss(DpoLossType.SIGMOID, 0.1, 0.5));
        assertThrows(UserError.class, () -> new DpoLoss(DpoLossType.ROBUST, 0.1, -0.1));
        assertThrows(UserError.class, () -> new DpoLoss(DpoLossType.IPO, 0.1, 0.1));
        assertThrows(UserError.class, () -> new DpoLoss(DpoLossType.HINGE, 0.1, 0.1));
        assertEquals(DpoLossType.IPO, DpoLossType.parse("ipo"));
        UserError e = assertThrows(UserError.class, () -> DpoLossType.parse("kto"));
        assertTrue(e.getMessage().contains("sigmoid, ipo, hinge, robust"), e.getMessage());
    }
}
