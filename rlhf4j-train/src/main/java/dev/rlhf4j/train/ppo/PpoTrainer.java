package dev.rlhf4j.train.ppo;

import dev.rlhf4j.tensor.UserError;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.TokenBatch;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.generate.Generator;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.AdamW;
import dev.rlhf4j.tensor.CrossEntropy;
import dev.rlhf4j.tensor.GradClip;
import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.TokenLogProbs;
import dev.rlhf4j.train.Checkpoints;
import dev.rlhf4j.train.ModelWriter;
import dev.rlhf4j.train.TrainingRun;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.data.Splits;

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
 * RLHF with PPO as InstructGPT and TRL do it. Each step: sample one response per prompt from the policy (the batched
 * generator with a key/value cache), keeping the policy's log-probability of each response token from the decoding
 * step that sampled it (as TRL's trainer does with its generation's logits; a value head on the policy's trunk gives
 * its values from the same steps); compute the frozen reference's log-probabilities and a separate critic's values
 * with a forward over the episodes; score each episode with the reward function (minus the missing-EOS
 * penalty); per-token rewards {@code −β·KL} with the score added at the last token; GAE advantages, whitened; then
 * {@code num_ppo_epochs} passes over shuffled minibatches with the clipped surrogate and the clipped value loss,
 * both models clipped together by global norm and updated by their own AdamW; optionally PPO-ptx; then the KL
 * controller moves β.
 *
 * <p>The score is added at the last real response token (its EOS when it has one), as in Ziegler et al. and
 * OpenAI's lm-human-preferences; TRL's current trainer adds it one position later, on the first padding position.
 *
 * <p>Run by {@link TrainingRun}, as the supervised trainers are: a progress line, {@code metrics.jsonl} with TRL's
 * names, atomic checkpoints (policy, critic, both optimizers, β and the data position; the sampling and shuffling
 * seeds derive from the step), bit-identical {@code resume}, a NaN/Inf guard; {@code samples.jsonl} keeps sample
 * generations.
 */
public final class PpoTrainer {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What PPO writes into its output directory (what {@code --overwrite} deletes). */
    public static final RunDirectory.Kind KIND = kind();

    private static RunDirectory.Kind kind() {
        List<String> o = new ArrayList<>(List.of("checkpoint-[0-9]*", ".checkpoint-[0-9]*.tmp", "metrics.jsonl",
                ".metrics.jsonl.tmp", "samples.jsonl", ".samples.jsonl.tmp", "train_results.json", "critic",
                "events.out.tfevents.*", "report.html"));
        o.addAll(RunDirectory.HF_MODEL_FILES);
        return new RunDirectory.Kind("ppo", true, o);
    }

    /** The outcome of a run: the last step's metrics and the totals. */
    public record Result(int steps, long episodes, double seconds, Map<String, Double> last, int skippedUpdates,
                         Path output) {
    }

    private final PpoConfig cfg;
    private final Transformer policy;
    private final Transformer reference;
    private final Transformer critic;
    private final RewardFunction reward;
    private final Tokenizer tokenizer;
    private final List<Prompt> prompts;
    private final List<int[]> promptTokens;
    private final int[] eosIds;
    private final int padId;
    private final List<int[]> ptxData;
    private final Generator generator;
    private RolloutEngine engine = this::localRollout;
    /** The critic is a value head on the policy's own trunk: one forward and backward serve both losses. */
    private final boolean valueHead;
    private ModelWriter policyWriter;
    private ModelWriter criticWriter;
    private final PrintWriter console;

