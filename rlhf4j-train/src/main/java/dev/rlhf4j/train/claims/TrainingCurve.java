package dev.rlhf4j.train.claims;

/**
 * A quantity along PPO training, one value per step (the gold reward of each step's rollouts, the reward model's
 * score, the KL to the reference), and what the claims read from it: a smoothed curve, the first step at which it
 * reaches a level, where it peaks.
 *
 * @param steps  the PPO steps, increasing
 * @param values the value at each step
 */
public record TrainingCurve(int[] steps, double[] values) {

    public TrainingCurve {
        if (steps.length != values.length) {
            throw new IllegalArgumentException(steps.length + " steps but " + values.length + " values");
        }
    }

    /**
     * The mean of the last {@code window} values at each step (fewer at the start): one step's 64 rollouts are a
     * noisy estimate, a trailing mean keeps the curve causal so "the step at which it reaches" means what it says.
     */
    public TrainingCurve smoothed(int window) {
        if (window < 1) {
            throw new IllegalArgumentException("window must be positive, got " + window);
        }
        double[] out = new double[values.length];
        double sum = 0;
        for (int i = 0; i < values.length; i++) {
            sum += values[i];
            if (i >= window) {
                sum -= values[i - window];
            }
            out[i] = sum / Math.min(i + 1, window);
        }
        return new TrainingCurve(steps.clone(), out);
    }

    /** The first step whose value is at least {@code level}; -1 when none is. */
    public int firstStepReaching(double level) {
        for (int i = 0; i < values.length; i++) {
            if (values[i] >= level) {
                return steps[i];
            }
        }
        return -1;
    }

    /** The index of the largest value (the first one on ties); -1 for an empty curve. */
    public int peakIndex() {
        int best = -1;
        for (int i = 0; i < values.length; i++) {
            if (best < 0 || values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }

    /** The last value; NaN for an empty curve. */
    public double last() {
        return values.length == 0 ? Double.NaN : values[values.length - 1];
    }

    /**
     * √KL of each value (KL estimates below 0, which the sampled estimator can give, count as 0): Gao et al. 2022
     * plot gold reward against √KL, where the over-optimisation curves are close to their functional forms.
     */
    public static double[] sqrtKl(double[] kl) {
        double[] out = new double[kl.length];
        for (int i = 0; i < kl.length; i++) {
            out[i] = Math.sqrt(Math.max(0, kl[i]));
        }
        return out;
    }
}
