package dev.rlhf4j.train.dpo;

import dev.rlhf4j.tensor.UserError;

/**
 * The DPO family's loss for one preference pair as a function of four log-probabilities, with its derivatives; no
 * model here, so the same math serves offline DPO and online DPO. With the implicit reward margin
 * h = (πc − πr) − (ρc − ρr), where π are the policy's and ρ the reference's log-probs of the chosen (c) and
 * rejected (r) completions (TRL's {@code logits}):
 * <ul>
 *   <li>sigmoid: −(1−ε)·log σ(βh) − ε·log σ(−βh) (DPO; cDPO with ε &gt; 0)</li>
 *   <li>robust: (−(1−ε)·log σ(βh) + ε·log σ(−βh)) / (1 − 2ε)</li>
 *   <li>hinge: max(0, 1 − βh)</li>
 *   <li>ipo: (h − 1/(2β))²; the caller passes log-probs averaged over the completion's tokens, as TRL does</li>
 * </ul>
 * For the others the caller passes summed log-probs; reference-free DPO passes ρ = 0.
 *
 * @param type which loss
 * @param beta β, the inverse temperature of the implicit reward (TRL's default 0.1); &gt; 0
 * @param labelSmoothing ε, the assumed rate of flipped labels; in [0, 0.5), and 0 for ipo and hinge (TRL ignores
 *     it there, rlhf4j refuses it so a run does not silently differ from what was asked)
 */
public record DpoLoss(DpoLossType type, double beta, double labelSmoothing) {

    /** Checks the values; the messages name the options. */
    public DpoLoss {
        if (type == null) {
            throw new UserError("the DPO loss type is required");
        }
        if (!(beta > 0) || Double.isInfinite(beta)) {
            throw new UserError("--beta must be a positive number, got " + beta);
        }
        if (!(labelSmoothing >= 0 && labelSmoothing < 0.5)) {
            throw new UserError("--label-smoothing must be in [0, 0.5), got " + labelSmoothing);
        }
        if (labelSmoothing != 0 && (type == DpoLossType.IPO || type == DpoLossType.HINGE)) {
            throw new UserError("--label-smoothing applies to the sigmoid and robust losses, not to "
                    + type.cliName());
        }
    }

    /**
     * One pair's loss, its derivatives with respect to the policy's chosen and rejected log-probs, and the implicit
     * rewards β(π − ρ) of each completion as TRL logs them.
     */
    public record Term(double loss, double dPolicyChosen, double dPolicyRejected,
                       double rewardChosen, double rewardRejected) {
    }

    /** One pair: the loss and its derivatives w.r.t. the policy's chosen and rejected log-probs. */
    public Term term(double policyChosen, double policyRejected, double refChosen, double refRejected) {
        double h = (policyChosen - policyRejected) - (refChosen - refRejected);
        double x = beta * h;
        double eps = labelSmoothing;
        double loss;
        double dLossDh;
        switch (type) {
            case SIGMOID -> {
                loss = -(1 - eps) * logSigmoid(x) - eps * logSigmoid(-x);
                // d/dx log σ(x) = σ(−x)
                dLossDh = beta * (-(1 - eps) * sigmoid(-x) + eps * sigmoid(x));
            }
            case ROBUST -> {
                loss = (-(1 - eps) * logSigmoid(x) + eps * logSigmoid(-x)) / (1 - 2 * eps);
                dLossDh = beta * (-(1 - eps) * sigmoid(-x) - eps * sigmoid(x)) / (1 - 2 * eps);
            }
            case HINGE -> {
                loss = Math.max(0, 1 - x);
                // the subgradient 0 at the kink, as torch.relu's backward gives
                dLossDh = 1 - x > 0 ? -beta : 0;
            }
            case IPO -> {
                double gap = h - 1 / (2 * beta);
                loss = gap * gap;
                dLossDh = 2 * gap;
            }
            default -> throw new IllegalStateException("unhandled loss type " + type);
        }
        return new Term(loss, dLossDh, -dLossDh,
                beta * (policyChosen - refChosen), beta * (policyRejected - refRejected));
    }

    /** log σ(x) without overflow for large |x|. */
    static double logSigmoid(double x) {
        return x >= 0 ? -Math.log1p(Math.exp(-x)) : x - Math.log1p(Math.exp(x));
    }

    static double sigmoid(double x) {
        if (x >= 0) {
            return 1 / (1 + Math.exp(-x));
        }
        double e = Math.exp(x);
        return e / (1 + e);
    }
}
