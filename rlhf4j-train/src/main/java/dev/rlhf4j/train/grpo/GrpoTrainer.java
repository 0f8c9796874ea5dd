package dev.rlhf4j.train.grpo;

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
import dev.rlhf4j.train.lab.GoldReward;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.PpoTrainer;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.PromptReader;
import dev.rlhf4j.train.ppo.RewardFunction;
import dev.rlhf4j.train.ppo.RewardModelReward;
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
 * Critic-free policy optimisation with groups of samples: GRPO (Shao et al. 2024, as TRL's GRPOTrainer), RLOO
 * (Ahmadian et al. 2024) and REINFORCE++ (Hu 2025, as OpenRLHF). Each step: take the next
 * {@code per_device_train_batch_size} prompts, sample {@code num_generations} completions of each from the batched
 * generator; score each completion with the reward function (minus the missing-EOS penalty); the KL to the frozen
 * reference either subtracted from the reward (k1, per sequence, or per token for REINFORCE++) or added to the loss
 * (k3 per token, GRPO); advantages by the chosen estimator; then {@code num_iterations} optimizer steps on the clipped
 * surrogate, each token's loss weighted by {@code loss_type}. There is no value model: the group's other samples
 * (or, for REINFORCE++, the whole batch) are the baseline.
 *
 * <p>With {@code num_iterations} 1 the old log-probabilities are the current ones (as TRL: the ratio is 1 and only
 * its gradient matters), which saves a forward pass; with more, they come from the policy that sampled.
 *
 * <p>Run by {@link TrainingRun}: a progress line, {@code metrics.jsonl} with TRL's GRPO names, atomic checkpoints
 * (policy, AdamW and the position in the shuffled prompts; sampling seeds derive from the step), exact resume, a
 * NaN/Inf guard; {@code samples.jsonl} keeps sample completions.
 */
public final class GrpoTrainer {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a GRPO run writes into its output directory (what {@code --overwrite} deletes). */
    public static final RunDirectory.Kind KIND = kind();

    private static RunDirectory.Kind kind() {
        List<String> o = new ArrayList<>(List.of("checkpoint-[0-9]*", ".checkpoint-[0-9]*.tmp", "metrics.jsonl",
                ".metrics.jsonl.tmp", "samples.jsonl", ".samples.jsonl.tmp", "train_results.json",
                "events.out.tfevents.*", "report.html"));
        o.addAll(RunDirectory.HF_MODEL_FILES);
        return new RunDirectory.Kind("grpo", true, o);
    }

    /** The outcome of a run: the last step's metrics and the totals. */
    public record Result(int steps, long episodes, double seconds, Map<String, Double> last, int skippedUpdates,
                         Path output) {
    }

    private final GrpoConfig cfg;
    private final Transformer policy;
    private final Transformer reference;
    private final RewardFunction reward;
    private final String rewardName;
    private final Tokenizer tokenizer;
    private final List<Prompt> prompts;
    private final List<int[]> promptTokens;
    private final int[] eosIds;
    private final int padId;
    private final Generator generator;
    private final PrintWriter console;
    private ModelWriter policyWriter;

    /**
     * @param reference frozen copy of the policy's starting weights; may be null when {@code beta} is 0 (never run)
     * @param reward    scores each completion: a reward model, the lab's gold reward, a rule, or any function
     */
    public GrpoTrainer(GrpoConfig cfg, Transformer policy, Transformer reference, RewardFunction reward,
                       Tokenizer tokenizer, List<Prompt> prompts, int[] eosIds, PrintWriter console) {
        if (!policy.heads().lm()) {
            throw new UserError("the policy has no LM head");
        }
        if (reference == null ? cfg.beta() > 0 : !reference.config().equals(policy.config())) {
            throw new UserError(reference == null ? "beta > 0 needs a reference model"
                    : "the reference model's configuration differs from the policy's");
        }
        if (prompts.isEmpty()) {
            throw new UserError("no prompts to train on");
        }
        if (cfg.stopAtEos() && eosIds.length == 0) {
            throw new UserError("the tokenizer has no end-of-sequence token to stop at");
        }
        this.cfg = cfg;
        this.policy = policy;
        this.reference = reference;
        this.reward = reward;
        this.rewardName = switch (reward) {
            case RuleReward r -> r.name();
            case GoldReward g -> "lab";
            case RewardModelReward m -> "reward_model";
            default -> "reward";
        };
        this.tokenizer = tokenizer;
        this.prompts = List.copyOf(prompts);
        this.eosIds = cfg.stopAtEos() ? eosIds.clone() : new int[0];
        this.padId = tokenizer.padId().orElse(tokenizer.eosId().orElse(0));
        this.promptTokens = new ArrayList<>(prompts.size());
        for (int i = 0; i < prompts.size(); i++) {
            Prompt prompt = prompts.get(i);
            int[] ids = Rollouts.encodePrompt(tokenizer, prompt);
            PromptReader.checkLength(prompt.source() != null ? prompt.source() : "prompt " + (i + 1), ids.length,
                    cfg.maxCompletionLength(), "max_completion_length " + cfg.maxCompletionLength(),
                    policy.config().maxSeqLen());
            promptTokens.add(ids);
        }
        this.generator = new Generator(policy, tokenizer);
        this.console = console;
    }

    /** How the final policy is written (default: not written). */
    public GrpoTrainer writer(ModelWriter policyWriter) {
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
        return new TrainingRun(cfg.runSettings(), console).run(run, new GrpoSteps());
    }

    /** The run as the loop runs it: the policy, its AdamW and the position in the shuffled prompts. */
    private final class GrpoSteps implements TrainingRun.Steps<Result> {
        private final AdamW opt = new AdamW(cfg.optimizer().adamW(), policy.trainable());
        private int promptEpoch, promptPos;
        private long episodes, numTokens;
        private Map<String, Double> last = Map.of();
        private StepOutcome outcome;

        @Override
        public List<Transformer> trained() {
            return List.of(policy);
        }

        @Override
        public int totalSteps() {
            return GrpoTrainer.this.totalSteps();
        }

        @Override
        public String name() {
            return cfg.advantage().label().toUpperCase(java.util.Locale.ROOT);
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
            numTokens = s.path("num_tokens").asLong();
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
            console.printf("%s: %d steps of %d prompts × %d completions (%d prompts), reward: %s%n", name(), total,
                    cfg.perDeviceTrainBatchSize(), cfg.numGenerations(), prompts.size(), reward.describe());
        }

        @Override
        public TrainingRun.Step step(int step, double lr) {
            List<Integer> idx = new ArrayList<>(cfg.perDeviceTrainBatchSize());
            while (idx.size() < cfg.perDeviceTrainBatchSize()) {
                int[] order = Splits.permutation(prompts.size(), new Rng(PpoTrainer.mix(cfg.seed(), 0x5EED,
                        promptEpoch)));
                idx.add(order[promptPos]);
                if (++promptPos == order.length) {
                    promptPos = 0;
                    promptEpoch++;
                }
            }
            outcome = GrpoTrainer.this.step(idx, step, lr, opt);
            episodes += outcome.episodes.size();
            for (Episode e : outcome.episodes) {
                numTokens += e.length();
            }
            Map<String, Double> m = outcome.metrics;
            m.put("num_tokens", (double) numTokens);
            last = m;
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("episode", episodes);
            line.putAll(m);
            if (outcome.skipped) {
                line.put("skipped", true);
            }
            return new TrainingRun.Step(line, outcome.skipped, "a NaN or infinite loss or gradient",
                    String.format("reward %.3f ± %.3f kl %.4f len %.1f loss %.4f", m.get("reward"),
                            m.getOrDefault("reward_std", 0.0), m.getOrDefault("kl", Double.NaN),
                            m.get("completions/mean_length"), m.get("loss")));
        }

        @Override
        public void recorded(int step) throws IOException {
            if (cfg.sampleSteps() > 0 && (step % cfg.sampleSteps() == 0 || step == 1)) {
                try (BufferedWriter samples = Files.newBufferedWriter(cfg.outputDir().resolve("samples.jsonl"),
                        StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND)) {
                    for (int i = 0; i < Math.min(cfg.numSampleGenerations(), outcome.episodes.size()); i++) {
                        ObjectNode s = JSON.createObjectNode();
                        s.put("step", step);
                        s.put("prompt", outcome.episodes.get(i).prompt());
                        s.put("response", outcome.episodes.get(i).response());
                        s.put("score", outcome.scores[i]);
                        s.put("advantage", outcome.advantages[i][0]);
                        samples.write(JSON.writeValueAsString(s));
                        samples.newLine();
                    }
                }
            }
        }

        @Override
        public void checkpoint(Path out, int step, int skippedUpdates, int keep) throws IOException {
            ObjectNode st = JSON.createObjectNode();
            st.put("global_step", step);
            st.put("episode", episodes);
            st.put("num_tokens", numTokens);
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
            console.printf("done: %d %s steps, %d completions, %.1f s; reward %.4f, kl %.4f; policy in %s%n",
                    r.steps(), name(), r.episodes(), r.seconds(), r.last().getOrDefault("reward", Double.NaN),
                    r.last().getOrDefault("kl", Double.NaN), r.output());
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

    private record StepOutcome(Map<String, Double> metrics, List<Episode> episodes, double[] scores,
                               double[][] advantages, boolean skipped) {
    }

    /**
     * One step: 1 sample G completions per prompt, 2 score them, 3 log-probabilities of the sampling policy (when
     * needed) and of the reference, 4 advantages (KL in the reward when so configured), 5 {@code num_iterations}
     * updates, 6 metrics.
     */
    private StepOutcome step(List<Integer> idx, int step, double lr, AdamW opt) {
        int g = cfg.numGenerations();
        List<String> ps = new ArrayList<>(idx.size() * g);
        List<int[]> pt = new ArrayList<>(idx.size() * g);
        for (int i : idx) {
            for (int k = 0; k < g; k++) {
                ps.add(prompts.get(i).text());
                pt.add(promptTokens.get(i));
            }
        }
        int fwd = cfg.localRolloutForwardBatchSize();
        long started = System.nanoTime();
        List<Episode> eps = Rollouts.sample(generator, tokenizer, ps, pt, cfg.maxCompletionLength(),
                cfg.temperature(), PpoTrainer.mix(cfg.seed(), 0x6E4, step), eosIds, fwd);
        long sampled = System.nanoTime();
        double[] scores = reward.score(eps);
        for (int i = 0; i < eps.size(); i++) {
            if (!eps.get(i).eos() && !Double.isNaN(cfg.missingEosPenalty())) {
                scores[i] -= cfg.missingEosPenalty();
            }
        }
        long scored = System.nanoTime();
        int n = eps.size();
        boolean klInReward = cfg.klIn() == GrpoMath.KlIn.REWARD && cfg.beta() > 0;
        double[][] old = null, ref = null;
        if (cfg.numIterations() > 1 || klInReward) {
            old = new double[n][];
            Rollouts.logProbs(policy, eps, cfg.temperature(), fwd, padId, old, null);
        }
        if (cfg.beta() > 0) {
            ref = new double[n][];
            Rollouts.logProbs(reference, eps, cfg.temperature(), fwd, padId, ref, null);
        }
        long referenced = System.nanoTime();
        double[][] adv = advantages(eps, scores, old, ref, klInReward);
        double loss = 0, gradNorm = 0;
        Pass first = null;
        boolean skipped = false;
        for (int it = 0; it < cfg.numIterations(); it++) {
            Pass p = pass(eps, old, ref, adv);
            first = first == null ? p : first;
            double norm = GradClip.clip(List.of(policy.grads()), cfg.optimizer().maxGradNorm());
            loss += p.loss / cfg.numIterations();
            gradNorm += norm / cfg.numIterations();
            if (Double.isFinite(p.loss) && Double.isFinite(norm)) {
                opt.update(policy.trainable(), policy.grads(), (float) lr);
            } else {
                skipped = true;
            }
        }
        long updated = System.nanoTime();

        Map<String, Double> m = new LinkedHashMap<>();
        double[] std = new double[n / g];
        int zeroStd = 0;
        for (int k = 0; k < std.length; k++) {
            std[k] = GrpoMath.groupStd(scores, k * g, g);
            zeroStd += std[k] < 1e-8 ? 1 : 0;
        }
        double meanScore = mean(scores);
        double allStd = GrpoMath.groupStd(scores, 0, n);
        m.put("reward", meanScore);
        if (g > 1) { // a group of one has no spread: its std is 0 by construction
            m.put("reward_std", mean(std));
            m.put("frac_reward_zero_std", (double) zeroStd / std.length);
        }
        m.put("rewards/" + rewardName + "/mean", meanScore);
        m.put("rewards/" + rewardName + "/std", allStd);
        if (ref != null) {
            m.put("kl", first.kl / first.tokens);
        }
        m.put("entropy", first.entropy / first.tokens);
        long tokens = 0;
        int minLen = Integer.MAX_VALUE, maxLen = 0, truncated = 0;
        for (Episode e : eps) {
            int l = e.responseTokens().length;
            tokens += l;
            minLen = Math.min(minLen, l);
            maxLen = Math.max(maxLen, l);
            truncated += e.eos() ? 0 : 1;
        }
        m.put("completions/mean_length", (double) tokens / n);
        m.put("completions/min_length", (double) minLen);
        m.put("completions/max_length", (double) maxLen);
        m.put("completions/clipped_ratio", (double) truncated / n);
        m.put("clip_ratio/low_mean", first.clippedLow / first.tokens);
        m.put("clip_ratio/high_mean", first.clippedHigh / first.tokens);
        m.put("clip_ratio/region_mean", (first.clippedLow + first.clippedHigh) / first.tokens);
        m.put("loss", loss);
        m.put("grad_norm", gradNorm);
        m.put("learning_rate", lr);
        double gen = (sampled - started) / 1e9, stepS = (updated - started) / 1e9;
        m.put("rollout_tokens_per_s", tokens / gen);
        m.put("time/generation_s", gen);
        m.put("time/scoring_s", (scored - sampled) / 1e9);
        m.put("time/reference_s", (referenced - scored) / 1e9);
        m.put("time/update_s", (updated - referenced) / 1e9);
        m.put("time/step_s", stepS);
        return new StepOutcome(m, eps, scores, adv, skipped);
    }

    /**
     * Per-token advantages of the step's completions. With the KL in the reward, {@code −β·Σ_t k1_t} is added to each
     * sequence's score (grpo, rloo) or {@code −β·k1_t} to each token's reward (reinforce++).
     */
    private double[][] advantages(List<Episode> eps, double[] scores, double[][] old, double[][] ref,
                                  boolean klInReward) {
        int n = eps.size();
        double[][] kl = new double[n][];
        int[] lengths = new int[n];
        for (int i = 0; i < n; i++) {
            lengths[i] = eps.get(i).responseTokens().length;
            kl[i] = new double[lengths[i]];
            if (klInReward) {
                for (int t = 0; t < lengths[i]; t++) {
                    kl[i][t] = old[i][t] - ref[i][t];
                }
            }
        }
        if (cfg.advantage() == GrpoMath.Advantage.REINFORCE_PP) {
            return GrpoMath.reinforcePlusPlus(kl, scores, cfg.beta());
        }
        double[] r = scores.clone();
        double[] klSeq = Rollouts.sums(kl);
        for (int i = 0; i < n; i++) {
            r[i] -= cfg.beta() * klSeq[i];
        }
        return GrpoMath.perToken(GrpoMath.groupAdvantages(r, cfg.numGenerations(), cfg.advantage()), lengths);
    }

    /** Sums over one pass's tokens, for the metrics, and the pass's loss. */
    private record Pass(double loss, double kl, double entropy, double clippedLow, double clippedHigh, long tokens) {
    }

    /**
     * The step's loss over {@code eps} and its gradient in the policy's gradients (zeroed first), computed
     * {@code local_rollout_forward_batch_size} completions at a time. {@code old} null: the current log-probs (ratio
     * 1, {@code num_iterations} 1); {@code ref} null: no KL (β = 0). Public for the gradient tests.
     */
    public double lossAndGradient(List<Episode> eps, double[][] old, double[][] ref, double[][] adv) {
        return pass(eps, old, ref, adv).loss;
    }

    private Pass pass(List<Episode> eps, double[][] old, double[][] ref, double[][] adv) {
        policy.zeroGrad();
        int n = eps.size();
        int[] lengths = new int[n];
        for (int i = 0; i < n; i++) {
            lengths[i] = eps.get(i).responseTokens().length;
        }
        double betaInLoss = cfg.klIn() == GrpoMath.KlIn.LOSS ? cfg.beta() : 0;
        double loss = 0, kl = 0, entropy = 0, low = 0, high = 0;
        long tokens = 0;
        int fwd = cfg.localRolloutForwardBatchSize();
        for (int from = 0; from < n; from += fwd) {
            List<Episode> part = eps.subList(from, Math.min(n, from + fwd));
            Rollouts.Layout l = Rollouts.layout(part, padId);
            policy.forward(l.batch());
            float[] lp = new float[l.count()], ent = new float[l.count()], dlp = new float[l.count()];
            TokenLogProbs.Saved saved = policy.tokenLogProbs(l.rows(), l.tokens(), cfg.temperature(), lp, ent,
                    true);
            for (int j = 0; j < part.size(); j++) {
                int i = from + j;
                double w = GrpoMath.tokenWeight(cfg.lossType(), lengths, i, cfg.maxCompletionLength());
                for (int t = 0, k = l.start()[j]; k < l.start()[j + 1]; t++, k++) {
                    double o = old == null ? lp[k] : old[i][t];
                    double r = ref == null ? lp[k] : ref[i][t];
                    GrpoMath.Term term = GrpoMath.term(lp[k], o, r, adv[i][t], cfg.epsilon(), betaInLoss);
                    loss += w * term.loss();
                    dlp[k] = (float) (w * term.grad());
                    kl += term.kl();
                    entropy += ent[k];
                    low += term.clippedLow() ? 1 : 0;
                    high += term.clippedHigh() ? 1 : 0;
                    tokens++;
                }
            }
            policy.tokenLogProbsBackward(l.rows(), l.tokens(), cfg.temperature(), saved, dlp, null);
            policy.backward();
        }
        return new Pass(loss, kl, entropy, low, high, tokens);
    }

    private static double mean(double[] x) {
        double s = 0;
        for (double v : x) {
            s += v;
        }
        return x.length == 0 ? Double.NaN : s / x.length;
    }
}
