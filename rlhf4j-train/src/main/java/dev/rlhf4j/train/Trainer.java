package dev.rlhf4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.AdamW;
import dev.rlhf4j.tensor.GradClip;
import dev.rlhf4j.tensor.ParamArena;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A trainer of one model by an {@link Objective} (pretraining, SFT, reward models): AdamW with decoupled weight decay
 * (matrices only), global-norm clipping, gradient accumulation (inside the objective's step), evaluation every
 * {@code eval_steps}, one JSONL metrics record per step with TRL's names. Resume, the schedule, the NaN/Inf guard,
 * checkpoints, metrics and the summary are {@link TrainingRun}'s. The final model goes to the output directory as
 * an HF model.
 *
 * <p>Data-parallel ({@link #dataParallel}): each replica computes its share of every step
 * ({@link Objective.Shard}), the gradients, the loss and the token counts are summed over the replicas before
 * clipping, and every replica applies the same update; replica 0 trains through {@link #train(RunDirectory)} and
 * writes the run, the others through {@link #follow()} and write nothing.
 */
public final class Trainer {
    /** What a trainer writes into its output directory (what {@code --overwrite} deletes). */
    public static final List<String> OUTPUTS = outputs();

    private static List<String> outputs() {
        List<String> o = new ArrayList<>(List.of("checkpoint-[0-9]*", ".checkpoint-[0-9]*.tmp", "metrics.jsonl",
                ".metrics.jsonl.tmp", "train_results.json", "events.out.tfevents.*", "report.html"));
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
    private GradientReducer reducer;

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
     * Makes this trainer one replica of a data-parallel run whose gradients {@code reducer} sums (null: a single
     * process, the default). The configuration's {@code gradient_accumulation_steps} is the whole step's, over all
     * replicas: the run is the single-process run with that configuration, its checkpoints interchangeable with
     * that run's.
     */
    public Trainer dataParallel(GradientReducer reducer) {
        this.reducer = reducer;
        return this;
    }

    /**
     * Trains as replica 1 or more of a data-parallel run: starts where replica 0 says (its checkpoint, read from the
     * output directory), takes every step with the others, writes nothing.
     */
    public Result follow() throws IOException {
        if (reducer == null || reducer.replica() == 0) {
            throw new IllegalStateException("follow() is for replicas other than 0 of a data-parallel run");
        }
        return new TrainingRun(cfg.runSettings(), console).follow(reducer, new ObjectiveSteps());
    }

    /** See {@link TrainingRun#requireTrainingMemory}. */
    public static void requireTrainingMemory(Transformer... trained) {
        TrainingRun.requireTrainingMemory(trained);
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
        if (reducer != null && reducer.replica() != 0) {
            throw new IllegalStateException("replica " + reducer.replica() + " writes nothing: it follows replica 0");
        }
        return new TrainingRun(cfg.runSettings(), console).leading(reducer).run(run, new ObjectiveSteps());
    }

    /** An {@link Objective} as the run loop runs it: one AdamW over the model, the step's loss and eval metrics. */
    private final class ObjectiveSteps implements TrainingRun.Steps<Result> {
        private final Transformer model = objective.model();
        private AdamW opt;
        private DataCursor cursor = new DataCursor(0, 0);
        private long tokens, runTokens;
        private double lossSum;
        private int lossSteps;
        private Map<String, Double> lastEval = Map.of();

        @Override
        public List<Transformer> trained() {
            return List.of(model);
        }

        @Override
        public int totalSteps() {
            return Trainer.this.totalSteps();
        }

        private AdamW optimizer() {
            if (opt == null) {
                opt = new AdamW(cfg.optimizer().adamW(), model.trainable());
            }
            return opt;
        }

        @Override
        public void restore(Path checkpoint, JsonNode state, List<JsonNode> done) throws IOException {
            Checkpoints.State s = Checkpoints.load(checkpoint, model.trainable(), optimizer());
            cursor = new DataCursor(s.epoch(), s.position());
            tokens = s.tokens();
            lossSum = s.lossSum();
            lossSteps = s.lossSteps();
            // what the summary reports is restored from the steps already done (a run killed after its last step)
            for (JsonNode line : done) {
                Map<String, Double> eval = new LinkedHashMap<>();
                line.fields().forEachRemaining(e -> {
                    if (e.getKey().startsWith("eval_")) {
                        eval.put(e.getKey(), e.getValue().asDouble());
                    }
                });
                lastEval = eval.isEmpty() ? lastEval : eval;
            }
        }

        @Override
        public TrainingRun.Step step(int step, double lr) {
            AdamW opt = optimizer();
            long t0 = System.nanoTime();
            model.zeroGrad();
            // LoRA dropout: on for the step's forwards, its masks drawn from the seed and the step (so a resumed run
            // draws the same ones), off again for evaluation
            model.train(true);
            model.dropoutSeed(cfg.seed() * 0x9E3779B97F4A7C15L + step);
            Objective.StepResult r = reducer == null ? objective.trainStep(cursor)
                    : objective.trainStep(cursor, new Objective.Shard(reducer.replica(), reducer.replicas()));
            model.train(false);
            Map<String, Double> metrics = objective.stepMetrics();
            double reduceSeconds = 0;
            if (reducer != null) {
                long t1 = System.nanoTime();
                metrics = new LinkedHashMap<>(metrics);
                r = allReduce(r, metrics);
                reduceSeconds = (System.nanoTime() - t1) / 1e9;
            }
            double norm = cfg.maxGradNorm() > 0 ? GradClip.clip(model.grads(), cfg.maxGradNorm())
                    : GradClip.globalNorm(model.grads());
            boolean finite = Double.isFinite(r.loss()) && Double.isFinite(norm);
            if (finite) {
                opt.update(model.trainable(), model.grads(), (float) lr);
                lossSum += r.loss();
                lossSteps++;
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            tokens += r.tokens();
            runTokens += r.tokens();
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("epoch", cursor.epoch() + (objective.examplesPerEpoch() == 0 ? 0.0
                    : (double) cursor.position() / objective.examplesPerEpoch()));
            line.put("loss", r.loss());
            line.put("learning_rate", lr);
            line.put("grad_norm", norm);
            line.put("tokens_per_s", r.tokens() / seconds);
            line.put("num_tokens", tokens);
            line.put("step_s", seconds);
            if (reducer != null) {
                line.put("allreduce_s", reduceSeconds);
            }
            line.putAll(metrics);
            if (!finite) {
                line.put("skipped", true);
            }
            int done = step + 1;
            boolean writes = reducer == null || reducer.replica() == 0; // the others' results are not kept
            if (writes && ((cfg.evalSteps() > 0 && done % cfg.evalSteps() == 0) || done == totalSteps())) {
                lastEval = objective.evaluate();
                line.putAll(lastEval);
            }
            Double evalLoss = lastEval.get("eval_loss");
            String progress = String.format("loss %.4f lr %.2e %.0f tok/s%s", r.loss(), lr, r.tokens() / seconds,
                    evalLoss == null ? "" : String.format(" eval_loss %.4f", evalLoss));
            return new TrainingRun.Step(line, !finite, "loss " + r.loss() + ", gradient norm " + norm, progress);
        }

        /**
         * Sums the replicas' gradients (all chunks of the arena), losses and token counts, and averages the
         * objective's own metrics (in place); returns the whole step's result.
         */
        private Objective.StepResult allReduce(Objective.StepResult r, Map<String, Double> metrics) {
            ParamArena grads = model.grads();
            for (int c = 0; c < grads.chunkCount(); c++) {
                float[] g = grads.chunk(c);
                reducer.sum(g, 0, g.length);
            }
            List<String> names = new ArrayList<>(metrics.keySet());
            double[] v = new double[3 + names.size()];
            v[0] = r.loss();
            v[1] = r.tokens();
            v[2] = r.lossTokens();
            for (int i = 0; i < names.size(); i++) {
                v[3 + i] = metrics.get(names.get(i));
            }
            double[] s = reducer.sum(v);
            for (int i = 0; i < names.size(); i++) {
                metrics.put(names.get(i), s[3 + i] / reducer.replicas());
            }
            return new Objective.StepResult(s[0], Math.round(s[1]), Math.round(s[2]));
        }

        @Override
        public void checkpoint(Path outputDir, int step, int skippedUpdates, int keep) throws IOException {
            Checkpoints.save(outputDir, new Checkpoints.State(step, cursor.epoch(), cursor.position(), opt.step(),
                    tokens, lossSum, lossSteps), model.trainable(), opt, keep);
        }

        @Override
        public void saveModels(Path outputDir) throws IOException {
            objective.saveModel(outputDir);
        }

        @Override
        public Result result(int steps, double seconds, int skippedUpdates) {
            return new Result(steps, lossSteps == 0 ? Double.NaN : lossSum / lossSteps, lastEval, seconds, runTokens,
                    skippedUpdates, cfg.outputDir());
        }

        @Override
        public Map<String, Object> summary(Result r) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("global_step", r.steps());
            o.put("train_loss", r.trainLoss());
            o.put("train_runtime_s", r.seconds());
            o.put("train_tokens_per_s", r.tokensPerSecond());
            o.put("skipped_updates", r.skippedUpdates());
            o.putAll(r.eval());
            return o;
        }

        @Override
        public void done(PrintWriter console, Result result) {
            Map<String, Double> eval = result.eval();
            console.printf("done: %d steps, train loss %.4f%s, %.1f s, %.0f tokens/s; model in %s%n", result.steps(),
                    result.trainLoss(), eval.containsKey("eval_loss") ? String.format(", eval loss %.4f%s",
                            eval.get("eval_loss"), evalDetail(eval)) : "",
                    result.seconds(), result.tokensPerSecond(), result.output());
        }

        /** What the held-out loss means: a language model's perplexity, a preference model's accuracy. */
        private static String evalDetail(Map<String, Double> eval) {
            if (eval.containsKey("eval_perplexity")) {
                return String.format(" (perplexity %.2f)", eval.get("eval_perplexity"));
            }
            Double accuracy = eval.containsKey("eval_accuracy") ? eval.get("eval_accuracy")
                    : eval.get("eval_rewards/accuracies");
            return accuracy == null ? "" : String.format(" (accuracy %.1f%%)", 100 * accuracy);
        }

        @Override
        public Result finished(int step, JsonNode r) {
            Map<String, Double> eval = new LinkedHashMap<>();
            r.fields().forEachRemaining(e -> {
                if (e.getKey().startsWith("eval_") && e.getValue().isNumber()) {
                    eval.put(e.getKey(), e.getValue().asDouble());
                }
            });
            return new Result(step, r.path("train_loss").asDouble(Double.NaN), eval, 0, 0,
                    r.path("skipped_updates").asInt(), cfg.outputDir());
        }
    }
}
