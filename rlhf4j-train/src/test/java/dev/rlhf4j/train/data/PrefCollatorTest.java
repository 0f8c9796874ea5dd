package dev.rlhf4j.train.data;

import dev.rlhf4j.model.TokenBatch;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PrefCollatorTest {

    private static PairExample pair(int group) {
        return new PairExample(new int[] {1, 2}, new int[] {1, 3}, 0, group);
    }

    /** Pairs with these groups, in this order. */
    private static List<PairExample> pairs(int... groups) {
        return Arrays.stream(groups).mapToObj(PrefCollatorTest::pair).toList();
    }

    private static int[] identity(int n) {
        return IntStream.range(0, n).toArray();
    }

    @Test
    void chosenRowsComeFirstThenRejectedRightPaddedWithTheirLastIndex() {
        List<PairExample> pairs = List.of(
                new PairExample(new int[] {5, 6, 7}, new int[] {8}, 0.5, -1),
                new PairExample(new int[] {9, 10}, new int[] {11, 12, 13, 14}, 0, 3));
        PairBatch b = PairCollator.collate(pairs, 6, 0);
        TokenBatch t = b.batch();
        assertEquals(2, b.pairs());
        assertEquals(4, t.batch());
        assertEquals(4, t.seq(), "padded to the longest sequence, not to seqLen");
        assertArrayEquals(new int[] {
                5, 6, 7, 0,
                9, 10, 0, 0,
                8, 0, 0, 0,
                11, 12, 13, 14}, t.tokens());
        assertArrayEquals(new int[] {
                1, 1, 1, 0,
                1, 1, 0, 0,
                1, 0, 0, 0,
                1, 1, 1, 1}, t.mask());
        assertArrayEquals(new int[] {
                0, 1, 2, 0,
                0, 1, 0, 0,
                0, 0, 0, 0,
                0, 1, 2, 3}, t.positions());
        assertNull(t.segmentStarts());
        assertArrayEquals(new int[] {2, 1, 0, 3}, b.lastIndex());
        assertArrayEquals(new double[] {0.5, 0}, b.margins());
    }

    @Test
    void collateRefusesASequenceLongerThanSeqLen() {
        List<PairExample> pairs = List.of(new PairExample(new int[] {1, 2}, new int[] {1, 2, 3}, 0, -1));
        assertEquals("collate: the rejected side of pair 0 has 3 tokens, more than the sequence length of 2 "
                + "(truncate when tokenizing)",
                assertThrows(IllegalArgumentException.class, () -> PairCollator.collate(pairs, 2, 0)).getMessage());
        assertEquals("collate: no pairs",
                assertThrows(IllegalArgumentException.class, () -> PairCollator.collate(List.of(), 2, 0))
                        .getMessage());
    }

    @Test
    void batchesTakeGroupsWholeAndGiveAnOversizedGroupItsOwnBatch() {
        //                                   0   1  2  3   4  5  6  7  8  9 10  11
        List<PairExample> pairs = pairs(-1, 0, 0, 0, -1, 1, 1, 1, 1, 1, 1, -1);
        assertEquals(List.of(List.of(0, 1, 2, 3), List.of(4), List.of(5, 6, 7, 8, 9, 10), List.of(11)),
                PairCollator.groupBatches(pairs, identity(12), 4));
        assertEquals(List.of(List.of(0, 1, 2, 3, 4), List.of(5, 6, 7, 8, 9, 10, 11)),
                PairCollator.groupBatches(pairs, identity(12), 7));
    }

    @Test
    void aGroupScatteredInTheOrderIsGatheredWhereItsFirstPairIs() {
        List<PairExample> pairs = pairs(-1, 0, 0, 0, -1);
        assertEquals(List.of(List.of(2, 1, 3, 0), List.of(4)),
                PairCollator.groupBatches(pairs, new int[] {2, 0, 1, 4, 3}, 4));
    }

    @Test
    void groupBatchesNeedsAPermutationAndAPositiveSize() {
        List<PairExample> pairs = pairs(-1, -1, -1);
        assertEquals("group batches: the order lists pair 1 twice; it must list each pair once",
                assertThrows(IllegalArgumentException.class,
                        () -> PairCollator.groupBatches(pairs, new int[] {0, 1, 1}, 2)).getMessage());
        assertEquals("group batches: the order lists pair 3, which is not in [0, 3); it must list each pair once",
                assertThrows(IllegalArgumentException.class,
                        () -> PairCollator.groupBatches(pairs, new int[] {0, 1, 3}, 2)).getMessage());
        assertEquals("group batches: an order of 2 indices for 3 pairs; it must list each pair once",
                assertThrows(IllegalArgumentException.class,
                        () -> PairCollator.groupBatches(pairs, new int[] {0, 1}, 2)).getMessage());
        assertEquals("group batches: pairs per batch must be positive, got 0",
                assertThrows(IllegalArgumentException.class,
                        () -> PairCollator.groupBatches(pairs, identity(3), 0)).getMessage());
    }

    /** Pairs per ranking of K = 2, 3, 4, 5 responses: C(K, 2). */
    private static final int[] RANKING_PAIRS = {1, 3, 6, 10};

    /** 30 rankings, each after a plain pair: group g has {@code RANKING_PAIRS[g % 4]} pairs. */
    private static List<PairExample> mixed() {
        List<PairExample> pairs = new ArrayList<>();
        for (int g = 0; g < 30; g++) {
            pairs.add(pair(-1));
            for (int k = 0; k < RANKING_PAIRS[g % RANKING_PAIRS.length]; k++) {
                pairs.add(pair(g));
            }
        }
        return pairs;
    }

    @Test
    void epochOrderIsADeterministicShuffleOfWholeGroups() {
        List<PairExample> pairs = mixed();
        int[] order = PairCollator.epochOrder(pairs, 7, 0);
        assertArrayEquals(order, PairCollator.epochOrder(pairs, 7, 0), "same seed and epoch, same order");
        assertFalse(Arrays.equals(order, PairCollator.epochOrder(pairs, 7, 1)), "another epoch, another order");
        assertFalse(Arrays.equals(order, PairCollator.epochOrder(pairs, 8, 0)), "another seed, another order");
        assertFalse(Arrays.equals(order, identity(pairs.size())), "shuffled");
        assertArrayEquals(identity(pairs.size()), Arrays.stream(order).sorted().toArray(), "a permutation");
        // Each group's pairs are adjacent and in their list order: in mixed(), consecutive indices.
        Map<Integer, List<Integer>> positions = new HashMap<>();
        for (int at = 0; at < order.length; at++) {
            positions.computeIfAbsent(pairs.get(order[at]).group(), g -> new ArrayList<>()).add(at);
        }
        positions.remove(-1);
        assertEquals(30, positions.size());
        positions.forEach((group, at) -> {
            for (int k = 1; k < at.size(); k++) {
                assertEquals(at.get(k - 1) + 1, at.get(k), "group " + group + " adjacent");
                assertEquals(order[at.get(k - 1)] + 1, order[at.get(k)], "group " + group + " in list order");
            }
        });
    }

    @Test
    void withoutGroupsEpochOrderIsTheExamplesShuffle() {
        assertArrayEquals(Splits.epochOrder(50, 3, 2), PairCollator.epochOrder(Collections.nCopies(50, pair(-1)), 3,
                2));
    }

    @Test
    void batchesOfAnEpochOrderHoldEveryGroupInOneBatch() {
        List<PairExample> pairs = mixed();
        for (int pairsPerBatch : new int[] {1, 4, 8, 16}) {
            List<List<Integer>> batches = PairCollator.groupBatches(pairs, PairCollator.epochOrder(pairs, 11, 0),
                    pairsPerBatch);
            Set<Integer> seen = new HashSet<>();
            for (List<Integer> batch : batches) {
                Set<Integer> groups = new HashSet<>();
                for (int index : batch) {
                    assertTrue(seen.add(index), "pair " + index + " in two batches");
                    groups.add(pairs.get(index).group());
                }
                assertTrue(batch.size() <= pairsPerBatch || (groups.size() == 1 && !groups.contains(-1)),
                        "only a lone group may exceed " + pairsPerBatch + ": " + batch);
                for (int group : groups) {
                    if (group >= 0) {
                        assertEquals(RANKING_PAIRS[group % RANKING_PAIRS.length],
                                batch.stream().filter(i -> pairs.get(i).group() == group).count(),
                                "group " + group + " whole in one batch of size " + pairsPerBatch);
                    }
                }
            }
            assertEquals(pairs.size(), seen.size());
        }
    }
}
