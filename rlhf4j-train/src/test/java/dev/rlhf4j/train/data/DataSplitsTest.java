package dev.rlhf4j.train.data;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class DataSplitsTest {

    /** Examples told apart by their one token. */
    private static List<Example> examples(int n) {
        List<Example> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new Example(new int[] {i}, new boolean[1]));
        }
        return out;
    }

    private static List<Integer> ids(List<Example> examples) {
        return examples.stream().map(e -> e.tokens()[0]).toList();
    }

    private static void assertPermutation(int n, int[] order) {
        int[] sorted = order.clone();
        Arrays.sort(sorted);
        int[] identity = new int[n];
        Arrays.setAll(identity, i -> i);
        assertArrayEquals(identity, sorted);
    }

    @Test
    void trainEvalSplitsEveryExampleOnceAndTheSameWayForTheSameSeed() {
        List<Example> all = examples(50);
        List<List<Example>> split = Splits.trainEval(all, 10, 7);
        assertEquals(40, split.get(0).size());
        assertEquals(10, split.get(1).size());
        Set<Integer> seen = new HashSet<>(ids(split.get(0)));
        seen.addAll(ids(split.get(1)));
        assertEquals(50, seen.size(), "train and eval are disjoint and cover everything");

        List<List<Example>> again = Splits.trainEval(all, 10, 7);
        assertEquals(ids(split.get(0)), ids(again.get(0)));
        assertEquals(ids(split.get(1)), ids(again.get(1)));
        assertNotEquals(ids(split.get(1)), ids(Splits.trainEval(all, 10, 8).get(1)), "another seed, another split");
        assertNotEquals(ids(all.subList(10, 50)), ids(split.get(0)), "shuffled, not the file order");
    }

    @Test
    void noEvalSetKeepsEveryExampleForTraining() {
        List<List<Example>> split = Splits.trainEval(examples(5), 0, 1);
        assertEquals(5, split.get(0).size());
        assertEquals(List.of(), split.get(1));
    }

    @Test
    void anEvalSetThatLeavesNothingToTrainOnIsRefused() {
        assertEquals("evaluation set of 5 examples out of 5: it must leave at least one to train on",
                assertThrows(IllegalArgumentException.class, () -> Splits.trainEval(examples(5), 5, 1)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> Splits.trainEval(examples(5), -1, 1));
    }

    @Test
    void epochOrdersArePermutationsRecomputedFromSeedAndEpoch() {
        int n = 100;
        Set<List<Integer>> orders = new HashSet<>();
        for (int epoch = 0; epoch < 5; epoch++) {
            int[] order = Splits.epochOrder(n, 42, epoch);
            assertPermutation(n, order);
            assertArrayEquals(order, Splits.epochOrder(n, 42, epoch), "the same (seed, epoch), the same order");
            orders.add(Arrays.stream(order).boxed().toList());
        }
        assertEquals(5, orders.size(), "every epoch has its own order");
        assertFalse(Arrays.equals(Splits.epochOrder(n, 42, 0), Splits.epochOrder(n, 43, 0)), "seeds differ");
    }

    @Test
    void theFirstEpochDoesNotRepeatTheSplitsShuffle() {
        List<Example> all = examples(30);
        List<Integer> shuffled = new ArrayList<>(ids(Splits.trainEval(all, 1, 5).get(1)));
        shuffled.addAll(ids(Splits.trainEval(all, 1, 5).get(0)));
        assertNotEquals(shuffled, Arrays.stream(Splits.epochOrder(30, 5, 0)).boxed().toList());
    }

    @Test
    void emptyAndSingleEpochOrders() {
        assertArrayEquals(new int[0], Splits.epochOrder(0, 1, 0));
        assertArrayEquals(new int[] {0}, Splits.epochOrder(1, 1, 3));
        assertThrows(IllegalArgumentException.class, () -> Splits.epochOrder(3, 1, -1));
    }
}
