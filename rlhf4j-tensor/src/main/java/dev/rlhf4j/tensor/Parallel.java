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
 *
 * <p>A region ends when all its tasks have run, whoever ran them: the caller does not wait for workers that
 * took none. A worker that wakes late (descheduled on a busy machine, or still parked) finds nothing left and costs
 * the caller nothing; waiting for every worker to check in would stall each region for a scheduler time slice
 * whenever the cores are shared.
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

    /** The latest parallel region (a new object for each, so a late worker never mistakes one for another). */
    private volatile Region current;
    private volatile boolean shutdown;

    /** One parallel region: its tasks are handed out in order, and it ends when {@code done} reaches the count. */
    private static final class Region {
        /** Cleared when the region ends, so the pool does not keep what the body refers to alive. */
        private TaskBody body;
        private final int tasks;
        private final AtomicInteger next = new AtomicInteger();
        private final AtomicInteger done = new AtomicInteger();
        private volatile Throwable failure;

        Region(TaskBody body, int tasks) {
            this.body = body;
            this.tasks = tasks;
        }

        /** Runs tasks until none is left, then counts them (and any cancelled by a failure) as done. */
        void drain(int worker) {
            int finished = 0, t;
            while ((t = next.getAndIncrement()) < tasks) {
                try {
                    body.run(t, worker);
                } catch (Throwable e) {
                    failure = e;
                    int unclaimed = next.getAndSet(tasks); // stop handing out tasks; those never start
                    finished += Math.max(0, tasks - unclaimed);
                }
                finished++;
            }
            if (finished > 0) {
                done.addAndGet(finished); // publishes this worker's outputs to the caller
            }
        }
    }

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
            Region r = new Region(body, tasks);
            current = r; // volatile write publishes the region
            for (Thread w : workers) {
                LockSupport.unpark(w);
            }
            r.drain(0);
            for (int spins = 0; r.done.get() < tasks; spins++) {
                if (spins < 100_000) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield(); // a worker running a task was descheduled: give it the core
                }
            }
            r.body = null; // every task has run: no worker reads it any more
            Throwable f = r.failure;
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

    private void workerLoop(int worker) {
        inRegion.set(Boolean.TRUE);
        Region seen = null;
        while (!shutdown) {
            Region r = current;
            if (r != seen) {
                seen = r;
                r.drain(worker);
                continue;
            }
            long spinStart = System.nanoTime();
            while (current == seen && !shutdown && System.nanoTime() - spinStart < SPIN_NANOS) {
                Thread.onSpinWait();
            }
            if (current == seen && !shutdown) {
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
