package dev.rlhf4j.train.data;

import dev.rlhf4j.model.TokenBatch;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Comparisons into reward-model batches, and the orders in which to visit them.
 *
 * <p>The pairs expanded from one K-way ranking stay together: the comparisons of one labelling task are strongly
 * correlated, and Ouyang et al. 2022 (InstructGPT, section 3.5, "Reward modeling") found that shuffling them into
 * one dataset made the reward model overfit within a single epoch, so they train on all C(K,2) comparisons of a
 * prompt as one batch element. Here a ranking's pairs are one unit for shuffling ({@link #epochOrder}) and for
 * batching ({@link #groupBatches}).
 */
public final class PairCollator {
    private PairCollator() {
    }

    /**
     * Right-pads the chosen sequences (rows {@code 0..P−1}) and the rejected ones (rows {@code P..2P−1}) to the
     * longest of them: mask 1 on real tokens, {@code padId} on padding, positions {@code 0..len−1} (0 on padding,
     * which the mask hides), {@code lastIndex[r] = len_r − 1}.
     *
     * @throws IllegalArgumentException for no pairs, or a sequence longer than {@code seqLen} (tokenization should
     *                                  have cut it)
     */
    public static PairBatch collate(List<PairExample> pairs, int seqLen, int padId) {
        if (pairs.isEmpty()) {
            throw new IllegalArgumentException("collate: no pairs");
        }
        int p = pairs.size(), width = 0;
        for (int i = 0; i < p; i++) {
            width = Math.max(width, fitting(pairs.get(i).chosen(), i, "chosen", seqLen));
            width = Math.max(width, fitting(pairs.get(i).rejected(), i, "rejected", seqLen));
        }
        int[] tokens = new int[2 * p * width], mask = new int[2 * p * width], positions = new int[2 * p * width];
        Arrays.fill(tokens, padId);
        int[] lastIndex = new int[2 * p];
        double[] margins = new double[p];
        for (int r = 0; r < 2 * p; r++) {
            PairExample pair = pairs.get(r % p);
            int[] sequence = r < p ? pair.chosen() : pair.rejected();
            int at = r * width;
            System.arraycopy(sequence, 0, tokens, at, sequence.length);
            for (int t = 0; t < sequence.length; t++) {
                mask[at + t] = 1;
                positions[at + t] = t;
            }
            lastIndex[r] = sequence.length - 1;
        }
        for (int i = 0; i < p; i++) {
            margins[i] = pairs.get(i).margin();
        }
        return new PairBatch(new TokenBatch(2 * p, width, tokens, mask, positions), p, lastIndex, margins);
    }

    private static int fitting(int[] sequence, int pair, String side, int seqLen) {
        if (sequence.length > seqLen) {
            throw new IllegalArgumentException("collate: the " + side + " side of pair " + pair + " has "
                    + sequence.length + " tokens, more than the sequence length of " + seqLen
                    + " (truncate when tokenizing)");
        }
        return sequence.length;
    }

    /**
     * Cuts {@code order} (a permutation of the pair indices) into batches of at most {@code pairsPerBatch} pairs,
     * keeping each ranking group's pairs together in the batch where the group's first pair falls in {@code order}
     * (a group larger than {@code pairsPerBatch} gets a batch of its own). Units are taken whole and in order, so a
     * batch is closed early when the next group does not fit.
     *
     * @return the batches, each a list of pair indices
     */
    public static List<List<Integer>> groupBatches(List<PairExample> pairs, int[] order, int pairsPerBatch) {
        if (pairsPerBatch < 1) {
            throw new IllegalArgumentException("group batches: pairs per batch must be positive, got "
                    + pairsPerBatch);
        }
        requirePermutation(order, pairs.size());
        List<List<Integer>> batches = new ArrayList<>();
        List<Integer> batch = new ArrayList<>();
        for (List<Integer> unit : units(pairs, order)) {
            if (!batch.isEmpty() && batch.size() + unit.size() > pairsPerBatch) {
                batches.add(List.copyOf(batch));
                batch.clear();
            }
            batch.addAll(unit);
        }
        if (!batch.isEmpty()) {
            batches.add(List.copyOf(batch));
        }
        return batches;
    }

    /**
     * One epoch's order of the pairs: the units (a ranking group, or a single pair of group −1) in an order shuffled
     * from {@code (seed, epoch)} as {@link Splits#epochOrder} shuffles examples, each group's pairs adjacent and in
     * their list order. Without groups it is {@code Splits.epochOrder(pairs.size(), seed, epoch)}.
     */
    public static int[] epochOrder(List<PairExample> pairs, long seed, int epoch) {
        int[] listOrder = new int[pairs.size()];
        Arrays.setAll(listOrder, i -> i);
        List<List<Integer>> units = units(pairs, listOrder);
        int[] out = new int[pairs.size()];
        int k = 0;
        for (int u : Splits.epochOrder(units.size(), seed, epoch)) {
            for (int index : units.get(u)) {
                out[k++] = index;
            }
        }
        return out;
    }

    /**
     * The pairs of {@code order} gathered into units, in order of each unit's first pair: a ranking group's pairs
     * wherever they are in {@code order}, or one pair of no group.
     */
    private static List<List<Integer>> units(List<PairExample> pairs, int[] order) {
        List<List<Integer>> units = new ArrayList<>();
        Map<Integer, List<Integer>> groups = new HashMap<>();
        for (int index : order) {
            int group = pairs.get(index).group();
            if (group < 0) {
                units.add(List.of(index));
                continue;
            }
            List<Integer> unit = groups.get(group);
            if (unit == null) {
                unit = new ArrayList<>();
                groups.put(group, unit);
                units.add(unit);
            }
            unit.add(index);
        }
        return units;
    }

    private static void requirePermutation(int[] order, int n) {
        if (order.length != n) {
            throw new IllegalArgumentException("group batches: an order of " + order.length + " indices for " + n
                    + " pairs; it must list each pair once");
        }
        boolean[] seen = new boolean[n];
        for (int index : order) {
            if (index < 0 || index >= n || seen[index]) {
                throw new IllegalArgumentException("group batches: the order lists pair " + index + (index < 0
                        || index >= n ? ", which is not in [0, " + n + ")" : " twice") + "; it must list each pair "
                        + "once");
            }
            seen[index] = true;
        }
    }
}
