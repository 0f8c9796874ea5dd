package dev.rlhf4j.train.ppo;

/**
 * The arithmetic of PPO for language models, per token, as TRL's PPO trainer does it: KL estimators, the per-token
 * rewards, generalised advantage estimation, whitening, and the clipped policy and value losses with their
 * gradients. Sequences are rows of a ragged batch: {@code x[b][t]} for the {@code t}-th response token of sequence
 * {@code b}; a row's length is its number of response tokens. Every function here is pure and tested against
 * hand-computed values.
 */
public final class PpoMath {

    private PpoMath() {
    }

    /** Which estimator of KL(policy‖reference) per token, from {@code r = log π_ref(y) − log π(y)}. */
    public enum KlEstimator {
        /** {@code −r}: unbiased, can be negative per token (TRL's default). */
        K1,
        /** {@code (e^r − 1) − r}: unbiased, never negative, lower variance (Schulman's k3). */
        K3;

        public double of(double logp, double refLogp) {
            double r = refLogp - logp;
            return this == K1 ? -r : Math.expm1(r) - r;
        }

        public static KlEstimator parse(String s) {
            return switch (s.toLowerCase(java.util.Locale.ROOT)) {
                case "k1" -> K1;
                case "k3" -> K3;
                default -> throw new IllegalArgumentException("KL estimator must be k1 or k3, got '" + s + "'");
            };
        }
    }

    /**
     * Per-token rewards: {@code −β·kl_t} at every token, plus {@code score} at the last token of each sequence.
     * {@code kl} receives the per-token KL estimates.
     */
    public static double[][] rewards(double[][] logp, double[][] refLogp, double[] scores, double beta,
                                     KlEstimator estimator, double[][] kl) {
        double[][] out = new double[logp.length][];
        for (int b = 0; b < logp.length; b++) {
            int n = logp[b].length;
            out[b] = new double[n];
            for (int t = 0; t < n; t++) {
                kl[b][t] = estimator.of(logp[b][t], refLogp[b][t]);
                out[b][t] = -beta * kl[b][t];
            }
            if (n > 0) {
                out[b][n - 1] += scores[b];
            }
        }
        return out;
    }

    /**
     * Generalised advantage estimation: {@code δ_t = r_t + γ·V_{t+1} − V_t} (V past the last token is 0),
     * {@code A_t = δ_t + γλ·A_{t+1}}; returns are {@code A_t + V_t}, written into {@code returns}.
     */
    public static double[][] gae(double[][] rewards, double[][] values, double gamma, double lambda,
                                 double[][] returns) {
        double[][] adv = new double[rewards.length][];
        for (int b = 0; b < rewards.length; b++) {
            int n = rewards[b].length;
            adv[b] = new double[n];
            double last = 0;
            for (int t = n - 1; t >= 0; t--) {
                double next = t + 1 < n ? values[b][t + 1] : 0;
                double delta = rewards[b][t] + gamma * next - values[b][t];
                last = delta + gamma * lambda * last;
                adv[b][t] = last;
                returns[b][t] = last + values[b][t];
            }
        }
        return adv;
    }

    /**
     * Whitens all values of a ragged batch together: {@code (x − mean)/sqrt(var + 1e-8)} with the unbiased
     * variance, as TRL's {@code masked_whiten}; with {@code shiftMean} false the mean is added back.
     */
    public static void whiten(double[][] x, boolean shiftMean) {
        double sum = 0;
        long n = 0;
        for (double[] row : x) {
            for (double v : row) {
                sum += v;
                n++;
            }
        }
        if (n < 2) {
            return;
        }
        double mean = sum / n, sq = 0;
        for (double[] row : x) {
            for (double v : row) {
                sq += (v - mean) * (v - mean);
            }
        }
        double var = sq / (n - 1);
        double inv = 1 / Math.sqrt(var + 1e-8);
        for (double[] row : x) {
            for (int t = 0; t < row.length; t++) {
                row[t] = (row[t] - mean) * inv + (shiftMean ? 0 : mean);
            }
        }
    }

    /** The clipped surrogate of one token and its gradient with respect to the new log-probability. */
    public record PolicyTerm(double loss, double grad, boolean clipped, double ratio) {
    }

