package dev.rlhf4j.train.data;

import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.UserError;

import java.util.ArrayList;
import java.util.List;

/**
 * Deterministic orders over a dataset: the held-out split and each epoch's shuffle are functions of the seed (and
 * the epoch) alone, so a resumed run recomputes them instead of saving them.
 */
public final class Splits {
    /**
     * Epoch e shuffles with seed {@code seed ^ (e + 1)·EPOCH_STREAM}: a seed of its own per epoch, never the
     * split's (whose shuffle epoch 0 would otherwise repeat). {@code Rng} mixes its seed through SplitMix64, so
     * different seeds give unrelated streams.
     */
    private static final long EPOCH_STREAM = 0xD1B54A32D192ED03L;

    private Splits() {
    }

    /**
     * The examples shuffled with {@code seed}: the first {@code evalCount} become the evaluation set, the rest the
     * training set (in shuffled order).
     *
     * @return {@code [train, eval]}
     */
    public static List<List<Example>> trainEval(List<Example> examples, int evalCount, long seed) {
        if (evalCount < 0 || evalCount >= examples.size()) {
            throw new UserError("evaluation set of " + evalCount + " examples out of "
                    + examples.size() + ": it must leave at least one to train on");
        }
        int[] order = permutation(examples.size(), new Rng(seed));
        List<Example> eval = new ArrayList<>(evalCount), train = new ArrayList<>(examples.size() - evalCount);
        for (int i = 0; i < order.length; i++) {
            (i < evalCount ? eval : train).add(examples.get(order[i]));
        }
        return List.of(List.copyOf(train), List.copyOf(eval));
    }

    /** The order of example indices for one epoch: a permutation of {@code [0, n)} from {@code (seed, epoch)}. */
    public static int[] epochOrder(int n, long seed, int epoch) {
        if (n < 0 || epoch < 0) {
            throw new IllegalArgumentException("epoch order: n and epoch must not be negative, got n = " + n
                    + ", epoch = " + epoch);
        }
        return permutation(n, new Rng(seed ^ ((epoch + 1L) * EPOCH_STREAM)));
    }

    /** Fisher–Yates (Knuth's Algorithm P): every permutation of {@code [0, n)} equally likely. */
    public static int[] permutation(int n, Rng rng) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