    /**
     * @param reference frozen copy of the policy's starting weights
     * @param critic    trainable value model with a scalar head (initialised from the reward model), or the policy
     *                  itself when it has both heads (a value head on the policy's trunk, as TRL's older
     *                  {@code AutoModelForCausalLMWithValueHead})
     * @param ptxData   token sequences for PPO-ptx (empty unless {@code ptx_coef > 0})
     */
    public PpoTrainer(PpoConfig cfg, Transformer policy, Transformer reference, Transformer critic,
                      RewardFunction reward, Tokenizer tokenizer, List<Prompt> prompts, int[] eosIds,
                      List<int[]> ptxData, PrintWriter console) {
        if (!policy.heads().lm()) {
            throw new UserError("the policy has no LM head");
        }
        if (!critic.heads().scalar()) {
            throw new UserError("the critic has no scalar head");
        }
        if (!reference.config().equals(policy.config())) {
            throw new UserError("the reference model's configuration differs from the policy's");
        }
        if (prompts.isEmpty()) {
            throw new UserError("no prompts to train on");
        }
        if (cfg.ptxCoef() > 0 && (ptxData == null || ptxData.isEmpty())) {
            throw new UserError("ptx_coef > 0 needs pretraining data (--ptx-data)");
        }
        if (cfg.stopAtEos() && eosIds.length == 0) {
            throw new UserError("the tokenizer has no end-of-sequence token to stop at");
        }
        this.cfg = cfg;
        this.policy = policy;
        this.reference = reference;
        this.critic = critic;
        this.reward = reward;
        this.tokenizer = tokenizer;
        this.prompts = List.copyOf(prompts);
        this.eosIds = cfg.stopAtEos() ? eosIds.clone() : new int[0];
        this.padId = tokenizer.padId().orElse(tokenizer.eosId().orElse(0));
        this.ptxData = ptxData == null ? List.of() : ptxData;
        int maxSeq = Math.min(policy.config().maxSeqLen(), critic.config().maxSeqLen());
        this.promptTokens = new ArrayList<>(prompts.size());
        for (int i = 0; i < prompts.size(); i++) {
            Prompt prompt = prompts.get(i);
            int[] ids = Rollouts.encodePrompt(tokenizer, prompt);
            PromptReader.checkLength(prompt.source() != null ? prompt.source() : "prompt " + (i + 1), ids.length,
                    cfg.responseLength(), "response_length " + cfg.responseLength(), maxSeq);
            promptTokens.add(ids);
        }
        this.generator = new Generator(policy, tokenizer);
        this.console = console;
        this.valueHead = critic == policy;
    }

    /** How the final policy and critic are written (defaults: not written). */
    public PpoTrainer writers(ModelWriter policyWriter, ModelWriter criticWriter) {
        this.policyWriter = policyWriter;
        this.criticWriter = criticWriter;
        return this;
    }