    /**
     * {@code max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε))} with {@code ρ = exp(logp − oldLogp)}; the gradient is {@code −A·ρ}
     * where the unclipped term is the larger (or the clip is inactive) and 0 where the clipped term wins.
     * {@code clipped} says whether the clipped term was strictly larger (TRL's {@code policy/clipfrac}).
     */
    public static PolicyTerm policyTerm(double logp, double oldLogp, double advantage, double clipRange) {
        double ratio = Math.exp(logp - oldLogp);
        double clippedRatio = Math.min(Math.max(ratio, 1 - clipRange), 1 + clipRange);
        double l1 = -advantage * ratio, l2 = -advantage * clippedRatio;
        boolean clipWins = l2 > l1;
        double grad = clipWins && clippedRatio != ratio ? 0 : -advantage * ratio;
        return new PolicyTerm(Math.max(l1, l2), grad, clipWins, ratio);
    }

    /** The clipped value loss of one token and its gradient with respect to the new value. */
    public record ValueTerm(double loss, double grad, boolean clipped) {
    }

    /**
     * {@code 0.5·max((v − R)², (v_clip − R)²)} with {@code v_clip = v_old + clip(v − v_old, −ε, ε)}; the gradient
     * is {@code v − R} unless the clipped term is larger and the clip active. {@code clipped} says whether the
     * clipped term was strictly larger (TRL's {@code val/clipfrac}).
     */
    public static ValueTerm valueTerm(double value, double oldValue, double ret, double clipRange) {
        double vClip = oldValue + Math.min(Math.max(value - oldValue, -clipRange), clipRange);
        double l1 = (value - ret) * (value - ret), l2 = (vClip - ret) * (vClip - ret);
        boolean clipWins = l2 > l1;
        double grad = clipWins && vClip != value ? 0 : value - ret;
        return new ValueTerm(0.5 * Math.max(l1, l2), grad, clipWins);
    }

    /**
     * The fraction of the value targets' variance the values explain: {@code 1 − Var(R − V)/Var(R)} over all
     * tokens (TRL's {@code val/var_explained}); NaN when the returns do not vary.
     */
    public static double explainedVariance(double[][] values, double[][] returns) {
        double sr = 0, sd = 0;
        long n = 0;
        for (int b = 0; b < values.length; b++) {
            for (int t = 0; t < values[b].length; t++) {
                sr += returns[b][t];
                sd += returns[b][t] - values[b][t];
                n++;
            }
        }
        if (n < 2) {
            return Double.NaN;
        }
        double mr = sr / n, md = sd / n, vr = 0, vd = 0;
        for (int b = 0; b < values.length; b++) {
            for (int t = 0; t < values[b].length; t++) {
                double r = returns[b][t] - mr, d = returns[b][t] - values[b][t] - md;
                vr += r * r;
                vd += d * d;
            }
        }
        return vr == 0 ? Double.NaN : 1 - vd / vr;
    }

    /**
     * The KL coefficient: fixed, or the adaptive controller of Ziegler et al. (2019), which moves β toward a
     * target KL: {@code e = clip(KL/target − 1, −0.2, 0.2)}, {@code β ← β·(1 + e·n/horizon)} after each batch of
     * n episodes.
     */
    public static final class KlController {
        private double value;
        private final double target;
        private final double horizon;

        /** A fixed coefficient when {@code target} is 0 or less. */
        public KlController(double initial, double target, double horizon) {
            if (!(initial >= 0)) {
                throw new IllegalArgumentException("KL coefficient must be >= 0, got " + initial);
            }
            if (target > 0 && !(horizon > 0)) {
                throw new IllegalArgumentException("the adaptive KL controller needs a positive horizon, got "
                        + horizon);
            }
            this.value = initial;
            this.target = target;
            this.horizon = horizon;
        }

        public double value() {
            return value;
        }

        public boolean adaptive() {
            return target > 0;
        }

        /** Restores the coefficient (from a checkpoint). */
        public void set(double v) {
            value = v;
        }

        /** After a batch of {@code episodes} whose mean sequence KL was {@code kl}. */
        public void update(double kl, int episodes) {
            if (!adaptive()) {
                return;
            }
            double error = Math.min(Math.max(kl / target - 1, -0.2), 0.2);
            value *= 1 + error * episodes / horizon;
        }
    }
}
