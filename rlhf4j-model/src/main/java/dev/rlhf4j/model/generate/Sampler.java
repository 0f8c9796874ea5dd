package dev.rlhf4j.model.generate;

import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.VMath;

import java.util.Arrays;

/**
 * Picks the next token from one row of logits as HF's logits processors do, in their order: temperature, then
 * top-k (keep the k largest), then top-p (keep the smallest set of most likely tokens whose probability reaches p),
 * then a draw from the renormalised distribution; temperature 0 is greedy (the lowest id among equal maxima).
 */
final class Sampler {
    private static final long ID_MASK = 0x7FFFFFFFL;
    private final float temperature;
    private final int topK;
    private final float topP;
    private float[] probs = new float[0];
    private long[] order = new long[0];

    Sampler(GenerationConfig cfg) {
        this.temperature = cfg.temperature();
        this.topK = cfg.topK();
        this.topP = cfg.topP();
    }

    /** The chosen token; {@code logprob[0]} receives its log-probability at the sampling temperature. */
    int next(float[] logits, int at, int vocab, Rng rng, float[] logprob) {
        float t = temperature == 0f ? 1f : temperature;
        double max = Double.NEGATIVE_INFINITY;
        int argmax = 0;
        for (int i = 0; i < vocab; i++) {
            double z = logits[at + i];
            if (z > max) {
                max = z;
                argmax = i;
            }
        }
        if (probs.length < vocab) {
            probs = new float[vocab];
            order = new long[vocab];
        }
        double sum = VMath.expScaled(logits, at, vocab, (float) max, 1f / t, probs);
        int choice;
        if (temperature == 0f) {
            choice = argmax;
        } else {
            choice = draw(vocab, sum, rng);
        }
        logprob[0] = (float) ((logits[at + choice] - max) * (1f / t) - StrictMath.log(sum));
        return choice;
    }

    private int draw(int vocab, double sum, Rng rng) {
        boolean filter = (topK > 0 && topK < vocab) || topP < 1f;
        if (!filter) {
            double u = rng.nextDouble() * sum;
            for (int i = 0; i < vocab; i++) {
                u -= probs[i];
                if (u < 0) {
                    return i;
                }
            }
            return lastPositive(vocab);
        }
        // Candidates by decreasing probability (ties by increasing id): non-negative floats order as their bits.
        for (int i = 0; i < vocab; i++) {
            order[i] = ((long) Float.floatToRawIntBits(probs[i]) << 32) | (ID_MASK - i);
        }
        Arrays.sort(order, 0, vocab);
        int keep = topK > 0 ? Math.min(topK, vocab) : vocab;
        double kept = 0;
        for (int r = 0; r < keep; r++) {
            kept += probs[idAt(vocab - 1 - r)];
        }
        if (topP < 1f) {
            double cum = 0;
            int n = 0;
            while (n < keep) {
                cum += probs[idAt(vocab - 1 - n)];
                n++;
                if (cum >= topP * kept) {
                    break;
                }
            }
            keep = n;
            kept = cum;
        }
        double u = rng.nextDouble() * kept;
        for (int r = 0; r < keep; r++) {
            int id = idAt(vocab - 1 - r);
            u -= probs[id];
            if (u < 0) {
                return id;
            }
        }
        return idAt(vocab - keep);
    }

    private int idAt(int rank) {
        return (int) (ID_MASK - (order[rank] & ID_MASK));
    }

    private int lastPositive(int vocab) {
        for (int i = vocab - 1; i >= 0; i--) {
            if (probs[i] > 0) {
                return i;
            }
        }
        return 0;
    }
}
