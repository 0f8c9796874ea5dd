package dev.rlhf4j.train.lab;

import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.UserError;

import java.util.List;

/**
 * A simulated human labeller: prefers response A over B with probability
 * {@code σ((R_A − R_B + bias·(words_A − words_B)) / temperature)}, a Bradley–Terry choice on the gold reward R with
 * noise set by the temperature and, optionally, a taste for longer answers that the gold reward does not share.
 * The temperature is calibrated ({@link #calibrate}) so that two labellers agree as often as InstructGPT's did
 * (about 73%, Ouyang et al. 2022, section 5.1) on pairs sampled from an SFT model.
 */
public record Annotator(double temperature, double lengthBias) {

    /** One comparison: the gold rewards and lengths (in words) of the two responses. */
    public record Comparison(double rewardA, double rewardB, int wordsA, int wordsB) {
    }

    public Annotator {
        if (!(temperature > 0)) {
            throw new IllegalArgumentException("annotator temperature must be positive, got " + temperature);
        }
    }

    /** Probability that this labeller prefers A. */
    public double probFirst(Comparison c) {
        double z = (c.rewardA() - c.rewardB() + lengthBias * (c.wordsA() - c.wordsB())) / temperature;
        return 1.0 / (1.0 + Math.exp(-z));
    }

    /** One labelling: true if A is preferred. */
    public boolean prefersFirst(Comparison c, Rng rng) {
        return rng.nextDouble() < probFirst(c);
    }

    /** How often two independent labellers of this kind give the same answer: the mean of p² + (1 − p)². */
    public double agreement(List<Comparison> pairs) {
        double sum = 0;
        for (Comparison c : pairs) {
            double p = probFirst(c);
            sum += p * p + (1 - p) * (1 - p);
        }
        return sum / pairs.size();
    }

    /**
     * The best held-out accuracy any reward model can reach against this labeller's labels: predicting the more
     * likely choice on every pair is right with probability max(p, 1 − p).
     */
    public double bestAccuracy(List<Comparison> pairs) {
        double sum = 0;
        for (Comparison c : pairs) {
            double p = probFirst(c);
            sum += Math.max(p, 1 - p);
        }
        return sum / pairs.size();
    }

    /**
     * The temperature at which two labellers agree on {@code target} of {@code pairs} (bisection on a log scale:
     * agreement falls from its noiseless value towards 1/2 as the temperature grows). Fails when even noiseless
     * labellers would agree less often, which happens when too many pairs are ties.
     */
    public static Annotator calibrate(List<Comparison> pairs, double target, double lengthBias) {
        if (pairs.isEmpty()) {
            throw new UserError("cannot calibrate annotators on no pairs");
        }
        double lo = 1e-4, hi = 1e4;
        if (new Annotator(lo, lengthBias).agreement(pairs) < target) {
            throw new UserError(String.format("even noiseless annotators agree on only %.1f%% of these "
                    + "pairs (too many ties); cannot reach %.1f%%", 100 * new Annotator(lo,
                    lengthBias).agreement(pairs),
                    100 * target));
        }
        for (int i = 0; i < 100; i++) {
            double mid = Math.sqrt(lo * hi);
            if (new Annotator(mid, lengthBias).agreement(pairs) > target) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        return new Annotator(Math.sqrt(lo * hi), lengthBias);
    }

    /** Words in a response, the length the biased labeller likes. */
    public static int words(String response) {
        String s = response.strip();
        return s.isEmpty() ? 0 : s.split("\\s+").length;
    }
}
