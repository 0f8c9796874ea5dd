package dev.rlhf4j.spark.dp;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.tensor.UserStateError;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.RunFingerprint;
import dev.rlhf4j.train.Trainer;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.Serializable;
import java.io.StringWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Data-parallel training on Spark: one barrier stage of N tasks ({@code rdd.barrier()}), each a replica holding its
 * own copy of the model, built from the same paths and settings ({@link Job}); every optimizer step, each replica
 * computes the gradient of its share of the step's micro-batches and the replicas sum them
 * ({@link RingAllReduce} or {@link AllGatherReducer}) before clipping and the update, so that the N replicas train
 * one model exactly as one process would with the whole batch (to float rounding: only the order in which the
 * gradients are added differs). Replica 0 writes the run directory as the single-process command does (metrics,
 * checkpoints, the final model); the others write nothing.
 *
 * <p>Resume and retry: the driver checks the output directory first (new, {@code --resume} or
 * {@code --overwrite}, the fingerprint), then replica 0 continues whatever run is there from its newest checkpoint
 * and tells the others which one, so every replica starts from the same weights, optimizer moments and data
 * position. When a task fails (a lost executor), Spark kills and reruns the whole barrier stage; the rerun continues
 * from the last checkpoint the failed attempt wrote, which gives the same result as an unfailed run (checkpoints
 * hold everything a step depends on). Checkpoints are read by every replica, so the output directory must be on
 * storage all executors share (any path in local mode).
 */
public final class DataParallelTraining {

    /** How the replicas sum their gradients. */
    public enum Reduction {
        /** {@link RingAllReduce}: sockets between the tasks, 2(N − 1)/N of the gradient sent per replica. */
        RING,
        /** {@link AllGatherReducer}: Spark's barrier {@code allGather}, every gradient through the driver. */
        ALL_GATHER
    }

    /**
     * One data-parallel run as every replica builds it on its executor: serialisable, with paths as strings, read
     * at the same paths everywhere.
     */
    public interface Job extends Serializable {
        /** Replicas (tasks of the barrier stage); the cluster needs as many free task slots at once. */
        int replicas();

        /** The output directory. */
        String outputDir();

        /** What writes the output directory ({@code Trainer.kind("sft")}, say). */
        RunDirectory.Kind kind();

        /** The settings and inputs {@code --resume} checks. */
        RunFingerprint fingerprint();

        /**
         * Builds one replica's trainer (its model, data and objective), writing nothing; its configuration's
         * {@code gradient_accumulation_steps} is the whole step's, over all replicas.
         */
        Trainer trainer(PrintWriter console) throws IOException;
    }

    /** Called in each task before each of its gradient sums (tests fail an attempt with it). */
    @FunctionalInterface
    public interface FaultHook extends Serializable {
        /** {@code sums}: this task's gradient sums so far (1 before the first). */
        void beforeGradientSum(int replica, int sums);
    }

    /**
     * How to run a job.
     *
     * @param reduction    how gradients are summed
     * @param start        what the output directory may hold ({@code --resume}, {@code --overwrite})
     * @param allowChanges resume even when settings changed (recorded in the run's history)
     * @param timeout      how long a replica waits for another at a gradient sum before failing (the ring's
     *                     sockets; the all-gather waits as long as {@code spark.barrier.sync.timeout})
     * @param hook         run before each gradient sum; null for none
     */
    public record Options(Reduction reduction, RunDirectory.Start start, boolean allowChanges, Duration timeout,
                          FaultHook hook) implements Serializable {
        /** A new run with the ring all-reduce and a 30-minute timeout. */
        public static Options defaults() {
            return new Options(Reduction.RING, RunDirectory.Start.NEW, false, Duration.ofMinutes(30), null);
        }

        public Options with(Reduction r) {
            return new Options(r, start, allowChanges, timeout, hook);
        }

        public Options with(RunDirectory.Start s) {
            return new Options(reduction, s, allowChanges, timeout, hook);
        }

        public Options with(FaultHook h) {
            return new Options(reduction, start, allowChanges, timeout, h);
        }
    }

    /**
     * What the run did, as replica 0 reports it.
     *
     * @param steps            optimizer steps in total
     * @param trainLoss        mean training loss over the steps
     * @param eval             the last held-out metrics
     * @param seconds          seconds replica 0 trained in the stage attempt that finished
     * @param tokens           tokens trained on in that attempt, over all replicas
     * @param skippedUpdates   updates skipped for a NaN or infinite loss or gradient
     * @param output           the output directory
     * @param gradientSums     replica 0's gradient sums in that attempt (one per parameter chunk and step)
     * @param sumSeconds       seconds they took on replica 0 (waiting for the slowest replica included)
     * @param bytesSent        bytes replica 0 sent for them
     * @param stageAttempt     which attempt of the barrier stage finished (0: no task failed)
     */
    public record Outcome(int steps, double trainLoss, Map<String, Double> eval, double seconds, long tokens,
                          int skippedUpdates, String output, long gradientSums, double sumSeconds, long bytesSent,
                          int stageAttempt) implements Serializable {
    }

    /**
     * What a replica returns: replica 0's outcome, or a user's error (a bad input, a run that cannot continue),
     * which Spark would not report by its message, and which a rerun would only repeat.
     */
    private record Returned(Outcome outcome, String error, boolean stateError) implements Serializable {
    }

