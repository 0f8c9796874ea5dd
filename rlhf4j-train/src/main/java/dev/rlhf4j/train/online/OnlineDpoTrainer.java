package dev.rlhf4j.train.online;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.generate.Generator;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.AdamW;
import dev.rlhf4j.tensor.GradClip;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.TokenLogProbs;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.Checkpoints;
import dev.rlhf4j.train.ModelWriter;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.TrainingRun;
import dev.rlhf4j.train.data.Splits;
import dev.rlhf4j.train.dpo.DpoLoss;
import dev.rlhf4j.train.dpo.DpoLossType;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.PpoTrainer;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.PromptReader;
import dev.rlhf4j.train.ppo.Rollouts;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Online DPO (Guo et al. 2024; TRL's OnlineDPOTrainer). Each step: two responses for each of a batch of prompts,
 * sampled from the current policy (the batched generator); a judge picks the better of each two (a reward model,
 * the lab's gold reward, or a simulated annotator); exact ties are dropped; then one DPO update on the pairs, with
 * the frozen reference's log-probabilities of the same responses computed on the fly. Unlike offline DPO the pairs
 * always come from the policy being trained, so the loss never sees stale, off-policy responses; unlike PPO there
 * is no critic and no per-token reward, only which of two is better.
 *
 * <p>The loss is the mean over the step's pairs of {@link DpoLoss} on the responses' summed log-probabilities (for
 * ipo: averaged over each response's tokens, as TRL does). Log-probabilities are those of the model at temperature
 * 1, whatever the sampling temperature: DPO's implicit reward is β·log π/π_ref of the model itself.
 *
 * <p>A step whose every pair tied makes no update and logs no pair metrics ({@code loss}, {@code rewards/*},
 * {@code logps/*}, {@code objective/scores_margin}, {@code grad_norm}); {@code pairs} and {@code ties} count them.
 *
 * <p>Run by {@link TrainingRun}: metrics.jsonl with TRL's OnlineDPO names, samples.jsonl, atomic checkpoints (policy,
 * AdamW and the prompt position; the sampling and annotator seeds derive from the step), bit-identical resume.
 */
public final class OnlineDpoTrainer {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What online DPO writes into its output directory (what {@code --overwrite} deletes). */
    public static final RunDirectory.Kind KIND = kind();

    private static RunDirectory.Kind kind() {
        List<String> o = new ArrayList<>(List.of("checkpoint-[0-9]*", ".checkpoint-[0-9]*.tmp", "metrics.jsonl",
                ".metrics.jsonl.tmp", "samples.jsonl", ".samples.jsonl.tmp", "train_results.json",
                "events.out.tfevents.*", "report.html"));
        o.addAll(RunDirectory.HF_MODEL_FILES);
        return new RunDirectory.Kind("online-dpo", true, o);
    }

    /** The outcome of a run: the last step's metrics and the totals. */
    public record Result(int steps, long episodes, double seconds, Map<String, Double> last, int skippedUpdates,
                         Path output) {
    }

    private final OnlineDpoConfig cfg;
    private final Transformer policy;
    private final Transformer reference;
    private final PairJudge judge;
    private final Tokenizer tokenizer;
    private final List<Prompt> prompts;
    private final List<int[]> promptTokens;
    private final int[] eosIds;
    private final int padId;
    private final DpoLoss loss;
    private final Generator generator;
    private final PrintWriter console;
    private ModelWriter policyWriter;

    /** @param reference the frozen reference (a copy of the policy's starting weights, or another LM) */
    public OnlineDpoTrainer(OnlineDpoConfig cfg, Transformer policy, Transformer reference, PairJudge judge,
                            Tokenizer tokenizer, List<Prompt> prompts, int[] eosIds, PrintWriter console) {
        if (!policy.heads().lm() || !reference.heads().lm()) {
            throw new UserError("the policy and the reference must be language models (with an LM head)");
        }
        if (reference.config().vocabSize() != policy.config().vocabSize()) {
            throw new UserError("the reference's vocabulary (" + reference.config().vocabSize() + ") differs from "
                    + "the policy's (" + policy.config().vocabSize() + ")");
        }
        if (prompts.isEmpty()) {
            throw new UserError("no prompts to train on");
        }
        this.cfg = cfg;
        this.policy = policy;
        this.reference = reference;
        this.judge = judge;
        this.tokenizer = tokenizer;
        this.prompts = List.copyOf(prompts);
        this.eosIds = eosIds.clone();
        this.padId = tokenizer.padId().orElse(tokenizer.eosId().orElse(0));
        this.loss = new DpoLoss(cfg.lossType(), cfg.beta(), 0);
        int maxSeq = Math.min(policy.config().maxSeqLen(), reference.config().maxSeqLen());
        this.promptTokens = new ArrayList<>(prompts.size());
        for (int i = 0; i < prompts.size(); i++) {
            Prompt prompt = prompts.get(i);
            int[] ids = Rollouts.encodePrompt(tokenizer, prompt);
            PromptReader.checkLength(prompt.source() != null ? prompt.source() : "prompt " + (i + 1), ids.length,
                    cfg.maxNewTokens(), "max_new_tokens " + cfg.maxNewTokens(), maxSeq);
            promptTokens.add(ids);
        }
        this.generator = new Generator(policy, tokenizer);
        this.console = console;
    }

    /** How the final policy is written (default: not written). */
    public OnlineDpoTrainer writer(ModelWriter policyWriter) {
        this.policyWriter = policyWriter;
        return this;
    }

    /** Steps of this run. */
    public int totalSteps() {
        if (cfg.maxSteps() > 0) {
            return cfg.maxSteps();
        }
        return (int) Math.max(1, Math.ceil(cfg.numTrainEpochs() * prompts.size() / cfg.perDeviceTrainBatchSize()));
    }

    /**
     * Trains in the configured output directory, locked for the run; with {@code resume}, continues the run found
     * there (checked against this configuration's fingerprint), else the directory must be empty or new.
     */
    public Result train(boolean resume) throws IOException {
        try (RunDirectory run = RunDirectory.open(cfg.outputDir(), KIND,
                resume ? RunDirectory.Start.RESUME : RunDirectory.Start.NEW, console)) {
            run.verify(cfg.fingerprint(), false);
            return train(run);
        }
    }

    /** Trains in an opened (locked, checked) output directory, from its newest checkpoint when there is one. */
    public Result train(RunDirectory run) throws IOException {
        return new TrainingRun(cfg.runSettings(), console).run(run, new OnlineDpoSteps());
    }

    private final class OnlineDpoSteps implements TrainingRun.Steps<Result> {
        private final AdamW opt = new AdamW(cfg.optimizer().adamW(), policy.trainable());
        private int promptEpoch, promptPos;
        private long episodes;
        private Map<String, Double> last = Map.of();
        private StepOutcome outcome;

        @Override
        public List<Transformer> trained() {
            return List.of(policy);
        }

        @Override
        public int totalSteps() {
            return OnlineDpoTrainer.this.totalSteps();
        }

        @Override
        public String name() {
            return "online DPO";
        }

        @Override
        public List<String> perStepFiles() {
            return List.of("samples.jsonl");
        }

        @Override
        public void restore(Path dir, JsonNode s, List<JsonNode> done) throws IOException {
            Checkpoints.restore(dir.resolve("policy.safetensors"), policy.trainable(), "");
            Checkpoints.restore(dir.resolve("optimizer.safetensors"), opt.firstMoment(), "m.");
            Checkpoints.restore(dir.resolve("optimizer.safetensors"), opt.secondMoment(), "v.");
            episodes = s.path("episode").asLong();
            promptEpoch = s.path("prompt_epoch").asInt();
            promptPos = s.path("prompt_position").asInt();
            opt.setStep(s.path("adam_step").asLong());
            int step = s.path("global_step").asInt();
            if (!done.isEmpty() && done.getLast().path("step").asInt() == step) {
                Map<String, Double> m = new LinkedHashMap<>();
                done.getLast().fields().forEachRemaining(e -> {
                    if (e.getValue().isNumber() && !e.getKey().equals("step") && !e.getKey().equals("episode")) {
                        m.put(e.getKey(), e.getValue().asDouble());
                    }
                });
                last = m;
            }
        }

        @Override
        public void starting(PrintWriter console, int total) {
            console.printf("online DPO: %d steps of %d prompts × 2 samples (%d prompts), β %s, %s loss; judge: %s%n",
                    total, cfg.perDeviceTrainBatchSize(), prompts.size(), cfg.beta(),
                    cfg.lossType().name().toLowerCase(java.util.Locale.ROOT), judge.describe());
        }

        @Override
        public TrainingRun.Step step(int step, double lr) {
            List<Integer> idx = new ArrayList<>(cfg.perDeviceTrainBatchSize());
            while (idx.size() < cfg.perDeviceTrainBatchSize()) {
                int[] order = order(promptEpoch);
                idx.add(order[promptPos]);
                if (++promptPos == order.length) {
                    promptPos = 0;
                    promptEpoch++;
                }
            }
            outcome = OnlineDpoTrainer.this.step(idx, step, lr, opt);
            episodes += 2L * idx.size();
            last = outcome.metrics;
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("episode", episodes);
            line.putAll(outcome.metrics);
            if (outcome.skipped) {
                line.put("skipped", true);
            }
            Map<String, Double> m = outcome.metrics;
            return new TrainingRun.Step(line, outcome.skipped, "a NaN or infinite loss or gradient",
                    String.format("score %.3f kl %.3f pairs %.0f acc %.2f loss %.4f", m.get("objective/scores"),
                            m.get("objective/kl"), m.get("pairs"), m.getOrDefault("rewards/accuracies", Double.NaN),
                            m.getOrDefault("loss", Double.NaN)));
        }

        @Override
        public void recorded(int step) throws IOException {
            if (cfg.sampleSteps() > 0 && (step % cfg.sampleSteps() == 0 || step == 1)) {
                try (BufferedWriter samples = Files.newBufferedWriter(cfg.outputDir().resolve("samples.jsonl"),
                        StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
                    PairJudge.Verdicts v = outcome.verdicts;
                    int written = 0;
                    for (int i = 0; i < v.winner().length && written < cfg.numSampleGenerations(); i++) {
                        if (v.winner()[i] == 0) {
                            continue;
                        }
                        boolean firstWins = v.winner()[i] > 0;
                        ObjectNode s = JSON.createObjectNode();
                        s.put("step", step);
                        s.put("prompt", outcome.first.get(i).prompt());
                        s.put("chosen", (firstWins ? outcome.first : outcome.second).get(i).response());
                        s.put("rejected", (firstWins ? outcome.second : outcome.first).get(i).response());
                        s.put("score_chosen", firstWins ? v.first()[i] : v.second()[i]);
                        s.put("score_rejected", firstWins ? v.second()[i] : v.first()[i]);
                        samples.write(JSON.writeValueAsString(s));
                        samples.newLine();
                        written++;
                    }
                }
            }
        }

        @Override
        public void checkpoint(Path out, int step, int skippedUpdates, int keep) throws IOException {
            ObjectNode st = JSON.createObjectNode();
            st.put("global_step", step);
            st.put("episode", episodes);
            st.put("prompt_epoch", promptEpoch);
            st.put("prompt_position", promptPos);
            st.put("adam_step", opt.step());
            st.put("skipped_updates", skippedUpdates);
            Map<String, Map<String, Tensor>> files = new LinkedHashMap<>();
            files.put("policy.safetensors", Checkpoints.tensors(policy.trainable(), ""));
            Map<String, Tensor> moments = new LinkedHashMap<>(Checkpoints.tensors(opt.firstMoment(), "m."));
            moments.putAll(Checkpoints.tensors(opt.secondMoment(), "v."));
            files.put("optimizer.safetensors", moments);
            Checkpoints.saveFiles(out, step, files, st, keep);
        }

        @Override
        public void saveModels(Path out) throws IOException {
            if (policyWriter != null) {
                policyWriter.write(policy, out);
            }
        }

        @Override
        public Result result(int steps, double seconds, int skippedUpdates) {
            return new Result(steps, episodes, seconds, last, skippedUpdates, cfg.outputDir());
        }

        @Override
        public Map<String, Object> summary(Result r) {
            Map<String, Object> summary = new LinkedHashMap<>();
            summary.put("global_step", r.steps());
            summary.put("episode", r.episodes());
            summary.put("train_runtime_s", r.seconds());
            summary.put("skipped_updates", r.skippedUpdates());
            summary.putAll(r.last());
            return summary;
        }

        @Override
        public void done(PrintWriter console, Result r) {
            console.printf("done: %d online DPO steps, %d episodes, %.1f s; score %.4f, KL %.4f; policy in %s%n",
                    r.steps(), r.episodes(), r.seconds(), r.last().getOrDefault("objective/scores", Double.NaN),
                    r.last().getOrDefault("objective/kl", Double.NaN), r.output());
        }

        @Override
        public Result finished(int step, JsonNode r) {
            Map<String, Double> last = new LinkedHashMap<>();
            r.fields().forEachRemaining(e -> {
                if (e.getValue().isNumber() && !Set.of("global_step", "episode", "train_runtime_s",
                        "skipped_updates").contains(e.getKey())) {
                    last.put(e.getKey(), e.getValue().asDouble());
                }
            });
            return new Result(step, r.path("episode").asLong(), 0, last, r.path("skipped_updates").asInt(),
                    cfg.outputDir());
        }
    }

    /** The order of the prompts in pass {@code epoch} over them: a shuffle seeded by the seed and the pass. */
    private int[] order(int epoch) {
        return Splits.permutation(prompts.size(), new Rng(PpoTrainer.mix(cfg.seed(), 0x5EED, epoch)));
    }

    private record StepOutcome(Map<String, Double> metrics, List<Episode> first, List<Episode> second,
                               PairJudge.Verdicts verdicts, boolean skipped) {
    }

    /** One step: 1 sample two responses per prompt, 2 judge, 3 reference log-probs, 4 DPO update, 5 metrics. */
    private StepOutcome step(List<Integer> idx, int step, double lr, AdamW opt) {
        int b = idx.size(), fwd = cfg.localRolloutForwardBatchSize();
        List<String> ps = new ArrayList<>(2 * b);
        List<int[]> pt = new ArrayList<>(2 * b);
        for (int copy = 0; copy < 2; copy++) {
            for (int i : idx) {
                ps.add(prompts.get(i).text());
                pt.add(promptTokens.get(i));
            }
        }
        long started = System.nanoTime();
        List<Episode> eps = Rollouts.sample(generator, tokenizer, ps, pt, cfg.maxNewTokens(), cfg.temperature(),
                PpoTrainer.mix(cfg.seed(), 0x6E4, step), eosIds, fwd);
        List<Episode> first = eps.subList(0, b), second = eps.subList(b, 2 * b);
        long sampled = System.nanoTime();
        PairJudge.Verdicts v = judge.judge(first, second, PpoTrainer.mix(cfg.seed(), 0xA77, step));
        long judged = System.nanoTime();
        double[][] ref = new double[2 * b][];
        Rollouts.logProbs(reference, eps, 1f, fwd, padId, ref, null);
        long referenced = System.nanoTime();
        policy.zeroGrad();
        PairPass pass = pairPass(policy, loss, first, second, v.winner(), ref, fwd, padId, true);
        double norm = Double.NaN;
        boolean skipped = false;
        if (pass.pairs > 0) {
            norm = GradClip.clip(policy.grads(), cfg.optimizer().maxGradNorm());
            if (Double.isFinite(pass.loss) && Double.isFinite(norm)) {
                opt.update(policy.trainable(), policy.grads(), (float) lr);
            } else {
                skipped = true;
            }
        }
        long updated = System.nanoTime();

        // metrics under TRL's OnlineDPOTrainer names; objective/* over all 2B samples, rewards/* over the pairs
        double kl = 0, logp = 0, scores = 0, eos = 0, length = 0;
        for (int e = 0; e < 2 * b; e++) {
            double r = 0;
            for (double x : ref[e]) {
                r += x;
            }
            kl += (pass.logps[e] - r) / (2 * b);
            logp += pass.logps[e] / (2 * b);
            scores += (e < b ? v.first()[e] : v.second()[e - b]) / (2 * b);
            eos += eps.get(e).eos() ? 1.0 / (2 * b) : 0;
            length += eps.get(e).responseTokens().length / (2.0 * b);
        }
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("objective/kl", kl);
        m.put("objective/entropy", -logp);
        m.put("objective/non_score_reward", -cfg.beta() * kl);
        m.put("objective/rlhf_reward", scores - cfg.beta() * kl);
        m.put("objective/scores", scores);
        if (pass.pairs > 0) {
            double margin = 0;
            for (int i = 0; i < b; i++) {
                margin += v.winner()[i] * (v.first()[i] - v.second()[i]);
            }
            m.put("objective/scores_margin", margin / pass.pairs);
            m.put("rewards/chosen", pass.rewardsChosen);
            m.put("rewards/rejected", pass.rewardsRejected);
            m.put("rewards/accuracies", pass.accuracies);
            m.put("rewards/margins", pass.rewardsChosen - pass.rewardsRejected);
            m.put("logps/chosen", pass.logpsChosen);
            m.put("logps/rejected", pass.logpsRejected);
            m.put("loss", pass.loss);
            m.put("grad_norm", norm);
        }
        m.put("val/contain_eos_token", eos);
        m.put("beta", cfg.beta());
        m.put("lr", lr);
        m.put("pairs", (double) pass.pairs);
        m.put("ties", (double) (b - pass.pairs));
        m.put("response_length", length);
        double gen = (sampled - started) / 1e9, stepS = (updated - started) / 1e9;
        m.put("rollout_tokens_per_s", length * 2 * b / gen);
        m.put("time/generation_s", gen);
        m.put("time/judge_s", (judged - sampled) / 1e9);
        m.put("time/reference_s", (referenced - judged) / 1e9);
        m.put("time/update_s", (updated - referenced) / 1e9);
        m.put("time/step_s", stepS);
        return new StepOutcome(m, first, second, v, skipped);
    }

    /**
     * The DPO loss of one step's pairs and what the metrics need: means over the pairs.
     *
     * @param logps the policy's summed log-probability of every response, the first samples then the second
     */
    record PairPass(double loss, int pairs, double[] logps, double rewardsChosen, double rewardsRejected,
                    double accuracies, double logpsChosen, double logpsRejected) {
    }

    /**
     * Forward (and, with {@code backward}, the backward into the policy's gradients) of the mean DPO loss over the
     * pairs {@code first.get(i)} vs {@code second.get(i)} whose {@code winner[i]} is not 0, {@code fwd} sequences
     * (both responses of a prompt together) per forward. {@code ref} holds the reference's per-token log-probs of
     * the first responses then the second.
     */
    static PairPass pairPass(Transformer policy, DpoLoss loss, List<Episode> first, List<Episode> second, int[] winner,
                             double[][] ref, int fwd, int padId, boolean backward) {
        int b = first.size(), pairs = 0;
        for (int w : winner) {
            pairs += w != 0 ? 1 : 0;
        }
        boolean average = loss.type() == DpoLossType.IPO;
        double[] logps = new double[2 * b];
        double total = 0, rc = 0, rr = 0, acc = 0, lc = 0, lr = 0;
        int per = Math.max(1, fwd / 2);
        for (int j0 = 0; j0 < b; j0 += per) {
            int j1 = Math.min(b, j0 + per), k = j1 - j0;
            List<Episode> part = new ArrayList<>(first.subList(j0, j1));
            part.addAll(second.subList(j0, j1));
            Rollouts.Layout l = Rollouts.layout(part, padId);
            policy.forward(l.batch());
            float[] lp = new float[l.count()], dlp = new float[l.count()];
            TokenLogProbs.Saved saved = policy.tokenLogProbs(l.rows(), l.tokens(), 1f, lp, null, backward);
            boolean any = false;
            for (int i = 0; i < k; i++) {
                int a = i, c = k + i; // the first and the second response of prompt j0 + i in this layout
                double sa = sum(lp, l.start()[a], l.start()[a + 1]), sc = sum(lp, l.start()[c], l.start()[c + 1]);
                logps[j0 + i] = sa;
                logps[b + j0 + i] = sc;
                int w = winner[j0 + i];
                if (w == 0) {
                    continue;
                }
                any = true;
                int ch = w > 0 ? a : c, rj = w > 0 ? c : a;
                double[] refCh = ref[w > 0 ? j0 + i : b + j0 + i], refRj = ref[w > 0 ? b + j0 + i : j0 + i];
                int nCh = l.start()[ch + 1] - l.start()[ch], nRj = l.start()[rj + 1] - l.start()[rj];
                double pc = w > 0 ? sa : sc, pr = w > 0 ? sc : sa;
                double qc = sum(refCh), qr = sum(refRj);
                DpoLoss.Term t = average ? loss.term(pc / nCh, pr / nRj, qc / nCh, qr / nRj)
                        : loss.term(pc, pr, qc, qr);
                total += t.loss() / pairs;
                rc += t.rewardChosen() / pairs;
                rr += t.rewardRejected() / pairs;
                acc += t.rewardChosen() > t.rewardRejected() ? 1.0 / pairs : 0;
                lc += pc / pairs;
                lr += pr / pairs;
                // the loss is a mean over pairs; an averaged log-prob spreads its derivative over the tokens
                double gc = t.dPolicyChosen() / pairs / (average ? nCh : 1);
                double gr = t.dPolicyRejected() / pairs / (average ? nRj : 1);
                for (int q = l.start()[ch]; q < l.start()[ch + 1]; q++) {
                    dlp[q] = (float) gc;
                }
                for (int q = l.start()[rj]; q < l.start()[rj + 1]; q++) {
                    dlp[q] = (float) gr;
                }
            }
            if (backward && any) {
                policy.tokenLogProbsBackward(l.rows(), l.tokens(), 1f, saved, dlp, null);
                policy.backward();
            }
        }
        return new PairPass(pairs == 0 ? Double.NaN : total, pairs, logps, rc, rr, acc, lc, lr);
    }

    private static double sum(float[] x, int from, int to) {
        double s = 0;
        for (int i = from; i < to; i++) {
            s += x[i];
        }
        return s;
    }

    private static double sum(double[] x) {
        double s = 0;
        for (double v : x) {
            s += v;
        }
        return s;
    }
}
