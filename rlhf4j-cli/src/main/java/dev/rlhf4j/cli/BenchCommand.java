package dev.rlhf4j.cli;

import dev.rlhf4j.tensor.UserError;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.LoraConfig;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.TokenBatch;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.WeightDtype;
import dev.rlhf4j.model.generate.Generation;
import dev.rlhf4j.model.generate.GenerationConfig;
import dev.rlhf4j.model.generate.Generator;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.tensor.AdamW;
import dev.rlhf4j.tensor.Gemm;
import dev.rlhf4j.tensor.OpenBlas;
import dev.rlhf4j.tensor.Parallel;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Simd;
import dev.rlhf4j.train.DataCursor;
import dev.rlhf4j.train.TrainingConfig;
import dev.rlhf4j.train.dpo.DpoConfig;
import dev.rlhf4j.train.dpo.DpoExample;
import dev.rlhf4j.train.dpo.DpoObjective;
import dev.rlhf4j.train.ppo.PpoConfig;
import dev.rlhf4j.train.ppo.PpoCritic;
import dev.rlhf4j.train.ppo.PpoTrainer;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.RewardModelReward;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code rlhf4j bench}: the same measurements, flags and one-JSON-line-per-measurement output as the PyTorch peer
 * ({@code bench/torch_peer.py}), on the same GPT-2 layout, so that the two run side by side.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Measure a training step (forward, cross-entropy, backward, AdamW) of a GPT-2-layout model "
                + "and a GEMM, printing one JSON line per measurement (fields as the PyTorch peer's: "
                + "tokens_per_s, step_s, gflops).",
                "The train line also gives peak_rss_mb, the process's peak resident memory."})
