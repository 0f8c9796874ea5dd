package dev.rlhf4j.tensor;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicIntegerArray;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ParallelTest {

    @Test
    void everyTaskRunsExactlyOnceOnAnyThreadCount() {
        for (int threads : new int[] {1, 2, 3, 5}) {
            Parallel pool = new Parallel(threads);
            try {
                for (int tasks : new int[] {0, 1, 2, 7, 1000}) {
                    AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(tasks, 1));
                    pool.forTasks(tasks, (t, w) -> hits.incrementAndGet(t));
                    for (int t = 0; t < tasks; t++) {
                        assertEquals(1, hits.get(t), "task " + t + " of " + tasks + " on " + threads + " threads");
                    }
                }
            } finally {
                pool.close();
            }
        }
    }

    @Test
    void rangesCoverEachIndexOnce() {
        Parallel pool = new Parallel(3);
        try {
            AtomicIntegerArray hits = new AtomicIntegerArray(101);
            pool.forRange(101, Parallel.GRAIN, (lo, hi) -> {
                for (int i = lo; i < hi; i++) {
                    hits.incrementAndGet(i);
                }
            });
            for (int i = 0; i < 101; i++) {
                assertEquals(1, hits.get(i));
            }
        } finally {
            pool.close();
        }
    }

    @Test
    void smallRangesAreNotSplit() {
        Parallel pool = new Parallel(2);
        try {
            java.util.Set<String> threads = java.util.concurrent.ConcurrentHashMap.newKeySet();
            java.util.concurrent.atomic.AtomicInteger parts = new java.util.concurrent.atomic.AtomicInteger();
            pool.forRange(10, 100, (lo, hi) -> {
                parts.incrementAndGet();
                threads.add(Thread.currentThread().getName());
            });
            assertEquals(1, parts.get(), "10 rows of 100 units are below the grain");
            parts.set(0);
            pool.forRange(10, Parallel.GRAIN, (lo, hi) -> parts.incrementAndGet());
            assertEquals(2, parts.get());
        } finally {
            pool.close();
        }
    }

    @Test
    void nestedRegionsRunSeriallyInsideTheOuterTask() {
        Parallel pool = new Parallel(2);
        try {
            AtomicIntegerArray hits = new AtomicIntegerArray(4 * 5);
            pool.forTasks(4, (outer, w) -> pool.forTasks(5, (inner, w2) -> hits.incrementAndGet(outer * 5 + inner)));
            for (int i = 0; i < 20; i++) {
                assertEquals(1, hits.get(i));
            }
        } finally {
            pool.close();
        }
    }

    @Test
    void aFailingTaskRethrowsOnTheCaller() {
        Parallel pool = new Parallel(2);
        try {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.forTasks(50, (t, w) -> {
                if (t == 37) {
                    throw new IllegalStateException("task 37 failed");
                }
            }));
            assertEquals("task 37 failed", e.getMessage());
            // the pool still works afterwards
            AtomicIntegerArray hits = new AtomicIntegerArray(10);
            pool.forTasks(10, (t, w) -> hits.incrementAndGet(t));
            assertEquals(1, hits.get(9));
        } finally {
            pool.close();
        }
    }
}