    /** PPO steps of this run. */
    public int totalSteps() {
        if (cfg.maxSteps() > 0) {
            return cfg.maxSteps();
        }
        return (int) Math.max(1, Math.ceil(cfg.numTrainEpochs() * prompts.size() / cfg.batchSize()));
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

    /**
     * Trains in an opened (locked, checked) output directory: from the newest checkpoint when the run continues one
     * found there. A run that had already finished is left as it is: nothing is trained or written.
     */
    public Result train(RunDirectory run) throws IOException {
        return new TrainingRun(cfg.runSettings(), console).run(run, new PpoSteps());
    }

    /**
     * PPO as the run loop runs it: policy and critic with their own AdamW, the KL controller's β and the position in
     * the shuffled prompts are what a checkpoint holds beside them.
     */
    private final class PpoSteps implements TrainingRun.Steps<Result> {
        private final AdamW policyOpt = new AdamW(cfg.optimizer().adamW(), policy.trainable());
        /** Null with a value head on the policy: the policy's optimizer updates the head with the trunk. */
        private final AdamW criticOpt = valueHead ? null : new AdamW(cfg.optimizer().adamW(), critic.trainable());
        private final PpoMath.KlController kl = new PpoMath.KlController(cfg.klCoef(), cfg.adaptiveKlTarget(),
                cfg.adaptiveKlHorizon());
        private int promptEpoch, promptPos;
        private long episodes;
        private Map<String, Double> last = Map.of();
        private StepOutcome outcome;

        @Override
        public List<Transformer> trained() {
            return valueHead ? List.of(policy) : List.of(policy, critic);
        }

        @Override
        public int totalSteps() {
            return PpoTrainer.this.totalSteps();
        }

        @Override
        public String name() {
            return "PPO";
        }

        @Override
        public List<String> perStepFiles() {
            return List.of("samples.jsonl");
        }

        @Override
        public void restore(Path dir, JsonNode s, List<JsonNode> done) throws IOException {
            Checkpoints.restore(dir.resolve("policy.safetensors"), policy.trainable(), "");
            Checkpoints.restore(dir.resolve("policy_optimizer.safetensors"), policyOpt.firstMoment(), "m.");
            Checkpoints.restore(dir.resolve("policy_optimizer.safetensors"), policyOpt.secondMoment(), "v.");
            if (!valueHead) {
                Checkpoints.restore(dir.resolve("critic.safetensors"), critic.trainable(), "");
                Checkpoints.restore(dir.resolve("critic_optimizer.safetensors"), criticOpt.firstMoment(), "m.");
                Checkpoints.restore(dir.resolve("critic_optimizer.safetensors"), criticOpt.secondMoment(), "v.");
                criticOpt.setStep(s.path("critic_adam_step").asLong());
            }
            episodes = s.path("episode").asLong();
            promptEpoch = s.path("prompt_epoch").asInt();
            promptPos = s.path("prompt_position").asInt();
            kl.set(s.path("kl_coef").asDouble());
            policyOpt.setStep(s.path("policy_adam_step").asLong());
            // the summary reports the last step's metrics: restored for a run killed after its last checkpoint
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
            console.printf("PPO: %d steps of %d episodes (%d prompts), reward: %s%n", total, cfg.batchSize(),
                    prompts.size(), reward.describe());
        }

        @Override
        public TrainingRun.Step step(int step, double lr) {
            // the batch of prompts: the next ones of this pass's shuffled order
            List<Integer> idx = new ArrayList<>(cfg.batchSize());
            while (idx.size() < cfg.batchSize()) {
                int[] order = order(promptEpoch);
                idx.add(order[promptPos]);
                if (++promptPos == order.length) {
                    promptPos = 0;
                    promptEpoch++;
                }
            }
            outcome = PpoTrainer.this.step(idx, step, lr, kl, policyOpt, criticOpt);
            episodes += idx.size();
            last = outcome.metrics;
            Map<String, Object> line = new LinkedHashMap<>();
            line.put("episode", episodes);
            line.putAll(outcome.metrics);
            if (outcome.skipped) {
                line.put("skipped", true);
            }
            Map<String, Double> m = outcome.metrics;
            return new TrainingRun.Step(line, outcome.skipped, "a NaN or infinite loss or gradient",
                    String.format("score %.3f kl %.3f rlhf_reward %.3f len %.1f %.0f rollout tok/s",
                            m.get("objective/scores"), m.get("objective/kl"), m.get("objective/rlhf_reward"),
                            m.get("response_length"), m.get("rollout_tokens_per_s")));
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
            st.put("prompt_epoch", promptEpoch);
            st.put("prompt_position", promptPos);
            st.put("kl_coef", kl.value());
            st.put("policy_adam_step", policyOpt.step());
            if (!valueHead) {
                st.put("critic_adam_step", criticOpt.step());
            }
            st.put("skipped_updates", skippedUpdates);
            Map<String, Map<String, Tensor>> files = new LinkedHashMap<>();
            files.put("policy.safetensors", Checkpoints.tensors(policy.trainable(), ""));
            files.put("policy_optimizer.safetensors", moments(policyOpt));
            if (!valueHead) {
                files.put("critic.safetensors", Checkpoints.tensors(critic.trainable(), ""));
                files.put("critic_optimizer.safetensors", moments(criticOpt));
            }
            Checkpoints.saveFiles(out, step, files, st, keep);
        }

        @Override
        public void saveModels(Path out) throws IOException {
            if (policyWriter != null) {
                policyWriter.write(policy, out);
            }
            if (criticWriter != null && !valueHead) {
                criticWriter.write(critic, out.resolve("critic"));
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
            console.printf("done: %d PPO steps, %d episodes, %.1f s; score %.4f, KL %.4f; policy in %s%n", r.steps(),
                    r.episodes(), r.seconds(), r.last().getOrDefault("objective/scores", Double.NaN),
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

    private static Map<String, Tensor> moments(AdamW opt) {
        Map<String, Tensor> m = new LinkedHashMap<>(Checkpoints.tensors(opt.firstMoment(), "m."));
        m.putAll(Checkpoints.tensors(opt.secondMoment(), "v."));
        return m;
    }

    /** The order of the prompts in pass {@code epoch} over them: a shuffle seeded by the seed and the pass. */
    private int[] order(int epoch) {
        return Splits.permutation(prompts.size(), new Rng(mix(cfg.seed(), 0x5EED, epoch)));
    }

    /** A seed derived from a run seed and two counters (step, pass), for sampling and shuffling. */
    public static long mix(long seed, long a, long b) {
        long h = seed * 0x9E3779B97F4A7C15L + a;
        h = (h ^ (h >>> 31)) * 0xBF58476D1CE4E5B9L + b;
        return h ^ (h >>> 29);
    }

    private record StepOutcome(Map<String, Double> metrics, List<Episode> episodes, double[] scores,
                               boolean skipped) {
    }

    /**
     * One PPO step, in the order of cleanrl's {@code ppo.py}: 1 rollout, 2 scores, 3 KL-penalised rewards,
     * 4 advantages, 5 epochs of minibatches, 6 metrics.
     */
    private StepOutcome step(List<Integer> idx, int step, double lr, PpoMath.KlController kl, AdamW policyOpt,
                             AdamW criticOpt) {
        Rollout rollout = rollout(idx, step);
        double[] scores = rollout.scores;
        long scored = System.nanoTime();
        double beta = kl.value();
        KlPenalisedRewards rewards = klPenalisedRewards(rollout, scores, beta);
        Advantages advantages = advantages(rewards.rewards, rollout.values);
        UpdateStats updates = epochsOfMinibatches(rollout, advantages, step, lr, policyOpt, criticOpt);
        long updated = System.nanoTime();
        return metrics(rollout, scores, rewards, advantages, beta, kl, lr, updates, scored, updated);
    }

    /**
     * The episodes of one step with what the policy, the reference and the critic make of them, their scores, and
     * where the time went (for the {@code time/*} metrics): summed over the chunks, and the rollout's wall clock.
     *
     * @param logprobs    the sampling policy's log-probability of each response token (the "old" log-probs)
     * @param refLogprobs the frozen reference's
     * @param values      the critic's value before each response token
     * @param scores      the reward function's scores, minus the missing-EOS penalty
     */
    private record Rollout(List<Episode> episodes, double[][] logprobs, double[][] refLogprobs, double[][] values,
                           double[] scores, RolloutChunk.Timing nanos, long started, long finished,
                           Map<String, Double> engineMetrics) {
    }

    /**
     * 1–2. Rollout and scores: one sampled response per prompt, the policy's and the reference's log-probabilities
     * and the critic's values, and the reward function's score minus the missing-EOS penalty for responses without
     * EOS; computed in chunks of {@code local_rollout_forward_batch_size} prompts by the rollout engine.
     */
    private Rollout rollout(List<Integer> idx, int step) {
        int b = idx.size(), fwd = cfg.localRolloutForwardBatchSize();
        List<int[]> chunks = new ArrayList<>();
        for (int from = 0; from < b; from += fwd) {
            chunks.add(idx.subList(from, Math.min(b, from + fwd)).stream().mapToInt(Integer::intValue).toArray());
        }
        long started = System.nanoTime();
        List<RolloutChunk> done = engine.rollout(step, chunks);
        long finished = System.nanoTime();
        if (done.size() != chunks.size()) {
            throw new IllegalStateException("the rollout engine returned " + done.size() + " chunks for "
                    + chunks.size());
        }
        List<Episode> eps = new ArrayList<>(b);
        double[][] logp = new double[b][], ref = new double[b][], values = new double[b][];
        double[] scores = new double[b];
        RolloutChunk.Timing nanos = new RolloutChunk.Timing(0, 0, 0, 0);
        for (int c = 0; c < done.size(); c++) {
            RolloutChunk ch = done.get(c);
            int from = c * fwd;
            if (ch.from() != from || ch.episodes().size() != chunks.get(c).length) {
                throw new IllegalStateException("rollout chunk " + c + " starts at " + ch.from() + " with "
                        + ch.episodes().size() + " episodes; expected " + from + " and " + chunks.get(c).length);
            }
            eps.addAll(ch.episodes());
            for (int i = 0; i < ch.episodes().size(); i++) {
                logp[from + i] = ch.logprobs()[i];
                ref[from + i] = ch.refLogprobs()[i];
                values[from + i] = ch.values()[i];
                scores[from + i] = ch.scores()[i];
                if (!ch.episodes().get(i).eos() && !Double.isNaN(cfg.missingEosPenalty())) {
                    scores[from + i] -= cfg.missingEosPenalty();
                }
            }
            nanos = nanos.plus(ch.nanos());
        }
        return new Rollout(eps, logp, ref, values, scores, nanos, started, finished, engine.lastMetrics());
    }

    /**
     * One chunk of step {@code step}'s rollout (see {@link RolloutChunk}): the prompts {@code promptIdx} (indices into
     * this trainer's prompts) at offset {@code from} of the step's batch, sampled with the seed of the step and the
     * offset, then run through the policy (with its value head), the critic, the reference and the reward as one
     * batch. A function of the current weights and the arguments only: what a cluster's workers call on their own
     * copies of the models.
     */
    public RolloutChunk rolloutChunk(int step, int from, int[] promptIdx) {
        int n = promptIdx.length;
        List<String> ps = new ArrayList<>(n);
        List<int[]> pt = new ArrayList<>(n);
        for (int i : promptIdx) {
            if (i < 0 || i >= prompts.size()) {
                throw new IllegalArgumentException("prompt index " + i + " is outside the " + prompts.size()
                        + " prompts");
            }
            ps.add(prompts.get(i).text());
            pt.add(promptTokens.get(i));
        }
        long t0 = System.nanoTime();
        Rollouts.Sampled sampled = Rollouts.sampleChunkWithLogprobs(generator, tokenizer, ps, pt,
                cfg.responseLength(), cfg.temperature(), mix(cfg.seed(), 0x6E4, step), from, eosIds);
        List<Episode> eps = sampled.episodes();
        long t1 = System.nanoTime();
        int all = Math.max(1, n);
        // the sampling policy's log-probabilities (and its value head's values) come from the decoding steps
        double[][] logp = sampled.logprobs(), ref = new double[n][], values = sampled.values();
        if (!valueHead) {
            values = new double[n][];
            Rollouts.values(critic, eps, all, padId, values);
        }
        long t2 = System.nanoTime();
        Rollouts.logProbs(reference, eps, cfg.temperature(), all, padId, ref, null);
        long t3 = System.nanoTime();
        double[] scores = reward.score(eps);
        long t4 = System.nanoTime();
        return new RolloutChunk(from, eps, logp, ref, values, scores,
                new RolloutChunk.Timing(t1 - t0, t2 - t1, t3 - t2, t4 - t3));
    }

    /** This process computes the chunks, one after another. */
    private List<RolloutChunk> localRollout(int step, List<int[]> chunks) {
        List<RolloutChunk> out = new ArrayList<>(chunks.size());
        for (int c = 0; c < chunks.size(); c++) {
            out.add(rolloutChunk(step, c * cfg.localRolloutForwardBatchSize(), chunks.get(c)));
        }
        return out;
    }

    /**
     * The weights a rollout depends on that training changes, in a fixed order: the policy's trainable parameters
     * (its adapters under LoRA; its value head when it has one), then the critic's unless the critic is the policy's
     * value head. A cluster engine ships these to its workers before each step; the frozen reference, reward model
     * and LoRA base are read there from the same paths.
     */
    public List<ParamArena> rolloutWeights() {
        return valueHead ? List.of(policy.trainable()) : List.of(policy.trainable(), critic.trainable());
    }

    /**
     * Tells the trainer that its {@link #rolloutWeights()} were overwritten from outside (a worker receiving the
     * driver's weights), so that whatever is derived from them is rebuilt before the next rollout.
     */
    public void rolloutWeightsChanged() {
        generator.weightsChanged();
    }

    /** The engine that computes rollout chunks (null: this process, one chunk after another). */
    public PpoTrainer rolloutEngine(RolloutEngine rolloutEngine) {
        this.engine = rolloutEngine == null ? this::localRollout : rolloutEngine;
        return this;
    }

    /** The configuration this trainer runs. */
    public PpoConfig config() {
        return cfg;
    }

    /** Per-token rewards, and the KL estimate of each token they were penalised by. */
    private record KlPenalisedRewards(double[][] rewards, double[][] klPerToken) {
    }

    /** 3. KL-penalised rewards: {@code −β·KL(policy‖reference)} per token, the score added at the last token. */
    private KlPenalisedRewards klPenalisedRewards(Rollout r, double[] scores, double beta) {
        int b = r.episodes.size();
        double[][] klTok = new double[b][];
        for (int i = 0; i < b; i++) {
            klTok[i] = new double[r.logprobs[i].length];
        }
        double[][] rewards = PpoMath.rewards(r.logprobs, r.refLogprobs, scores, beta, cfg.klEstimator(), klTok);
        if (cfg.whitenRewards()) {
            PpoMath.whiten(rewards, false);
        }
        return new KlPenalisedRewards(rewards, klTok);
    }

    /** GAE advantages (whitened) and the returns the critic regresses to. */
    private record Advantages(double[][] advantages, double[][] returns) {
    }

    /** 4. Advantages: generalised advantage estimation (γ, λ), whitened over the batch. */
    private Advantages advantages(double[][] rewards, double[][] values) {
        int b = rewards.length;
        double[][] returns = new double[b][];
        for (int i = 0; i < b; i++) {
            returns[i] = new double[rewards[i].length];
        }
        double[][] adv = PpoMath.gae(rewards, values, cfg.gamma(), cfg.lam(), returns);
        PpoMath.whiten(adv, true);
        return new Advantages(adv, returns);
    }

    /** Sums over the micro-batches of a step's updates, for the metrics. */
    private record UpdateStats(double pgLoss, double vfLoss, double pgClip, double vfClip, double approxKl,
                               double entropy, double ratioSum, double ratioSq, double gradNorm, long ratioCount,
                               long updateTokens, int microCount, int updates, int epochsRun, boolean anySkipped) {
    }

    /**
     * 5. Epochs of minibatches: {@code num_ppo_epochs} passes over the episodes in shuffled minibatches, each an
     * optimizer step of policy and critic (clipped together by global norm), accumulated over micro-batches; stops
     * early once a minibatch's approximate KL exceeds {@code target_kl}. A minibatch with a NaN or infinite loss or
     * gradient updates nothing.
     */
    private UpdateStats epochsOfMinibatches(Rollout r, Advantages a, int step, double lr, AdamW policyOpt,
                                            AdamW criticOpt) {
        List<Episode> eps = r.episodes;
        int b = eps.size();
        int micro = cfg.perDeviceTrainBatchSize(), accum = cfg.gradientAccumulationSteps();
        int mini = micro * accum;
        double pgLoss = 0, vfLoss = 0, pgClip = 0, vfClip = 0, approxKl = 0, entropy = 0, ratioSum = 0,
                ratioSq = 0, gradNorm = 0;
        long ratioCount = 0, updateTokens = 0;
        int microCount = 0, updates = 0, epochsRun = 0;
        boolean anySkipped = false;
        List<ParamArena> grads = valueHead ? List.of(policy.grads()) : List.of(policy.grads(), critic.grads());
        outer:
        for (int epoch = 0; epoch < cfg.numPpoEpochs(); epoch++) {
            epochsRun++;
            int[] perm = Splits.permutation(b, new Rng(mix(cfg.seed(), step, 0xE0 + epoch)));
            for (int m0 = 0; m0 < b; m0 += mini) {
                policy.zeroGrad();
                if (!valueHead) {
                    critic.zeroGrad();
                }
                double mbKl = 0;
                long mbTok = 0;
                boolean finite = true;
                for (int u0 = m0; u0 < Math.min(b, m0 + mini); u0 += micro) {
                    List<Integer> rows = new ArrayList<>();
                    for (int u = u0; u < Math.min(Math.min(b, m0 + mini), u0 + micro); u++) {
                        rows.add(perm[u]);
                    }
                    MicroStats ms = microStep(eps, rows, r.logprobs, r.values, a.advantages, a.returns, accum);
                    pgLoss += ms.pgLoss;
                    vfLoss += ms.vfLoss;
                    pgClip += ms.pgClip;
                    vfClip += ms.vfClip;
                    approxKl += ms.approxKl;
                    entropy += ms.entropy;
                    ratioSum += ms.ratioSum;
                    ratioSq += ms.ratioSq;
                    ratioCount += ms.tokens;
                    mbKl += ms.approxKl * ms.tokens;
                    mbTok += ms.tokens;
                    updateTokens += ms.seqTokens;
                    microCount++;
                    finite &= Double.isFinite(ms.pgLoss) && Double.isFinite(ms.vfLoss);
                    if (cfg.ptxCoef() > 0) {
                        finite &= Double.isFinite(ptx(step, epoch, u0, accum));
                    }
                }
                double norm = GradClip.clip(grads, cfg.optimizer().maxGradNorm());
                gradNorm += norm;
                updates++;
                if (finite && Double.isFinite(norm)) {
                    policyOpt.update(policy.trainable(), policy.grads(), (float) lr);
                    if (!valueHead) {
                        criticOpt.update(critic.trainable(), critic.grads(), (float) lr);
                    }
                } else {
                    anySkipped = true;
                }
                if (cfg.targetKl() > 0 && mbKl / Math.max(1, mbTok) > cfg.targetKl()) {
                    break outer;
                }
            }
        }
        return new UpdateStats(pgLoss, vfLoss, pgClip, vfClip, approxKl, entropy, ratioSum, ratioSq, gradNorm,
                ratioCount, updateTokens, microCount, updates, epochsRun, anySkipped);
    }

    /** 6. Metrics, with TRL's names; the adaptive KL controller moves β for the next step. */
    private StepOutcome metrics(Rollout r, double[] scores, KlPenalisedRewards rewards, Advantages a, double beta,
                                PpoMath.KlController kl, double lr, UpdateStats u, long scored, long updated) {
        List<Episode> eps = r.episodes;
        int b = eps.size();
        int eosCount = 0;
        for (Episode e : eps) {
            eosCount += e.eos() ? 1 : 0;
        }
        double[] klSeq = Rollouts.sums(rewards.klPerToken), lpSeq = Rollouts.sums(r.logprobs);
        double meanKl = mean(klSeq), meanScore = mean(scores);
        double nonScore = -beta * meanKl;
        kl.update(meanKl, b);
        long responseTokens = 0, allTokens = 0;
        for (Episode e : eps) {
            responseTokens += e.responseTokens().length;
            allTokens += e.length();
        }
        // the parts of the rollout summed over its chunks (on a cluster: over the workers, in parallel)
        double gen = r.nanos.sampling() / 1e9, fwdS = r.nanos.forward() / 1e9, refS = r.nanos.reference() / 1e9,
                scoreS = r.nanos.scoring() / 1e9, rolloutS = (r.finished - r.started) / 1e9,
                upd = (updated - scored) / 1e9, stepS = (updated - r.started) / 1e9;
        int microCount = u.microCount;
        double ratioMean = u.ratioSum / Math.max(1, u.ratioCount);
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("objective/kl", meanKl);
        m.put("objective/entropy", -mean(lpSeq));
        m.put("objective/non_score_reward", nonScore);
        m.put("objective/rlhf_reward", meanScore + nonScore);
        m.put("objective/scores", meanScore);
        m.put("policy/approxkl_avg", u.approxKl / microCount);
        m.put("policy/clipfrac_avg", u.pgClip / microCount);
        m.put("loss/policy_avg", u.pgLoss / microCount);
        m.put("loss/value_avg", u.vfLoss / microCount);
        m.put("val/clipfrac_avg", u.vfClip / microCount);
        m.put("policy/entropy_avg", u.entropy / microCount);
        m.put("val/ratio", ratioMean);
        m.put("val/ratio_var", u.ratioSq / Math.max(1, u.ratioCount) - ratioMean * ratioMean);
        m.put("val/var_explained", PpoMath.explainedVariance(r.values, a.returns));
        m.put("val/num_eos_tokens", (double) eosCount);
        m.put("kl_coef", beta);
        m.put("lr", lr);
        m.put("grad_norm", u.gradNorm / Math.max(1, u.updates));
        m.put("ppo_epochs", (double) u.epochsRun);
        m.put("response_length", (double) responseTokens / b);
        m.put("rollout_tokens_per_s", responseTokens / gen);
        m.put("update_tokens_per_s", u.updateTokens / upd);
        m.put("tokens_per_s", (allTokens * (double) u.epochsRun + responseTokens) / stepS);
        m.put("time/generation_s", gen);
        m.put("time/policy_value_forward_s", fwdS);
        m.put("time/reference_s", refS);
        m.put("time/scoring_s", scoreS);
        m.put("time/rollout_s", rolloutS);
        m.putAll(r.engineMetrics);
        m.put("time/update_s", upd);
        m.put("time/step_s", stepS);
        m.put("time/generation_share", gen / stepS);
        return new StepOutcome(m, eps, scores, u.anySkipped);
    }

    private record MicroStats(double pgLoss, double vfLoss, double pgClip, double vfClip, double approxKl,
                              double entropy, double ratioSum, double ratioSq, long tokens, long seqTokens) {
    }

    /**
     * Forward and backward of one micro-batch: the policy's clipped surrogate and the critic's clipped value loss,
     * each a mean over the micro-batch's response tokens, divided by the accumulation steps.
     */
    private MicroStats microStep(List<Episode> eps, List<Integer> rows, double[][] oldLogp, double[][] oldValues,
                                 double[][] adv, double[][] returns, int accum) {
        List<Episode> part = new ArrayList<>(rows.size());
        long seqTokens = 0;
        for (int r : rows) {
            part.add(eps.get(r));
            seqTokens += eps.get(r).length();
        }
        Rollouts.Layout l = Rollouts.layout(part, padId);
        int n = l.count();
        policy.forward(l.batch());
        float[] lp = new float[n], ent = new float[n], dlp = new float[n];
        TokenLogProbs.Saved saved = policy.tokenLogProbs(l.rows(), l.tokens(), cfg.temperature(), lp, ent,
                true);
        double pg = 0, clip = 0, akl = 0, entropy = 0, rs = 0, rsq = 0;
        double scale = 1.0 / n / accum;
        for (int i = 0; i < part.size(); i++) {
            int e = rows.get(i);
            for (int t = 0, k = l.start()[i]; k < l.start()[i + 1]; t++, k++) {
                PpoMath.PolicyTerm term = PpoMath.policyTerm(lp[k], oldLogp[e][t], adv[e][t], cfg.cliprange());
                dlp[k] = (float) (term.grad() * scale);
                pg += term.loss();
                clip += term.clipped() ? 1 : 0;
                double diff = lp[k] - oldLogp[e][t];
                akl += 0.5 * diff * diff;
                entropy += ent[k];
                rs += term.ratio();
                rsq += term.ratio() * term.ratio();
            }
        }
        if (!valueHead) {
            policy.tokenLogProbsBackward(l.rows(), l.tokens(), cfg.temperature(), saved, dlp, null);
            policy.backward();
            critic.forward(l.batch());
        }
        float[] v = new float[l.batch().rows()], dv = new float[l.batch().rows()];
        critic.scalarHead(v);
        double vf = 0, vclip = 0;
        for (int i = 0; i < part.size(); i++) {
            int e = rows.get(i);
            for (int t = 0, k = l.start()[i]; k < l.start()[i + 1]; t++, k++) {
                int row = l.rows()[k];
                PpoMath.ValueTerm term = PpoMath.valueTerm(v[row], oldValues[e][t], returns[e][t],
                        cfg.cliprangeValue());
                dv[row] = (float) (cfg.vfCoef() * term.grad() * scale);
                vf += term.loss();
                vclip += term.clipped() ? 1 : 0;
            }
        }
        critic.scalarHeadBackward(dv);
        if (valueHead) {
            // both heads' gradients meet in the shared trunk: one backward
            policy.tokenLogProbsBackward(l.rows(), l.tokens(), cfg.temperature(), saved, dlp, null);
        }
        critic.backward();
        return new MicroStats(pg / n, vf / n, clip / n, vclip / n, akl / n, entropy / n, rs, rsq, n, seqTokens);
    }

    /**
     * PPO-ptx: adds {@code ptx_coef ×} the mean LM loss of a batch of pretraining sequences to the policy's gradient.
     */
    private double ptx(int step, int epoch, int micro, int accum) {
        Rng rng = new Rng(mix(cfg.seed(), 0x9F7, ((long) step << 32) ^ ((long) epoch << 20) ^ micro));
        int b = cfg.ptxBatchSize(), max = policy.config().maxSeqLen(), seq = 0;
        List<int[]> picked = new ArrayList<>(b);
        for (int i = 0; i < b; i++) {
            int[] s = ptxData.get(rng.nextInt(ptxData.size()));
            s = s.length > max ? java.util.Arrays.copyOf(s, max) : s;
            picked.add(s);
            seq = Math.max(seq, s.length);
        }
        int[] tokens = new int[b * seq], mask = new int[b * seq], targets = new int[b * seq];
        java.util.Arrays.fill(tokens, padId);
        java.util.Arrays.fill(targets, CrossEntropy.IGNORE_INDEX);
        long count = 0;
        for (int i = 0; i < b; i++) {
            int[] s = picked.get(i);
            for (int t = 0; t < s.length; t++) {
                tokens[i * seq + t] = s[t];
                mask[i * seq + t] = 1;
                if (t + 1 < s.length) {
                    targets[i * seq + t] = s[t + 1];
                    count++;
                }
            }
        }
        if (count == 0) {
            return 0;
        }
        policy.forward(TokenBatch.of(tokens, mask, b, seq));
        double loss = policy.lmLoss(targets, null, (float) (cfg.ptxCoef() / count / accum), true);
        policy.backward();
        return loss / count;
    }

    private static double mean(double[] x) {
        double s = 0;
        for (double v : x) {
            s += v;
        }
        return x.length == 0 ? Double.NaN : s / x.length;
    }
}
