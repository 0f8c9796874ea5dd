package dev.rlhf4j.train;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.tensor.UserStateError;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.rlhf4j.model.Transformer;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The run loop every rlhf4j trainer shares (supervised, reward model, PPO; DPO and GRPO to come). It owns what
 * is the same for all of them: the output directory's life (a finished run is left alone, an interrupted one
 * continues from its newest checkpoint, a checkpoint past the run's length is refused), the learning rate of each
 * step (warm-up and schedule), the NaN/Inf guard that aborts after {@code max_consecutive_nan_skips} skipped
 * updates in a row, one metrics record per step to the {@link RunReport}s ({@code --report-to}), the progress
 * line, atomic checkpoints every {@code save_steps} and at the end (keeping {@code save_total_limit}), the final
 * models and {@code train_results.json}.
 *
 * <p>A trainer plugs in as {@link Steps}: its models and optimizers (what a checkpoint holds), and a function that
 * runs one optimizer step and returns its metrics record. The loop never touches a gradient.
 *
 * <p>Data-parallel ({@link GradientReducer}): replica 0 runs {@link #run} as {@link #leading} the others, whom it
 * tells before the first step where the run starts (its checkpoint, or that it cannot start); the others run
 * {@link #follow}, which takes the same steps and writes nothing.
 */
public final class TrainingRun {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * What the loop needs of a trainer's configuration.
     *
     * @param outputDir              where checkpoints, metrics and the final models go
     * @param optimizer              the learning-rate schedule (and the optimizers' settings, which the trainer uses)
     * @param saveSteps              checkpoint every this many steps (and always at the end); 0 = only at the end
     * @param saveTotalLimit         checkpoints kept
     * @param loggingSteps           progress lines every this many steps when the console is not a terminal
     * @param maxConsecutiveNanSkips abort after this many skipped updates in a row
     * @param reportTo               {@link RunReport#JSONL} or {@link RunReport#NONE}
     */
    public record Settings(Path outputDir, OptimizerConfig optimizer, int saveSteps, int saveTotalLimit,
                           int loggingSteps, int maxConsecutiveNanSkips, String reportTo) {
    }

    /**
     * What one step did.
     *
     * @param record     its metrics record under TRL's names, in the order metrics.jsonl writes them (after
     *                   {@code step}, which the loop puts first)
     * @param skipped    whether the update was skipped for a NaN or infinite loss or gradient
     * @param skipReason what was not finite, for the console (when skipped)
     * @param progress   the progress line's figures after the bar
     */
    public record Step(Map<String, Object> record, boolean skipped, String skipReason, String progress) {
    }

    /**
     * A trainer as the loop runs it. {@code R} is what its {@code train} returns.
     */
    public interface Steps<R> {

        /** The models that get gradients and AdamW moments (checked against the heap before anything is written). */
        List<Transformer> trained();

        /** Optimizer steps of the run. */
        int totalSteps();

        /** What diverged, for the abort message ({@code training}, {@code PPO}). */
        default String name() {
            return "training";
        }

        /** Other files with one record per step ({@code samples.jsonl}): trimmed on resume like metrics.jsonl. */
        default List<String> perStepFiles() {
            return List.of();
        }

        /**
         * Restores models, optimizers and the data position from a checkpoint, and what the summary needs from the
         * records of the steps done ({@code done}: metrics.jsonl up to the checkpoint; empty without one).
         */
        void restore(Path checkpoint, JsonNode state, List<JsonNode> done) throws IOException;

        /** Called once before the first step of this process (a line about what is trained, say). */
        default void starting(PrintWriter console, int total) {
        }

        /**
         * Runs optimizer step {@code step} (0-based) at learning rate {@code lr}: forward, backward and the update
         * (or no update, reported as skipped, when the loss or a gradient is not finite).
         */
        Step step(int step, double lr) throws IOException;

        /** Called after step {@code step} (1-based) was recorded, before its checkpoint (samples, say). */
        default void recorded(int step) throws IOException {
        }

        /** Writes {@code checkpoint-<step>} (models, optimizers, counters) through {@link Checkpoints}. */
        void checkpoint(Path outputDir, int step, int skippedUpdates, int keep) throws IOException;

        /** Writes the trained models for use elsewhere (HF directories). */
        void saveModels(Path outputDir) throws IOException;

        /** The outcome of a run that ran {@code steps} steps (in total) in {@code seconds} (this process). */
        R result(int steps, double seconds, int skippedUpdates);

        /** What train_results.json holds, in order. */
        Map<String, Object> summary(R result);

        /** The console's last line. */
        void done(PrintWriter console, R result);

        /** A finished run's result as its train_results.json ({@code results}; empty when absent) gives it. */
        R finished(int step, JsonNode results);
    }

    private final Settings settings;
    private final PrintWriter console;
    private GradientReducer replicas;

    /** {@code console} receives the progress line and the summary (the CLI passes standard error). */
    public TrainingRun(Settings settings, PrintWriter console) {
        this.settings = settings;
        this.console = console;
    }

    /**
     * Runs {@code steps} in an opened (locked, checked) output directory: from the newest checkpoint when the run
     * continues one found there. A run that had already finished is left as it is: nothing is trained or written.
     * As replica 0 of a data-parallel run ({@link #leading}), first tells the other replicas where to start.
     */
    public <R> R run(RunDirectory run, Steps<R> steps) throws IOException {
        Begin begin;
        try {
            begin = begin(run, steps);
        } catch (IOException | RuntimeException | Error e) {
            // the other replicas stop rather than wait for steps that will never come; this error is the run's
            tell(FAILED, 0, e);
            throw e;
        }
        Path out = settings.outputDir();
        if (begin.finished()) {
            tell(FINISHED, begin.step(), null);
            Path f = out.resolve("train_results.json");
            return steps.finished(begin.step(), Files.exists(f) ? JSON.readTree(f.toFile())
                    : JSON.createObjectNode());
        }
        tell(START, begin.step(), null);
        try (RunReport report = RunReport.open(settings.reportTo(), out, begin.step())) {
            R result = loop(steps, begin.step(), begin.skipped(), report);
            run.markFinished(steps.totalSteps());
            steps.done(console, result);
            console.flush();
            return result;
        }
    }

    /**
     * Sets the replicas that replica 0 of a data-parallel run tells where to start (null, the default: a single
     * process).
     */
    public TrainingRun leading(GradientReducer replicas) {
        this.replicas = replicas;
        return this;
    }

    /**
     * Runs {@code steps} as replica 1 or more of a data-parallel run: from the checkpoint replica 0 names (read from
     * the output directory), through every step with the other replicas, writing nothing. Returns null, having done
     * nothing, when replica 0 could not start the run (its error is the run's) or found it finished.
     */
    public <R> R follow(GradientReducer reducer, Steps<R> steps) throws IOException {
        requireTrainingMemory(steps.trained().toArray(Transformer[]::new));
        double[] told = reducer.sum(new double[2]);
        int what = (int) told[0], step = (int) told[1];
        if (what != START) {
            return null;
        }
        if (step > 0) {
            Path checkpoint = settings.outputDir().resolve("checkpoint-" + step);
            if (!Files.isDirectory(checkpoint)) {
                throw new IllegalStateException("replica " + reducer.replica() + ": replica 0 resumes from "
                        + checkpoint + ", which this replica cannot read (the output directory must be on storage "
                        + "every replica reads)");
            }
            steps.restore(checkpoint, Checkpoints.readState(checkpoint), List.of());
        }
        return loop(steps, step, 0, null);
    }

    /** Where a run starts: a step (0, or a checkpoint's), the skipped updates before it, or already finished. */
    private record Begin(int step, int skipped, boolean finished) {
    }

    /**
     * Checks what the output directory holds against this run and restores the newest checkpoint (or clears the
     * per-step files of a new run), then marks the run as running; nothing is restored for a finished run.
     */
    private <R> Begin begin(RunDirectory run, Steps<R> steps) throws IOException {
        Path out = settings.outputDir();
        if (!run.dir().toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) {
            throw new UserError("the run directory " + run.dir() + " is not the configured output "
                    + "directory " + out);
        }
        requireTrainingMemory(steps.trained().toArray(Transformer[]::new));
        int total = steps.totalSteps();
        List<Path> perStep = perStepFiles(steps);
        int step = 0, skipped = 0;
        Optional<Path> latest = run.resumed() ? Checkpoints.latest(out) : Optional.empty();
        if (latest.isPresent()) {
            JsonNode state = Checkpoints.readState(latest.get());
            int at = state.path("global_step").asInt();
            if (at > total) {
                throw new UserError(latest.get() + " is at step " + at + ", past this run's " + total
                        + " steps; raise --max-steps or --num-train-epochs to continue it, or --overwrite to start "
                        + "over");
            }
            if (at == total && run.previousFinished()) {
                console.printf("%s: the run is already finished (step %d of %d); nothing to do%n", out, at, total);
                console.flush();
                return new Begin(at, 0, true);
            }
            for (Path f : perStep) {
                Checkpoints.trimMetrics(f, at);
            }
            List<JsonNode> done = Checkpoints.readMetrics(perStep.getFirst());
            steps.restore(latest.get(), state, done);
            step = at;
            // the summary counts the skipped updates of the steps already done (a run killed after its last step)
            for (JsonNode line : done) {
                skipped += line.path("skipped").asBoolean() ? 1 : 0;
            }
            console.printf("resuming from %s (step %d of %d)%n", latest.get(), step, total);
        } else {
            if (run.resumed() && run.previousFinished()) {
                throw new UserError(out + ": the run finished but has no checkpoint left to continue "
                        + "from; pass --overwrite to train again");
            }
            if (run.resumed()) {
                console.printf("%s: no checkpoint yet; starting from step 0%n", out);
            }
            for (Path f : perStep) {
                Files.deleteIfExists(f);
            }
        }
        run.markRunning(step);
        return new Begin(step, skipped, false);
    }

    private List<Path> perStepFiles(Steps<?> steps) {
        Path out = settings.outputDir();
        List<Path> perStep = new ArrayList<>(List.of(out.resolve("metrics.jsonl")));
        steps.perStepFiles().forEach(f -> perStep.add(out.resolve(f)));
        return perStep;
    }

    /**
     * The steps from {@code step} to the end: the NaN/Inf guard and the progress line always; with a
     * {@code report} (null for a replica that writes nothing), the records, checkpoints, final models and
     * train_results.json.
     */
    private <R> R loop(Steps<R> steps, int step, int skipped, RunReport report) throws IOException {
        Path out = settings.outputDir();
        int total = steps.totalSteps();
        LrSchedule schedule = settings.optimizer().schedule(total);
        steps.starting(console, total);
        Progress progress = new Progress(console, total, settings.loggingSteps());
        int consecutiveSkips = 0;
        long runStart = System.nanoTime();
        while (step < total) {
            Step s = steps.step(step, schedule.at(step));
            step++;
            if (s.skipped()) {
                skipped++;
                consecutiveSkips++;
                console.printf("%nstep %d: %s; update skipped (%d in a row)%n", step, s.skipReason(),
                        consecutiveSkips);
                if (consecutiveSkips >= settings.maxConsecutiveNanSkips()) {
                    throw new UserStateError(steps.name() + " diverged: " + consecutiveSkips
                            + " updates in a row had a NaN or infinite loss or gradient (step " + step
                            + "); lower the learning rate or check the data. The last checkpoint is intact.");
                }
            } else {
                consecutiveSkips = 0;
            }
            progress.update(step, s.progress());
            if (report == null) {
                continue;
            }
            Map<String, Object> record = new java.util.LinkedHashMap<>();
            record.put("step", step);
            record.putAll(s.record());
            report.step(record);
            steps.recorded(step);
            if ((settings.saveSteps() > 0 && step % settings.saveSteps() == 0) || step == total) {
                steps.checkpoint(out, step, skipped, settings.saveTotalLimit());
            }
        }
        progress.finish();
        if (report != null) {
            steps.saveModels(out);
        }
        R result = steps.result(step, (System.nanoTime() - runStart) / 1e9, skipped);
        if (report != null) {
            Map<String, Object> summary = steps.summary(result);
            Files.writeString(out.resolve("train_results.json"),
                    JSON.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(summary));
            report.summary(summary);
        }
        return result;
    }

    /** What replica 0 tells the others before the first step ({@code [what, step]}, summed over the replicas). */
    private static final int START = 0, FINISHED = 1, FAILED = 2;

    /** Replica 0 tells the other replicas (if any) where the run starts; {@code failure}: why it does not. */
    private void tell(int what, int step, Throwable failure) {
        if (replicas == null) {
            return;
        }
        try {
            replicas.sum(new double[] {what, step});
        } catch (RuntimeException e) {
            if (failure == null) {
                throw e;
            }
            failure.addSuppressed(e);
        }
    }

    /**
     * Refuses, before anything is written or allocated, a run whose gradients and AdamW moments (three more copies of
     * each trained model's parameters; under LoRA, of its adapters) do not fit in the heap that is left: one line with
     * the sizes and the flag that gives Java more, rather than an {@link OutOfMemoryError} at the first step.
     */
    public static void requireTrainingMemory(Transformer... trained) {
        long parameters = 0, bytes = 0;
        for (Transformer m : trained) {
            parameters += m.trainableCount();
            bytes += 2 * 4 * m.trainableCount() + (m.gradientBytes() == 0 ? 4 * m.trainableCount() : 0);
        }
        dev.rlhf4j.tensor.Heap.require(bytes, "the gradients and AdamW moments of %,d trained parameters",
                parameters);
    }
}
