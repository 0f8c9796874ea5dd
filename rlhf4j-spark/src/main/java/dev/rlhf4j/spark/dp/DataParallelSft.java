package dev.rlhf4j.spark.dp;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.LmObjective;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.RunFingerprint;
import dev.rlhf4j.train.Trainer;
import dev.rlhf4j.train.TrainingConfig;
import dev.rlhf4j.train.data.DatasetReader;
import dev.rlhf4j.train.data.Example;
import dev.rlhf4j.train.data.Splits;
import dev.rlhf4j.train.data.Tokenization;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code rlhf4j sft} as a data-parallel {@link DataParallelTraining.Job}: every replica opens the same checkpoint
 * (an HF directory, llama2.c or GGUF file) and data, tokenizes them as the single-process command does, and trains
 * its share of each step. With {@code gradient_accumulation_steps} k per replica, the run is the single-process SFT
 * run with k·N: same data order, same loss normalisation, the same weights to float rounding; its output directory
 * records k·N, so either can resume the other's checkpoints.
 *
 * @param replicas   N
 * @param model      the checkpoint to fine-tune
 * @param tokenizer  a tokenizer instead of the model's; null for the model's
 * @param data       training data (TRL formats)
 * @param evalData   held-out data; null for none
 * @param evalSplit  without evalData, the fraction of the training data held out
 * @param configJson the whole step's {@link TrainingConfig} (k·N) as JSON ({@link #config()})
 * @param saveDtype  the final model's dtype
 */
public record DataParallelSft(int replicas, String model, String tokenizer, String data, String evalData,
                              double evalSplit, String configJson, Safetensors.DType saveDtype)
        implements DataParallelTraining.Job {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * SFT of {@code model} on {@code data} by {@code replicas} replicas, each with {@code perReplica}'s settings
     * ({@code per_device_train_batch_size} and {@code gradient_accumulation_steps} are each replica's, as in HF
     * Trainer: a step takes per_device × accumulation × replicas examples).
     */
    public static DataParallelSft of(TrainingConfig perReplica, int replicas, Path model, Path tokenizer, Path data,
                                     Path evalData, double evalSplit, Safetensors.DType saveDtype) {
        if (replicas < 1) {
            throw new UserError("replicas must be at least 1, got " + replicas);
        }
        if (!(evalSplit >= 0 && evalSplit < 1)) {
            throw new UserError("eval_split must be in [0, 1), got " + evalSplit);
        }
        TrainingConfig whole = perReplica.toBuilder()
                .gradientAccumulationSteps(perReplica.gradientAccumulationSteps() * replicas).build();
        try {
            return new DataParallelSft(replicas, str(model), str(tokenizer), str(data), str(evalData), evalSplit,
                    JSON.writeValueAsString(whole), saveDtype);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The whole step's configuration (gradient_accumulation_steps over all replicas). */
    public TrainingConfig config() {
        try {
            return JSON.readValue(configJson, TrainingConfig.class);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot read the training configuration back: " + e.getMessage(), e);
        }
    }

    @Override
    public String outputDir() {
        return config().outputDir().toAbsolutePath().toString();
    }

    @Override
    public RunDirectory.Kind kind() {
        return Trainer.kind("sft");
    }

    /** As {@code rlhf4j sft} fingerprints a run (without LoRA), with the whole step's accumulation. */
    @Override
    public RunFingerprint fingerprint() {
        return config().fingerprint().file("model", path(model)).file("tokenizer", path(tokenizer))
                .file("data", path(data)).file("eval_data", path(evalData)).put("eval_split", evalSplit);
    }

    @Override
    public Trainer trainer(PrintWriter console) throws IOException {
        TrainingConfig cfg = config();
        Pretrained pm = Pretrained.open(path(model), path(tokenizer));
        Transformer m = pm.model().heads() == OutputHeads.LM ? pm.model()
                : pm.model().withHeads(OutputHeads.LM, cfg.seed());
        if (cfg.maxLength() > m.config().maxSeqLen()) {
            throw new UserError("max_length " + cfg.maxLength() + " exceeds the model's maximum sequence length of "
                    + m.config().maxSeqLen());
        }
        Tokenizer tok = pm.requireTokenizer();
        List<Example> train = Tokenization.tokenize(DatasetReader.read(path(data)), tok, pm.chatTemplate(),
                cfg.maxLength(), cfg.completionOnlyLoss()).examples();
        List<Example> eval = evalData == null ? List.of() : Tokenization.tokenize(DatasetReader.read(path(evalData)),
                tok, pm.chatTemplate(), cfg.maxLength(), cfg.completionOnlyLoss()).examples();
        if (eval.isEmpty() && evalSplit > 0) {
            List<List<Example>> parts = Splits.trainEval(train, (int) Math.max(1, Math.round(evalSplit
                    * train.size())), cfg.seed());
            train = parts.get(0);
            eval = parts.get(1);
        }
        HfCheckpoint.SaveOptions save = HfCheckpoint.SaveOptions.like(pm.loaded(), saveDtype).withTokenizer(tok);
        LmObjective objective = new LmObjective(m, train, eval, cfg, tok.paddingId(),
                (model, dir) -> HfCheckpoint.save(model, dir, save));
        return new Trainer(cfg, objective, console);
    }

    private static String str(Path p) {
        return p == null ? null : p.toAbsolutePath().toString();
    }

    private static Path path(String s) {
        return s == null ? null : Path.of(s);
    }
}
