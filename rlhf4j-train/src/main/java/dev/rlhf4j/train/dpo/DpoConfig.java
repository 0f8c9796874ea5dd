package dev.rlhf4j.train.dpo;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.RunFingerprint;

/**
 * DPO's own settings with TRL's {@code DPOConfig} names and defaults; the training loop's (learning rate, batch size,
 * epochs, max_length, ...) are a {@link dev.rlhf4j.train.TrainingConfig}.
 *
 * @param beta                  β of the implicit reward β·log(π/π_ref)
 * @param lossType              sigmoid, ipo, hinge or robust
 * @param labelSmoothing        ε of cDPO and robust DPO; 0 for the others
 * @param precomputeRefLogProbs compute the reference's log-probs of every pair once before training (the reference
 *                              is then not held during training) instead of in each step
 * @param referenceFree         no reference model: its log-probs are taken as 0 (a uniform reference)
 * @param rpoAlpha              RPO (Pang et al. 2024): add α × the mean NLL per chosen completion token to the
 *                              loss; 0 = off
 * @param maxPromptLength       prompts keep their last this many tokens (and at most max_length − 1)
 */
public record DpoConfig(double beta, DpoLossType lossType, double labelSmoothing, boolean precomputeRefLogProbs,
                        boolean referenceFree, double rpoAlpha, int maxPromptLength) {

    /** TRL's defaults. */
    public static final DpoConfig DEFAULTS = new DpoConfig(0.1, DpoLossType.SIGMOID, 0, false, false, 0, 512);

    public DpoConfig {
        loss(lossType, beta, labelSmoothing); // checks β, the type and ε together
        if (!(rpoAlpha >= 0) || Double.isInfinite(rpoAlpha)) {
            throw new UserError("--rpo-alpha must be >= 0, got " + rpoAlpha);
        }
        if (maxPromptLength < 1) {
            throw new UserError("--max-prompt-length must be positive, got " + maxPromptLength);
        }
    }

    /** The loss of one pair. */
    public DpoLoss loss() {
        return loss(lossType, beta, labelSmoothing);
    }

    private static DpoLoss loss(DpoLossType type, double beta, double labelSmoothing) {
        return new DpoLoss(type, beta, labelSmoothing);
    }

    /** These settings, added to a run's fingerprint so that --resume refuses a changed loss. */
    public RunFingerprint addTo(RunFingerprint f) {
        // precompute_ref_log_probs changes float rounding only, so it may change on resume
        return f.put("beta", beta).put("loss_type", lossType.cliName()).put("label_smoothing", labelSmoothing)
                .put("reference_free", referenceFree).put("rpo_alpha", rpoAlpha)
                .put("max_prompt_length", maxPromptLength);
    }
}