    private DataParallelTraining() {
    }

    /**
     * Runs {@code job} as a barrier stage of {@code job.replicas()} tasks and waits for it. User errors (a bad path,
     * a run that cannot be resumed) are raised as {@link UserError}s with their own message.
     */
    public static Outcome run(SparkSession spark, Job job, Options options, PrintWriter console) throws IOException {
        int n = job.replicas();
        if (n < 1) {
            throw new UserError("replicas must be at least 1, got " + n);
        }
        // the directory is checked here, before any task starts; replica 0 then continues whatever run is there
        Path out = Path.of(job.outputDir());
        try (RunDirectory run = RunDirectory.open(out, job.kind(), options.start(), console)) {
            run.verify(job.fingerprint(), options.allowChanges());
            if (!run.resumed()) {
                run.markRunning(0); // a run record: what replica 0 resumes (even before its first checkpoint)
            }
        }
        JavaSparkContext sc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        try {
            sc.setJobDescription("data-parallel " + job.kind().name() + ": " + n + " replicas, " + out);
            List<Returned> returned = BarrierStage.run(sc, n, Returned.class,
                    task -> replica(job, options, task));
            Outcome o = null;
            for (Returned r : returned) {
                if (r.error() != null) {
                    throw r.stateError() ? new UserStateError(r.error()) : new UserError(r.error());
                }
                o = r.outcome();
            }
            if (o == null) {
                throw new IllegalStateException("replica 0 returned no outcome");
            }
            console.printf("done: %d steps on %d replicas, train loss %.4f, %.1f s; %d gradient sums took %.2f s "
                    + "(%,d bytes sent by replica 0); model in %s%n", o.steps(), n, o.trainLoss(), o.seconds(),
                    o.gradientSums(), o.sumSeconds(), o.bytesSent(), o.output());
            console.flush();
            return o;
        } catch (UserError | UserStateError e) {
            throw e;
        } catch (Exception e) { // Spark throws its (checked) SparkException undeclared
            for (Throwable c = e; c != null; c = c.getCause()) {
                if (c instanceof UserError u) {
                    throw new UserError("on a Spark executor: " + u.getMessage());
                }
            }
            throw new IllegalStateException("data-parallel " + job.kind().name() + " failed: " + e.getMessage(), e);
        }
    }

    /**
     * One replica: builds its trainer, agrees with the others that all could, trains; replica 0 reports. A user's
     * error is returned (as the replicas return together, none is left waiting); any other error fails the task,
     * and Spark reruns the stage.
     */
    private static Returned replica(Job job, Options options, BarrierTaskContext task) throws IOException {
        int replica = task.partitionId();
        BarrierReducer reducer = options.reduction() == Reduction.RING
                ? RingAllReduce.open(task, options.timeout()) : new AllGatherReducer(task);
        RunDirectory run = null;
        try {
            PrintWriter console = new PrintWriter(new StringWriter());
            Trainer trainer = null;
            RuntimeException userError = null;
            try {
                trainer = job.trainer(console).dataParallel(options.hook() == null ? reducer
                        : new Hooked(reducer, options.hook()));
                if (replica == 0) {
                    // the driver checked the directory; whether new or resumed, there is a run to continue now
                    run = RunDirectory.open(Path.of(job.outputDir()), job.kind(), RunDirectory.Start.RESUME,
                            console);
                    run.verify(job.fingerprint(), options.allowChanges());
                }
            } catch (UserError | UserStateError e) {
                userError = e;
            }
            // no replica trains unless all could start: a replica's error is the run's, the others stop
            double failed = reducer.sum(new double[] {userError == null ? 0 : 1})[0];
            if (userError != null) {
                return new Returned(null, userError.getMessage(), userError instanceof UserStateError);
            }
            if (failed > 0) {
                return null;
            }
            try {
                if (replica != 0) {
                    trainer.follow();
                    return null;
                }
                Trainer.Result r = trainer.train(run);
                return new Returned(new Outcome(r.steps(), r.trainLoss(), new LinkedHashMap<>(r.eval()), r.seconds(),
                        r.tokens(), r.skippedUpdates(), r.output().toString(), reducer.sums(), reducer.seconds(),
                        reducer.bytesSent(), task.stageAttemptNumber()), null, false);
            } catch (UserError | UserStateError e) {
                // the same on every replica (a diverged run, say): rerunning would only repeat it
                return new Returned(null, e.getMessage(), e instanceof UserStateError);
            }
        } finally {
            if (run != null) {
                run.close();
            }
            reducer.close();
        }
    }

    /** A reducer that runs the fault hook before each gradient sum. */
    private static final class Hooked implements dev.rlhf4j.train.GradientReducer {
        private final BarrierReducer inner;
        private final FaultHook hook;
        private int sums;

        Hooked(BarrierReducer inner, FaultHook hook) {
            this.inner = inner;
            this.hook = hook;
        }

        @Override
        public int replica() {
            return inner.replica();
        }

        @Override
        public int replicas() {
            return inner.replicas();
        }

        @Override
        public void sum(float[] data, int from, int length) {
            hook.beforeGradientSum(inner.replica(), ++sums);
            inner.sum(data, from, length);
        }

        @Override
        public double[] sum(double[] values) {
            return inner.sum(values);
        }
    }
}
