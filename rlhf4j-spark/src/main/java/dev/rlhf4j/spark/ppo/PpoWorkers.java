package dev.rlhf4j.spark.ppo;

import dev.rlhf4j.train.ppo.PpoTrainer;
import dev.rlhf4j.train.ppo.RolloutChunk;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.function.Supplier;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An executor's copies of a PPO run's models, built once per JVM from the run's {@link PpoWorkerSpec} and kept from
 * step to step; each step only the weights training changed arrive (a broadcast, read once per executor). A copy
 * computes one chunk at a time (its forward passes reuse their activation buffers), so an executor running several
 * tasks at once builds one copy per task slot. Only one run's copies are kept: a new run id drops the others.
 */
final class PpoWorkers {
    private static final Object LOCK = new Object();
    private static final Deque<Worker> IDLE = new ArrayDeque<>();
    private static final AtomicInteger BUILT = new AtomicInteger();
    private static String runId;

    private PpoWorkers() {
    }

    /** One copy of the models, and the weight version it holds. */
    private static final class Worker {
        final PpoTrainer trainer;
        int version = -1;

        Worker(PpoTrainer trainer) {
            this.trainer = trainer;
        }
    }

    /**
     * Computes one chunk on a copy of the run's models holding the {@code broadcast} weights (fetched once the copy
     * is built); {@code weightNanos[0]} gets the time spent writing them into the copy (0 when it held them).
     */
    static RolloutChunk compute(PpoWorkerSpec spec, Supplier<RolloutWeights> broadcast, int step, int from,
                                int[] prompts, long[] weightNanos) {
        Worker w = borrow(spec);
        try {
            RolloutWeights weights = broadcast.get();
            if (!spec.runId().equals(weights.runId())) {
                throw new IllegalStateException("weights of run " + weights.runId() + " sent to run " + spec.runId());
            }
            if (w.version != weights.version()) {
                long t0 = System.nanoTime();
                weights.copyInto(w.trainer.rolloutWeights());
                w.trainer.rolloutWeightsChanged();
                w.version = weights.version();
                weightNanos[0] += System.nanoTime() - t0;
            }
            return w.trainer.rolloutChunk(step, from, prompts);
        } finally {
            giveBack(spec, w);
        }
    }

    /** How many copies of a run's models this JVM has built (for tests and the job's summary). */
    static int built() {
        return BUILT.get();
    }

    private static Worker borrow(PpoWorkerSpec spec) {
        synchronized (LOCK) {
            if (!spec.runId().equals(runId)) {
                IDLE.clear();
                runId = spec.runId();
            }
            Worker w = IDLE.poll();
            if (w != null) {
                return w;
            }
        }
        try {
            Worker w = new Worker(spec.build());
            BUILT.incrementAndGet();
            return w;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void giveBack(PpoWorkerSpec spec, Worker w) {
        synchronized (LOCK) {
            if (spec.runId().equals(runId)) {
                IDLE.push(w);
            }
        }
    }
}
