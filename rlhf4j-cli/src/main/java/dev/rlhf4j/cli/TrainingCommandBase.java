package dev.rlhf4j.cli;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.LoraConfig;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.model.tokenizer.Tokenizers;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.RunFingerprint;
import dev.rlhf4j.train.Trainer;
import dev.rlhf4j.train.TrainingConfig;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * What {@code rlhf4j pretrain}, {@code rlhf4j sft} and {@code rlhf4j reward train} share: the model (a checkpoint, or
 * a new model from a small
 * config file and a tokenizer), the data, and the training hyper-parameters with HF/TRL names. Every option can also
 * come from {@code --config FILE.yaml} under its snake_case name; flags given on the command line win.
 */
abstract class TrainingCommandBase implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--config", paramLabel = "FILE.yaml",
            description = "YAML file with any of these options under their snake_case names (flags override it).")
    Path config;
    @Option(names = "--model", required = true, paramLabel = "PATH",
            description = "Checkpoint to start from (HF directory, llama2.c .bin, .gguf), or a YAML/JSON model config "
                    + "for a new model (family, dim, layers, heads, ...; needs --tokenizer).")
    Path model;
    @Option(names = "--tokenizer", paramLabel = "PATH", description = "Tokenizer, instead of the model's.")
    Path tokenizer;
    @Option(names = "--data", required = true, paramLabel = "FILE",
            description = "Training data, in the formats the description above gives.")
    Path data;
    @Option(names = "--eval-data", paramLabel = "FILE", description = "Held-out data in the same formats.")
    Path evalData;
    @Option(names = "--eval-split", defaultValue = "0", paramLabel = "FRACTION",
            description = "Without --eval-data, hold out this fraction of the training data (default: "
                    + "${DEFAULT-VALUE}).")
    double evalSplit;
    @Option(names = {"--out", "--output-dir"}, required = true, paramLabel = "DIR",
            description = "Output directory: checkpoints, metrics.jsonl, train_results.json and the final HF model.")
    Path out;
    @CommandLine.Mixin
    ResumeOptions output = new ResumeOptions();
    @CommandLine.Mixin
    AdamWOptions adamW = new AdamWOptions();
    @CommandLine.Mixin
    LoraOptions lora = new LoraOptions();
    @CommandLine.Mixin
    CheckpointingOption checkpointing = new CheckpointingOption();
    @Option(names = "--learning-rate", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double learningRate;
    @Option(names = "--lr-scheduler-type", converter = Choice.LrScheduler.class,
            completionCandidates = Choice.LrScheduler.class,
            description = "linear, cosine or constant after the warm-up (default: ${DEFAULT-VALUE}).")
    String lrSchedulerType;
    @Option(names = "--warmup-steps", description = "Linear warm-up steps (default: ${DEFAULT-VALUE}).")
    int warmupSteps;
    @Option(names = "--warmup-ratio", description = "Warm-up as a fraction of all steps (default: ${DEFAULT-VALUE}).")
    double warmupRatio;
    @Option(names = "--num-train-epochs", description = "Passes over the data (default: ${DEFAULT-VALUE}).")
    double numTrainEpochs;
    @Option(names = "--max-steps", description = "Optimizer steps; -1 = from the epochs (default: ${DEFAULT-VALUE}).")
    int maxSteps;
    @Option(names = "--per-device-train-batch-size", description = "Sequences (or packed rows) per micro-batch "
            + "(default: ${DEFAULT-VALUE}).")
    int batchSize;
    @Option(names = "--gradient-accumulation-steps", description = "Micro-batches per optimizer step (default: "
            + "${DEFAULT-VALUE}).")
    int accumulation;
    @Option(names = "--per-device-eval-batch-size", description = "Evaluation batch size (default: ${DEFAULT-VALUE}).")
    int evalBatchSize;
    @Option(names = "--eval-steps", description = "Evaluate every N steps; 0 = at the end (default: ${DEFAULT-VALUE}).")
    int evalSteps;
    @Option(names = "--save-steps", description = "Checkpoint every N steps; 0 = at the end (default: "
            + "${DEFAULT-VALUE}).")
    int saveSteps;
    @Option(names = "--save-total-limit", description = "Checkpoints kept (default: ${DEFAULT-VALUE}).")
    int saveTotalLimit;
    @Option(names = "--logging-steps", description = "Progress lines every N steps when not on a terminal (default: "
            + "${DEFAULT-VALUE}).")
    int loggingSteps;
    @Option(names = "--seed", description = "Seed of the data order and new models (default: ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--max-length", defaultValue = "-1",
            description = "Longest sequence; longer ones are truncated (default: 1024, or the model's maximum if "
                    + "smaller).")
    int maxLength;
    @Option(names = "--max-consecutive-nan-skips", description = "Abort after this many skipped (NaN/Inf) updates in "
            + "a row (default: ${DEFAULT-VALUE}).")
    int nanSkips;
    @Option(names = "--save-dtype", defaultValue = "f32", converter = Choice.SaveDtype.class,
            completionCandidates = Choice.SaveDtype.class,
            description = "Dtype of the final model: f32 or bf16 (default: ${DEFAULT-VALUE}).")
    String saveDtype;
    @CommandLine.Mixin
    ReportToOption reportTo = new ReportToOption();
    @CommandLine.Mixin
    ThreadsOption threads = new ThreadsOption();

    /** The heads the trained model needs (LM for pretraining and SFT, scalar for reward models). */
    abstract OutputHeads heads();

    /** Reads the data, builds the objective and trains in {@code run}. */
    abstract void train(Opened opened, TrainingConfig cfg, RunDirectory run, PrintWriter err) throws IOException;

    @Override
    public Integer call() throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        // every option is checked before the model is read or the output directory is touched
        threads.apply();
        Checks.inputPath("--model", model);
        Checks.inputPath("--tokenizer", tokenizer);
        Checks.inputFile("--data", data);
        Checks.inputFile("--eval-data", evalData);
        Checks.outputDirectory("--out", out);
        if (isModelConfig() && tokenizer == null) {
            throw Checks.usage(spec, "a new model (--model " + model + ") needs --tokenizer PATH");
        }
        if (!(evalSplit >= 0 && evalSplit < 1)) {
            throw new UserError("--eval-split must be in [0, 1), got " + evalSplit);
        }
        Checks.maxLength("--max-length", maxLength);
        LoraConfig loraConfig = loraDropoutAllowed() ? lora.config()
                : lora.configWithoutDropout(output.commandName());
        if (loraConfig != null && isModelConfig()) {
            throw Checks.usage(spec, "--lora-r adapts a trained model; a new model (--model " + model
                    + ") is trained in full");
        }
        trainingConfig(maxLength == -1 ? 1 : maxLength); // the other values; max_length is known with the model
        RunDirectory.Kind kind = Trainer.kind(output.commandName());
        Map<String, Path> inputs = new LinkedHashMap<>();
        inputs.put("--model", model);
        inputs.put("--tokenizer", tokenizer);
        inputs.put("--data", data);
        inputs.put("--eval-data", evalData);
        checkOwnOptions(inputs);
        RunDirectory.refuseInputs(out, kind, inputs, false);
        try (RunDirectory run = output.open(out, kind)) {
            Opened opened = openModel();
            int modelMax = opened.model().config().maxSeqLen();
            if (maxLength == -1) {
                maxLength = Math.min(1024, modelMax);
            } else if (maxLength > modelMax) {
                throw new UserError("--max-length " + maxLength + " exceeds the model's maximum "
                        + "sequence length of " + modelMax);
            }
            TrainingConfig cfg = trainingConfig(maxLength);
            run.verify(withOwnSettings(lora.addTo(cfg.fingerprint().file("model", model).file("tokenizer", tokenizer)
                    .file("data", data).file("eval_data", evalData).put("eval_split", evalSplit))),
                    output.allowChanges);
            train(opened, cfg, run, err);
        }
        return 0;
    }

    /**
     * Checks a command's own options before the model is read or the output directory touched, adding the input
     * paths among them to {@code inputs} (which must not lie in the output directory).
     */
    void checkOwnOptions(Map<String, Path> inputs) {
    }

    /** A command's own settings that determine the trained weights, added to the fingerprint --resume checks. */
    RunFingerprint withOwnSettings(RunFingerprint fingerprint) {
        return fingerprint;
    }

    /** The options as a validated {@link TrainingConfig}. */
    private TrainingConfig trainingConfig(int maxLength) {
        return new TrainingConfig(out, adamW.optimizer(learningRate, lrSchedulerType, warmupSteps, warmupRatio),
                numTrainEpochs, maxSteps, batchSize, accumulation, evalBatchSize, evalSteps, saveSteps, saveTotalLimit,
                loggingSteps, seed, maxLength, packing(), completionOnly(), nanSkips, reportTo.value)
                .withOutputDir(out);
    }

    /** Whether the loss covers only completions (SFT). */
    boolean completionOnly() {
        return false;
    }

    /** Whether examples are packed into full rows. */
    boolean packing() {
        return false;
    }

    /** The dtype the final model is written in. */
    Safetensors.DType saveDtype() {
        return Choice.SaveDtype.dtype(saveDtype);
    }

    /** Training and held-out lists: --eval-data, else --eval-split of the training list (shuffled with the seed). */
    <T> List<List<T>> trainEval(List<T> train, List<T> eval, java.util.function.BiFunction<List<T>, Integer,
            List<List<T>>> splitter) {
        if (!eval.isEmpty() || evalSplit == 0) {
            return List.of(train, eval);
        }
        int n = (int) Math.max(1, Math.round(evalSplit * train.size()));
        return splitter.apply(train, n);
    }

    /** A model with its tokenizer and chat template, and how to save it. */
    record Opened(Transformer model, Tokenizer tokenizer, ChatTemplate chat, HfCheckpoint.SaveOptions base) {
        HfCheckpoint.SaveOptions saveOptions(Safetensors.DType dtype) {
            return new HfCheckpoint.SaveOptions(dtype, base.modelType(), tokenizer, base.bosId(), base.eosIds(),
                    base.padId());
        }
    }

    /** Whether --model is a YAML/JSON config of a new model rather than a checkpoint. */
    boolean isModelConfig() {
        String name = model.getFileName() == null ? "" : model.getFileName().toString().toLowerCase(Locale.ROOT);
        return Files.isRegularFile(model)
                && (name.endsWith(".yaml") || name.endsWith(".yml") || name.endsWith(".json"));
    }

    /** Whether the trainer may apply LoRA dropout (DPO, like the RL trainers, runs without). */
    boolean loraDropoutAllowed() {
        return true;
    }

    Opened openModel() throws IOException {
        if (!isModelConfig()) {
            Pretrained pm = Pretrained.open(model, tokenizer);
            Transformer m = pm.model().heads() == heads() ? pm.model() : pm.model().withHeads(heads(), seed);
            return new Opened(adapted(m), pm.requireTokenizer(), pm.chatTemplate(),
                    HfCheckpoint.SaveOptions.like(pm.loaded(), Safetensors.DType.F32));
        }
        if (tokenizer == null) {
            throw new UserError(model + ": a new model needs --tokenizer PATH");
        }
        Tokenizer tok = Tokenizers.load(tokenizer);
        ModelConfig mc = NewModelConfig.read(model, tok.vocabSize());
        Transformer m = adapted(Transformer.create(mc, heads(), seed));
        ChatTemplate chat = new ChatTemplate(Tokenizers.chatTemplate(tok).orElse(ChatTemplate.CHATML),
                tok.specialTokens());
        return new Opened(m, tok, chat, HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
    }

    /** The model with fresh LoRA adapters when --lora-r is given (its weights then stay frozen), else itself. */
    private Transformer adapted(Transformer m) {
        LoraConfig lc = lora.config();
        Transformer a = lc == null ? m : m.withLora(lc, heads(), seed);
        if (lc != null) {
            a.lora().baseModel(model.toAbsolutePath().toString());
        }
        checkpointing.apply(a);
        return a;
    }
}
