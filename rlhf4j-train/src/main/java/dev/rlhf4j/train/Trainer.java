package dev.rlhf4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.AdamW;
import dev.rlhf4j.tensor.Heap;
import dev.rlhf4j.tensor.GradClip;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The training loop every rlhf4j trainer shares: AdamW with decoupled weight decay (matrices only), linear warm-up
 * then constant/linear/cosine decay, gradient accumulation (inside the objective's step), global-norm clipping, a
 * NaN/Inf guard that skips the update and aborts after several in a row, evaluation every {@code eval_steps},
 * atomic checkpoints every {@code save_steps} and at the end (keeping the last {@code save_total_limit}),
 * bit-identical {@code --resume}, a progress line, one JSONL metrics record per step ({@code metrics.jsonl}, TRL's
 * names) and a summary ({@code train_results.json}). The final model goes to the output directory as an HF model.
 */
public final class Trainer {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a trainer writes into its output directory (what {@code --overwrite} deletes). */
    public static final List<String> OUTPUTS = outputs();

    private static List<String> outputs() {
        List<String> o = new ArrayList<>(List.of("checkpoint-[0-9]*", ".checkpoint-[0-9]*.tmp", "metrics.jsonl",
                ".metrics.jsonl.tmp", "train_results.json"));
        o.addAll(RunDirectory.HF_MODEL_FILES);
        return List.copyOf(o);
    }

    /** The output directory's kind for a trainer run by the command {@code name} ({@code sft}, ...). */
    public static RunDirectory.Kind kind(String name) {
        return new RunDirectory.Kind(name, true, OUTPUTS);
    }

    /** The outcome of a run. */
    public record Result(int steps, double trainLoss, Map<String, Double> eval, double seconds, long tokens,
                         int skippedUpdates, Path output) {
        public double tokensPerSecond() {
            return seconds > 0 ? tokens / seconds : 0;
        }
    }

    private final TrainingConfig cfg;
    private final Objective objective;
    private final PrintWriter console;

    /** {@code console} receives the progress line and the summary (the CLI passes standard error). */
    public Trainer(TrainingConfig cfg, Objective objective, PrintWriter console) {
        this.cfg = cfg;
        this.objective = objective;
        this.console = console;
    }

    /** The optimizer steps of this run. */
    public int totalSteps() {
        if (cfg.maxSteps() > 0) {
            return cfg.maxSteps();
        }
        return (int) Math.max(1, Math.ceil(cfg.numTrainEpochs() * objective.stepsPerEpoch()));
    }

    /**
     * Refuses, before anything is written or allocated, a run whose gradients and AdamW moments (three more copies of
     * each trained model's parameters) do not fit in the heap that is left: one line with the sizes and the flag that
     * gives Java more, rather than an {@link OutOfMemoryError} at the first step.
     */
    public static void requireTrainingMemory(Transformer... trained) {
        long parameters = 0, bytes = 0;
        for (Transformer m : trained) {
            parameters += m.parameterCount();
            bytes += 2 * 4 * m.parameterCount() + (m.gradientBytes() == 0 ? 4 * m.parameterCount() : 0);
        }
        Heap.require(bytes, "the gradients and AdamW moments of %,d trained parameters", parameters);
    }

    /**
     * Trains in the configured output directory, locked for the run; with {@code resume}, continues the run found
     * there (checked against this configuration's fingerprint), else the directory must be empty or new.
     */
    public Result train(boolean resume) throws IOException {
        try (RunDirectory run = RunDirectory.open(cfg.outputDir(), kind("train"),
                resume ? RunDirectory.Start.RESUME : RunDirectory.Start.NEW, console)) {
            run.verify(cfg.fingerprint(), false);
            return train(run);
        }
    }

    /**
     * Trains in an opened (locked, checked) output directory: from the newest checkpoint when the run continues one
     * found there. A run that had already finished is left as it is: nothing is trained or written.
     */
    public Result train(RunDirectory run) throws IOException {
        Path out = cfg.outputDir();
        if (!run.dir().toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize())) {
            throw new IllegalArgumentException("the run directory " + run.dir() + " is not the configured output "
                    + "directory " + out);
        }
        Transformer model = objective.model();
        requireTrainingMemory(model);
        AdamW opt = new AdamW(new AdamW.Config((float) cfg.adamBeta1(), (float) cfg.adamBeta2(),
                (float) cfg.adamEpsilon(), (float) cfg.weightDecay()), model.params());
        int total = totalSteps();
        LrSchedule schedule = new LrSchedule(cfg.lrSchedulerType(), cfg.learningRate(), cfg.warmup(total), total);
        int step = 0;
        DataCursor cursor = new DataCursor(0, 0);
        long tokens = 0;
        double lossSum = 0;
        int lossSteps = 0, skipped = 0;
        Map<String, Double> lastEval = Map.of();
        Path metricsFile = out.resolve("metrics.jsonl");
        Optional<Path> latest = run.resumed() ? Checkpoints.latest(out) : Optional.empty();
        if (latest.isPresent()) {
            int at = Checkpoints.readState(latest.get()).path("global_step").asInt();
            if (at > total) {
                throw new IllegalArgumentException(latest.get() + " is at step " + at + ", past this run's " + total
                        + " steps; raise --max-steps or --num-train-epochs to continue it, or --overwrite to start "
                        + "over");
            }
            if (at == total && run.previousFinished()) {
                console.printf("%s: the run is already finished (step %d of %d); nothing to do%n", out, at, total);
                console.flush();
                return finishedResult(out, at);
            }
            Checkpoints.State s = Checkpoints.load(latest.get(), model.params(), opt);
            step = s.globalStep();
            cursor = new DataCursor(s.epoch(), s.position());
            tokens = s.tokens();
            lossSum = s.lossSum();
            lossSteps = s.lossSteps();
            Checkpoints.trimMetrics(metricsFile, step);
            // what the summary reports is restored from the steps already done (a run killed after its last step)
            for (JsonNode line : Checkpoints.readMetrics(metricsFile)) {
                skipped += line.path("skipped").asBoolean() ? 1 : 0;
                Map<String, Double> eval = new LinkedHashMap<>();
                line.fields().forEachRemaining(e -> {
                    if (e.getKey().startsWith("eval_")) {
                        eval.put(e.getKey(), e.getValue().asDouble());
                    }
                });
                lastEval = eval.isEmpty() ? lastEval : eval;
            }
            console.printf("resuming from %s (step %d of %d)%n", latest.get(), step, total);
        } else {
            if (run.resumed() && run.previousFinished()) {
                throw new IllegalArgumentException(out + ": the run finished but has no checkpoint left to continue "
                        + "from; pass --overwrite to train again");
            }
            if (run.resumed()) {
                console.printf("%s: no checkpoint yet; starting from step 0%n", out);
            }
            Files.deleteIfExists(metricsFile);
        }
        run.markRunning(step);
        Progress progress = new Progress(console, total, cfg.loggingSteps());
        int consecutiveSkips = 0;
        long runStart = System.nanoTime();
        long runTokens = 0;
        try (BufferedWriter metrics = Files.newBufferedWriter(metricsFile, StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
            while (step < total) {
                double lr = schedule.at(step);
                long t0 = System.nanoTime();
                model.zeroGrad();
                Objective.StepResult r = objective.trainStep(cursor);
                double norm = cfg.maxGradNorm() > 0 ? GradClip.clip(model.grads(), cfg.maxGradNorm())
                        : GradClip.globalNorm(model.grads());
                boolean finite = Double.isFinite(r.loss()) && Double.isFinite(norm);
                if (finite) {
                    opt.update(model.params(), model.grads(), (float) lr);
                    consecutiveSkips = 0;
                    lossSum += r.loss();
                    lossSteps++;
                } else {
                    skipped++;
                    consecutiveSkips++;
                    console.printf("%nstep %d: loss %s, gradient norm %s: update skipped (%d in a row)%n", step + 1,
                            r.loss(), norm, consecutiveSkips);
                    if (consecutiveSkips >= cfg.maxConsecutiveNanSkips()) {
                        throw new IllegalStateException("training diverged: " + consecutiveSkips
                                + " updates in a row had a NaN or infinite loss or gradient (step " + (step + 1)
                                + "); lower the learning rate or check the data. The last checkpoint is intact.");
                    }
                }
                double seconds = (System.nanoTime() - t0) / 1e9;
                step++;
                tokens += r.tokens();
                runTokens += r.tokens();
                ObjectNode line = JSON.createObjectNode();
                line.put("step", step);
                line.put("epoch", cursor.epoch() + (objective.examplesPerEpoch() == 0 ? 0.0
                        : (double) cursor.position() / objective.examplesPerEpoch()));
                line.put("loss", r.loss());
                line.put("learning_rate", lr);
                line.put("grad_norm", norm);
                line.put("tokens_per_s", r.tokens() / seconds);
                line.put("num_tokens", tokens);
                line.put("step_s", seconds);
                objective.stepMetrics().forEach(line::put);
                if (!finite) {
                    line.put("skipped", true);
                }
                boolean last = step == total;
                if ((cfg.evalSteps() > 0 && step % cfg.evalSteps() == 0) || last) {
                    lastEval = objective.evaluate();
                    lastEval.forEach(line::put);
                }
                metrics.write(JSON.writeValueAsString(line));
                metrics.newLine();
                metrics.flush();
                progress.update(step, r.loss(), lr, r.tokens() / seconds, lastEval.get("eval_loss"));
                if ((cfg.saveSteps() > 0 && step % cfg.saveSteps() == 0) || last) {
                    Checkpoints.save(out, new Checkpoints.State(step, cursor.epoch(), cursor.position(), opt.step(),
                            tokens, lossSum, lossSteps), model.params(), opt, cfg.saveTotalLimit());
                }
            }
        }
        progress.finish();
        objective.saveModel(out);
        double seconds = (System.nanoTime() - runStart) / 1e9;
        Result result = new Result(step, lossSteps == 0 ? Double.NaN : lossSum / lossSteps, lastEval, seconds,
                runTokens, skipped, out);
        writeSummary(out, result);
        run.markFinished(step);
        console.printf("done: %d steps, train loss %.4f%s, %.1f s, %.0f tokens/s; model in %s%n", result.steps(),
                result.trainLoss(), lastEval.containsKey("eval_loss")
                        ? String.format(", eval loss %.4f (perplexity %.2f)", lastEval.get("eval_loss"),
                        Math.exp(lastEval.get("eval_loss"))) : "",
                seconds, result.tokensPerSecond(), out);
        console.flush();
        return result;
    }

    /** A finished run's result as its train_results.json gives it (this process trained nothing). */
    private static Result finishedResult(Path out, int step) throws IOException {
        Path f = out.resolve("train_results.json");
        JsonNode r = Files.exists(f) ? JSON.readTree(f.toFile()) : JSON.createObjectNode();
        Map<String, Double> eval = new LinkedHashMap<>();
        r.fields().forEachRemaining(e -> {
            if (e.getKey().startsWith("eval_") && e.getValue().isNumber()) {
                eval.put(e.getKey(), e.getValue().asDouble());
            }
        });
        return new Result(step, r.path("train_loss").asDouble(Double.NaN), eval, 0, 0,
                r.path("skipped_updates").asInt(), out);
    }

    private static void writeSummary(Path out, Result r) {
        ObjectNode o = JSON.createObjectNode();
        o.put("global_step", r.steps());
        o.put("train_loss", r.trainLoss());
        o.put("train_runtime_s", r.seconds());
        o.put("train_tokens_per_s", r.tokensPerSecond());
        o.put("skipped_updates", r.skippedUpdates());
        r.eval().forEach(o::put);
        try {
            Files.writeString(out.resolve("train_results.json"),
                    JSON.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(o));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
