package dev.rlhf4j.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The one thread pool of rlhf4j, sized to the cores (or to {@code -Drlhf4j.threads=N}).
 *
 * <p>Kernels split their work into tasks whose decomposition never depends on which thread runs them: each task
 * writes its own slice of the output, and reductions keep one partial result per task, combined in task order.
 * That makes every result bit-identical for the same inputs and thread count, whatever the scheduling.
 *
 * <p>Workers spin briefly after each parallel region (kernels come in quick succession during a training step)
 * and then park. A parallel region entered from inside another one, or from a second thread while the pool is
 * busy, runs its tasks serially on the calling thread; the results are the same.
 */
public final class Parallel {

    /** Body of a parallel loop over tasks {@code [0, tasks)}; {@code worker} is in {@code [0, threads)}. */
    @FunctionalInterface
    public interface TaskBody {
        void run(int task, int worker);
    }

    /** Body of a parallel loop over a range split into contiguous parts: {@code [lo, hi)}. */
    @FunctionalInterface
    public interface RangeBody {
        void run(int lo, int hi);
    }

    private static final long SPIN_NANOS = 200_000L;
    /** Units of work (about one float operation each) below which a range is not split. */
    public static final int GRAIN = 1 << 15;
    private static volatile Parallel global;

    private final int threads;
    private final Thread[] workers;
    private final ReentrantLock regionLock = new ReentrantLock();
    private final ThreadLocal<Boolean> inRegion = ThreadLocal.withInitial(() -> Boolean.FALSE);

    // State of the current parallel region, published through the volatile generation counter.
    private TaskBody body;
    private int taskCount;
    private final AtomicInteger nextTask = new AtomicInteger();
    private final AtomicInteger finishedWorkers = new AtomicInteger();
    private volatile long generation;
    private volatile Throwable failure;
    private volatile boolean shutdown;

    public Parallel(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("thread count must be at least 1, got " + threads);
        }
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            int worker = i + 1;
            Thread t = Thread.ofPlatform().daemon().name("rlhf4j-worker-" + worker).unstarted(() -> workerLoop(worker));
            workers[i] = t;
            t.start();
        }
    }

    /** The shared pool. Its size is {@code -Drlhf4j.threads}, else the number of available processors. */
    public static Parallel global() {
        Parallel p = global;
        if (p == null) {
            synchronized (Parallel.class) {
                p = global;
                if (p == null) {
                    p = new Parallel(defaultThreads());
                    global = p;
                }
            }
        }
        return p;
    }

    /** Replaces the shared pool with one of {@code threads} threads (for benchmarks and the CLI's --threads). */
    public static synchronized void setGlobalThreads(int threads) {
        Parallel old = global;
        if (old != null && old.threads == threads) {
            return;
        }
        global = new Parallel(threads);
        if (old != null) {
            old.close();
        }
    }

    static int defaultThreads() {
        String prop = System.getProperty("rlhf4j.threads");
        if (prop != null && !prop.isBlank()) {
            try {
                int n = Integer.parseInt(prop.trim());
                if (n >= 1) {
                    return n;
                }
            } catch (NumberFormatException ignored) {
                // fall through to the error below
            }
            throw new IllegalArgumentException("-Drlhf4j.threads must be a positive integer, got '" + prop + "'");
        }
        return Runtime.getRuntime().availableProcessors();
    }

    public int threads() {
        return threads;
    }

    /**
     * Runs {@code body} once for every task in {@code [0, tasks)}, spread over the pool. Tasks must write
     * disjoint outputs.
     */
    public void forTasks(int tasks, TaskBody body) {
        if (tasks <= 0) {
            return;
        }
        if (tasks == 1 || threads == 1 || inRegion.get() || !regionLock.tryLock()) {
            runSerially(tasks, body);
            return;
        }
        try {
            inRegion.set(Boolean.TRUE);
            this.body = body;
            this.taskCount = tasks;
            this.failure = null;
            nextTask.set(0);
            finishedWorkers.set(0);
            generation = generation + 1; // volatile write publishes body and taskCount
            for (Thread w : workers) {
                LockSupport.unpark(w);
            }
            drainTasks(0);
            for (int spins = 0; finishedWorkers.get() < workers.length; spins++) {
                if (spins < 100_000) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield(); // a worker was descheduled: give it the core
                }
            }
            this.body = null;
            Throwable f = failure;
            if (f != null) {
                rethrow(f);
            }
        } finally {
            inRegion.set(Boolean.FALSE);
            regionLock.unlock();
        }
    }

    /**
     * Splits {@code [0, n)} into at most {@code threads} contiguous parts of nearly equal size, each worth at least
     * {@link #GRAIN} units of work when an item costs {@code workPerItem} (e.g. a row's length): a parallel region
     * costs a microsecond or two, more than a small row loop.
     */
    public void forRange(int n, int workPerItem, RangeBody body) {
        long byWork = Math.max(1, (long) n * Math.max(1, workPerItem) / GRAIN);
        int parts = (int) Math.min(Math.min(n, threads), byWork);
        forTasks(parts, (task, worker) -> {
            long lo = (long) n * task / parts;
            long hi = (long) n * (task + 1) / parts;
            body.run((int) lo, (int) hi);
        });
    }

    /**
     * Splits {@code [0, n)} into blocks of {@code block} items (the last may be shorter). The decomposition
     * depends only on {@code n} and {@code block}, never on the thread count, so per-block partial sums combined
     * in block order give the same bits on any number of threads.
     */
    public void forBlocks(int n, int block, TaskBody body) {
        int blocks = (n + block - 1) / block;
        forTasks(blocks, body);
    }

    private void runSerially(int tasks, TaskBody body) {
        boolean outer = !inRegion.get();
        if (outer) {
            inRegion.set(Boolean.TRUE);
        }
        try {
            for (int t = 0; t < tasks; t++) {
                body.run(t, 0);
            }
        } finally {
            if (outer) {
                inRegion.set(Boolean.FALSE);
            }
        }
    }

    private void drainTasks(int worker) {
        TaskBody b = body;
        int n = taskCount;
        int t;
        while ((t = nextTask.getAndIncrement()) < n) {
            try {
                b.run(t, worker);
            } catch (Throwable e) {
                failure = e;
                nextTask.set(n); // stop handing out tasks
            }
        }
    }

    private void workerLoop(int worker) {
        inRegion.set(Boolean.TRUE);
        long seen = 0;
        while (!shutdown) {
            long g = generation;
            if (g != seen) {
                seen = g;
                drainTasks(worker);
                finishedWorkers.incrementAndGet();
                continue;
            }
            long spinStart = System.nanoTime();
            while (generation == seen && !shutdown && System.nanoTime() - spinStart < SPIN_NANOS) {
                Thread.onSpinWait();
            }
            if (generation == seen && !shutdown) {
                LockSupport.park(this);
            }
        }
    }

    /** Stops the workers; the pool must not be used afterwards. */
    public void close() {
        regionLock.lock();
        try {
            shutdown = true;
            for (Thread w : workers) {
                LockSupport.unpark(w);
            }
        } finally {
            regionLock.unlock();
        }
    }

    private static void rethrow(Throwable t) {
        if (t instanceof RuntimeException re) {
            throw re;
        }
        if (t instanceof Error err) {
            throw err;
        }
        throw new IllegalStateException(t);
    }
}