public final class BenchCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Option(names = "--vocab", defaultValue = "512", description = "Vocabulary size (default: ${DEFAULT-VALUE}).")
    int vocab;
    @Option(names = "--dim", defaultValue = "64", description = "Model width (default: ${DEFAULT-VALUE}).")
    int dim;
    @Option(names = "--layers", defaultValue = "4", description = "Transformer blocks (default: ${DEFAULT-VALUE}).")
    int layers;
    @Option(names = "--heads", defaultValue = "4", description = "Attention heads (default: ${DEFAULT-VALUE}).")
    int heads;
    @Option(names = "--batch", defaultValue = "8", description = "Sequences per step (default: ${DEFAULT-VALUE}).")
    int batch;
    @Option(names = "--seq", defaultValue = "256", description = "Tokens per sequence (default: ${DEFAULT-VALUE}).")
    int seq;
    @Option(names = "--prompt", defaultValue = "16",
            description = "Prompt tokens per sequence in the decode benchmark (default: ${DEFAULT-VALUE}).")
    int prompt;
    @Option(names = "--new", defaultValue = "64",
            description = "New tokens per sequence in the decode benchmark (default: ${DEFAULT-VALUE}).")
    int newTokens;
    @Option(names = "--steps", defaultValue = "5",
            description = "Timed training steps after 2 warm-up steps; the median is reported (default: "
                    + "${DEFAULT-VALUE}).")
    int steps;
    @CommandLine.Mixin
    ThreadsOption threads = new ThreadsOption();
    @Option(names = "--only", converter = Choice.BenchMeasurement.class,
            completionCandidates = Choice.BenchMeasurement.class, description = "Run one measurement: train, decode, "
                    + "gemm, ppo or dpo (one PPO or DPO step, not part of the default run).")
    String only;
    @Option(names = "--gemm", defaultValue = "auto", converter = Choice.GemmBackend.class,
            completionCandidates = Choice.GemmBackend.class,
            description = "GEMM backend: auto (OpenBLAS when it loads, unless the Java kernel is the faster at this "
                    + "vector width), blas or java (default: ${DEFAULT-VALUE}).")
    String gemm;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of the weights and tokens (default: "
            + "${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--model", paramLabel = "PATH",
            description = "Decode benchmark on this checkpoint instead of a random GPT-2-layout model; prompts are BOS "
                    + "followed by --prompt - 1 random tokens.")
    Path model;
    @Option(names = "--lora-r", defaultValue = "0", paramLabel = "R",
            description = "PPO benchmark: LoRA adapters of this rank on every linear layer (alpha 2r) instead of full "
                    + "fine-tuning (default: ${DEFAULT-VALUE}).")
    int loraR;
    @Option(names = "--critic", defaultValue = "separate", paramLabel = "KIND",
            description = "PPO benchmark: separate, shared (LoRA only) or value-head (default: ${DEFAULT-VALUE}).")
    String critic;
    @Option(names = "--gradient-checkpointing",
            description = "Train and PPO benchmarks with per-block activation checkpointing of the trained models: "
                    + "block activations recomputed in the backward instead of kept.")
    boolean gradientCheckpointing;
    @Option(names = "--weights-dtype", defaultValue = "fp32", converter = WeightDtypes.class,
            completionCandidates = WeightDtypes.class,
            description = "How the decode benchmark reads the matrices: fp32, bf16 (a packed bfloat16 copy, half the "
                    + "bytes per token) or q8_0 (GGUF's 8-bit blocks); in the PPO benchmark, how the frozen weights "
                    + "(reference, reward model, the base under LoRA) are held: fp32 or bf16 (default: "
                    + "${DEFAULT-VALUE}).")
    String weightsDtype;
    @Option(names = "--temperature", defaultValue = "1.0",
            description = "Sampling temperature of the decode benchmark; 0 = greedy (default: ${DEFAULT-VALUE}).")
    float temperature;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** {@code --weights-dtype}. */
    static final class WeightDtypes extends Choice {
        WeightDtypes() {
            super("fp32", "bf16", "q8_0");
        }
    }

    @Override
    public Integer call() throws IOException {
        threads.check();
        if (vocab <= 0 || dim <= 0 || layers <= 0 || heads <= 0 || batch <= 0 || seq <= 0 || steps <= 0) {
            throw new UserError("--vocab, --dim, --layers, --heads, --batch, --seq and --steps must be "
                    + "positive");
        }
        Checks.positive("--prompt", prompt);
        Checks.positive("--new", newTokens);
        Checks.nonNegative("--temperature", temperature);
        if (model != null && !"decode".equals(only)) {
            throw Checks.usage(spec, "--model is for the decode benchmark: add --only decode");
        }
        if (!"fp32".equals(weightsDtype) && !"decode".equals(only) && !"ppo".equals(only)) {
            throw Checks.usage(spec, "--weights-dtype is for the decode and PPO benchmarks: add --only decode or ppo");
        }
        Checks.inputPath("--model", model);
        PpoCritic criticMode = PpoCritic.parse(critic);
        if (loraR < 0) {
            throw new UserError("--lora-r must be 0 (full fine-tuning) or a positive rank, got " + loraR);
        }
        if ((loraR > 0 || criticMode != PpoCritic.SEPARATE) && !"ppo".equals(only)) {
            throw Checks.usage(spec, "--lora-r and --critic are for the PPO benchmark: add --only ppo");
        }
        if (criticMode == PpoCritic.SHARED && loraR == 0) {
            throw Checks.usage(spec, "--critic shared needs --lora-r");
        }
        // measured at a known size: 0 means every core here, whatever an earlier command in this JVM chose
        Parallel.setGlobalThreads(threads.threads == 0 ? Runtime.getRuntime().availableProcessors() : threads.threads);
        switch (gemm) {
            case "auto" -> Gemm.setBackend(Gemm.autoBackend());
            case "blas" -> Gemm.setBackend(Gemm.Backend.BLAS);
            case "java" -> Gemm.setBackend(Gemm.Backend.JAVA);
            default -> throw new UserError("--gemm must be auto, blas or java, got '" + gemm + "'");
        }
        ModelConfig config = ModelConfig.gpt2(vocab, dim, layers, heads, Math.max(seq, prompt + newTokens));
        Transformer loaded = null;
        int bos = 0;
        if (model != null) {
            Pretrained pm = Pretrained.open(model, null);
            loaded = pm.model();
            config = loaded.config();
            bos = pm.loaded().bosId().orElse(pm.tokenizer() != null ? pm.tokenizer().bosId().orElse(0) : 0);
        }
        PrintWriter out = spec.commandLine().getOut();
        ObjectNode head = JSON.createObjectNode();
        head.put("rlhf4j", "bench");
        head.put("java", Runtime.version().toString());
        head.put("threads", Parallel.global().threads());
        head.put("gemm", Gemm.describe());
        head.put("vector_bits", Simd.bits());
        head.put("params", Transformer.layout(config, OutputHeads.LM).size());
        if (model != null) {
            head.put("model", model.toString());
        }
        ObjectNode cfg = head.putObject("config");
        cfg.put("vocab", config.vocabSize()).put("dim", config.dim()).put("layers", config.layers())
                .put("heads", config.heads()).put("batch", batch).put("seq", seq).put("prompt", prompt)
                .put("new", newTokens);
        out.println(JSON.writeValueAsString(head));
        if (only == null || only.equals("train")) {
            out.println(JSON.writeValueAsString(train(config)));
        }
        if (only == null || only.equals("decode")) {
            out.println(JSON.writeValueAsString(decode(loaded != null ? loaded
                    : Transformer.create(config, OutputHeads.LM, seed), loaded != null, bos)));
        }
        if (only == null || only.equals("gemm")) {
            out.println(JSON.writeValueAsString(gemm(batch * seq, 4 * dim, dim)));
        }
        if ("dpo".equals(only)) {
            out.println(JSON.writeValueAsString(dpo(config)));
        }
        if ("ppo".equals(only)) {
            ObjectNode d = decode(Transformer.create(config, OutputHeads.LM, seed), false, 0);
            ObjectNode p = ppo(config);
            p.put("decode_new_tokens_per_s", d.get("new_tokens_per_s").asDouble());
            p.put("rollout_vs_decode", p.get("rollout_tokens_per_s").asDouble() / d.get("new_tokens_per_s").asDouble());
            out.println(JSON.writeValueAsString(p));
        }
        out.flush();
        return 0;
    }

    private ObjectNode train(ModelConfig config) {
        Transformer model = Transformer.create(config, OutputHeads.LM, seed);
        model.gradientCheckpointing(gradientCheckpointing);
        AdamW opt = new AdamW(AdamW.Config.defaults(0f), model.params());
        Rng rng = new Rng(seed + 1);
        int n = batch * seq;
        int[] x = new int[n], y = new int[n];
        for (int i = 0; i < n; i++) {
            x[i] = rng.nextInt(vocab);
            y[i] = rng.nextInt(vocab);
        }
        TokenBatch tb = TokenBatch.of(x, batch, seq);
        double[] times = new double[steps];
        double loss = 0;
        for (int i = 0; i < steps + 2; i++) {
            long t0 = System.nanoTime();
            model.forward(tb);
            model.zeroGrad();
            loss = model.lmLoss(y, null, 1f / n, true) / n;
            model.backward();
            opt.update(model.params(), model.grads(), 1e-4f);
            double dt = (System.nanoTime() - t0) / 1e9;
            if (i >= 2) {
                times[i - 2] = dt;
            }
        }
        double med = median(times);
        ObjectNode o = JSON.createObjectNode();
        o.put("what", "train");
        o.put("tokens_per_s", n / med);
        o.put("step_s", med);
        o.put("loss", loss);
        o.put("peak_rss_mb", peakRssMb());
        o.put("activation_mb", model.workspaceBytes() / 1e6);
        o.put("gradient_checkpointing", gradientCheckpointing);
        return o;
    }

    /**
     * One DPO step as the peer measures it: {@code batch} pairs of {@code prompt} random prompt tokens and
     * {@code new} random response tokens each (chosen and rejected share the prompt), the frozen reference's
     * log-probabilities on the fly, the policy's forward and backward over both sides in one batch, sigmoid loss with
     * β 0.1, AdamW; the median of {@code steps} steps after 2 warm-up steps.
     */
    private ObjectNode dpo(ModelConfig config) {
        Transformer policy = Transformer.create(config, OutputHeads.LM, seed);
        Transformer reference = policy.frozenCopy();
        Rng rng = new Rng(seed + 2);
        List<DpoExample> pairs = new ArrayList<>();
        for (int i = 0; i < batch; i++) {
            int[] p = new int[prompt], c = new int[newTokens], r = new int[newTokens];
            for (int t = 0; t < prompt; t++) {
                p[t] = rng.nextInt(vocab);
            }
            for (int t = 0; t < newTokens; t++) {
                c[t] = rng.nextInt(vocab);
                r[t] = rng.nextInt(vocab);
            }
            pairs.add(new DpoExample(p, c, r, -1));
        }
        TrainingConfig cfg = TrainingConfig.builder(Path.of("bench")).perDeviceTrainBatchSize(batch)
                .gradientAccumulationSteps(1).maxLength(prompt + newTokens).seed(seed).build();
        DpoObjective objective = new DpoObjective(policy, reference, pairs, List.of(), DpoConfig.DEFAULTS, cfg, 0,
                (m, dir) -> { });
        AdamW opt = new AdamW(AdamW.Config.defaults(0f), policy.params());
        double[] times = new double[steps];
        double loss = 0;
        DataCursor cursor = new DataCursor(0, 0);
        for (int i = 0; i < steps + 2; i++) {
            long t0 = System.nanoTime();
            policy.zeroGrad();
            loss = objective.trainStep(cursor).loss();
            opt.update(policy.params(), policy.grads(), 1e-6f);
            double dt = (System.nanoTime() - t0) / 1e9;
            if (i >= 2) {
                times[i - 2] = dt;
            }
        }
        double med = median(times);
        ObjectNode o = JSON.createObjectNode();
        o.put("what", "dpo");
        o.put("pairs_per_s", batch / med);
        o.put("step_s", med);
        o.put("tokens_per_s", 2.0 * batch * (prompt + newTokens) / med);
        o.put("loss", loss);
        o.put("peak_rss_mb", peakRssMb());
        return o;
    }

    /**
     * Batched sampling with the key/value cache as the peer measures it: {@code batch} prompts of {@code prompt}
     * random tokens (after BOS for a checkpoint), {@code new} tokens each at {@code --temperature} (1, as the
     * peer, by default), never stopping early; the median of 5 repetitions after a warm-up of at least 2 s that
     * lasts until two consecutive runs agree within 5% (at most 30 s), prefill included.
     */
    private ObjectNode decode(Transformer m, boolean checkpoint, int bos) {
        Rng rng = new Rng(seed + 3);
        List<int[]> prompts = new ArrayList<>();
        int v = m.config().vocabSize();
        for (int b = 0; b < batch; b++) {
            int[] p = new int[prompt];
            for (int t = 0; t < prompt; t++) {
                p[t] = checkpoint && t == 0 ? bos : rng.nextInt(v);
            }
            prompts.add(p);
        }
        WeightDtype dtype = WeightDtype.parse(weightsDtype);
        if (dtype == WeightDtype.Q8_0 && m.config().dim() % 32 != 0) {
            throw new UserError("--weights-dtype q8_0 needs a model width that is a multiple of 32, got "
                    + m.config().dim());
        }
        Generator generator = new Generator(m, null, dtype);
        GenerationConfig gc = new GenerationConfig(newTokens, temperature, 0, 1f, seed, null, null);
        // JIT warm-up: C2 compiles the kernels over several runs, so a fixed warm-up leaves later (timed) runs
        // faster than earlier ones; repeat until two consecutive runs agree within 5%, for at least 3 runs and 2 s,
        // at most 30 s
        long warmStart = System.nanoTime();
        double previous = Double.NaN;
        for (int i = 0; ; i++) {
            long t0 = System.nanoTime();
            generator.generate(prompts, gc);
            long now = System.nanoTime();
            double run = (now - t0) / 1e9;
            boolean settled = i >= 2 && Math.abs(run - previous) <= 0.05 * previous;
            if ((settled && now - warmStart >= 2_000_000_000L) || now - warmStart >= 30_000_000_000L) {
                break;
            }
            previous = run;
        }
        double[] times = new double[5];
        long generated = 0;
        for (int r = 0; r < times.length; r++) {
            long t0 = System.nanoTime();
            List<Generation> out = generator.generate(prompts, gc);
            times[r] = (System.nanoTime() - t0) / 1e9;
            generated = out.stream().mapToLong(g -> g.tokens().length).sum();
        }
        double med = median(times);
        ObjectNode o = JSON.createObjectNode();
        o.put("what", "decode");
        o.put("weights_dtype", dtype.label());
        o.put("weight_bytes", weightBytes(m, dtype));
        o.put("new_tokens_per_s", generated / med);
        o.put("s", med);
        o.put("peak_rss_mb", peakRssMb());
        return o;
    }

    /** Bytes of the weights decoding reads: the float32 rest plus the matrices in {@code dtype}. */
    private static long weightBytes(Transformer m, WeightDtype dtype) {
        if (m.isPacked() || dtype == WeightDtype.FP32) {
            return m.weightBytes();
        }
        long rest = Transformer.restLayout(m.config(), OutputHeads.LM).size();
        long packed = Transformer.layout(m.config(), OutputHeads.LM).size() - rest;
        return 4 * rest + (dtype == WeightDtype.BF16 ? 2 * packed : packed + packed / 8);
    }

    /**
     * One PPO step as {@code rlhf4j ppo} runs it, at this shape: policy, critic, frozen reference and frozen reward
     * model all of the configured layout with random weights; {@code batch} prompts of {@code prompt} random tokens,
     * {@code new} sampled tokens each (no early stop), 4 PPO epochs over one minibatch of the batch. Two steps run;
     * the second's time split is reported (the first warms the JIT up).
     */
    private ObjectNode ppo(ModelConfig config) throws IOException {
        PpoCritic mode = PpoCritic.parse(critic);
        boolean valueHead = mode == PpoCritic.VALUE_HEAD;
        WeightDtype frozen = WeightDtype.parse(weightsDtype);
        Transformer rm = Transformer.create(config, OutputHeads.SCALAR, seed + 2);
        rm.freeze();
        if (frozen != WeightDtype.FP32) {
            rm = rm.packed(frozen);
        }
        Transformer policy, reference, critic;
        if (loraR > 0) {
            // one frozen copy of the policy's weights (also the reference), the reward model's shared by the critic
            LoraConfig lc = LoraConfig.of(loraR, 2f * loraR, List.of(LoraConfig.ALL_LINEAR));
            Transformer base = Transformer.create(config, OutputHeads.LM, seed);
            base.freeze();
            if (frozen != WeightDtype.FP32) {
                base = base.packed(frozen);
            }
            policy = base.withLora(lc, valueHead ? OutputHeads.BOTH : OutputHeads.LM, seed);
            reference = base;
            critic = valueHead ? policy : mode == PpoCritic.SHARED ? base.withLora(lc, OutputHeads.SCALAR, seed + 1)
                    : rm.withLora(lc, OutputHeads.SCALAR, seed + 1);
        } else {
            policy = Transformer.create(config, valueHead ? OutputHeads.BOTH : OutputHeads.LM, seed);
            reference = frozen == WeightDtype.FP32 ? policy.frozenCopy() : policy.packed(frozen);
            critic = valueHead ? policy : Transformer.create(config, OutputHeads.SCALAR, seed + 1);
        }
        IdTokenizer tok = new IdTokenizer(config.vocabSize());
        Rng rng = new Rng(seed + 4);
        List<Prompt> prompts = new ArrayList<>();
        for (int b = 0; b < batch; b++) {
            int[] p = new int[prompt];
            for (int t = 0; t < prompt; t++) {
                p[t] = rng.nextInt(config.vocabSize());
            }
            prompts.add(Prompt.plain(tok.decode(p, false)));
        }
        Path dir = Files.createTempDirectory("rlhf4j-bench-ppo");
        try {
            PpoConfig c = PpoConfig.builder(dir).perDeviceTrainBatchSize(batch).responseLength(newTokens)
                    .stopAtEos(false).maxSteps(2).learningRate(1e-6).sampleSteps(0).saveSteps(1000)
                    .localRolloutForwardBatchSize(batch).build();
            policy.gradientCheckpointing(gradientCheckpointing);
            critic.gradientCheckpointing(gradientCheckpointing);
            PpoTrainer trainer = new PpoTrainer(c, policy, reference, critic,
                    new RewardModelReward(rm, tok, tok, null, 0, batch), tok, prompts, new int[0], List.of(),
                    new PrintWriter(java.io.Writer.nullWriter()));
            java.util.Map<String, Double> m = trainer.train(false).last();
            ObjectNode o = JSON.createObjectNode();
            o.put("what", "ppo");
            o.put("episodes", batch);
            o.put("lora_r", loraR);
            o.put("critic", mode.cliName());
            o.put("gradient_checkpointing", gradientCheckpointing);
            o.put("frozen_dtype", frozen.label());
            o.put("trained_params", policy.trainableCount() + (critic == policy ? 0 : critic.trainableCount()));
            for (String k : List.of("time/step_s", "time/generation_s", "time/policy_value_forward_s",
                    "time/reference_s", "time/scoring_s", "time/update_s", "time/generation_share",
                    "rollout_tokens_per_s", "update_tokens_per_s")) {
                o.put(k.replace("time/", ""), m.get(k));
            }
            o.put("peak_rss_mb", peakRssMb());
            return o;
        } finally {
            try (var walk = Files.walk(dir)) {
                for (Path q : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.delete(q);
                }
            }
        }
    }

    /**
     * C = A·Bᵀ of the peer's shape, through rlhf4j's GEMM (pool-parallel), and, when OpenBLAS loaded, the raw
     * native call with OpenBLAS's own threads, so the overhead of the FFM call and of the pool shows as a ratio
     * (medians of 7 alternating rounds of 5 calls).
     */
    private ObjectNode gemm(int m, int n, int k) {
        Rng rng = new Rng(seed + 2);
        float[] a = new float[m * k], b = new float[n * k], c = new float[m * n];
        for (int i = 0; i < a.length; i++) {
            a[i] = rng.nextFloat();
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = rng.nextFloat();
        }
        double flops = 2.0 * m * n * k;
        Runnable ours = () -> Gemm.matmulNT(a, b, c, m, n, k, false);
        Runnable raw = () -> {
            OpenBlas.setThreads(Parallel.global().threads());
            try {
                Gemm.blasRaw(false, true, m, n, k, 1f, a, 0, k, b, 0, k, 0f, c, 0, n);
            } finally {
                OpenBlas.setThreads(1);
            }
        };
        boolean withRaw = OpenBlas.available();
        // Rounds alternate between the two so that slow phases of a shared machine hit both alike. After OpenBLAS's
        // own threads ran, they busy-wait for a while (their THREAD_TIMEOUT) and would steal the cores from the
        // next round, so each round starts after a pause that lets them sleep.
        int rounds = 7;
        double[] tOurs = new double[rounds], tRaw = new double[rounds];
        for (int i = 0; i < 3; i++) {
            ours.run();
            if (withRaw) {
                raw.run();
            }
        }
        for (int r = 0; r < rounds; r++) {
            pause();
            ours.run();
            tOurs[r] = timeCalls(ours);
            if (withRaw) {
                raw.run();
                tRaw[r] = timeCalls(raw);
            }
        }
        ObjectNode o = JSON.createObjectNode();
        o.put("what", "gemm");
        o.putArray("shape").add(m).add(n).add(k);
        double med = median(tOurs);
        o.put("gflops", flops / med / 1e9);
        o.put("backend", Gemm.backend().name().toLowerCase());
        if (withRaw) {
            double medRaw = median(tRaw);
            o.put("raw_blas_gflops", flops / medRaw / 1e9);
            o.put("vs_raw_blas", medRaw / med);
        }
        return o;
    }

    private static void pause() {
        try {
            Thread.sleep(500);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Seconds per call, averaged over 5 calls. */
    private static double timeCalls(Runnable call) {
        long t0 = System.nanoTime();
        for (int i = 0; i < 5; i++) {
            call.run();
        }
        return (System.nanoTime() - t0) / 1e9 / 5;
    }

    private static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    /** VmHWM of /proc/self/status in MB, or -1 where that file does not exist. */
    static double peakRssMb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    String[] parts = line.trim().split("\\s+");
                    return Long.parseLong(parts[1]) / 1024.0;
                }
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
