package dev.rlhf4j.train.batch;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.WeightDtype;
import dev.rlhf4j.model.generate.Generation;
import dev.rlhf4j.model.generate.GenerationConfig;
import dev.rlhf4j.model.generate.Generator;
import dev.rlhf4j.model.io.Gguf;
import dev.rlhf4j.model.io.LoadedModel;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.ppo.PromptReader;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Continuations of prompt records, as {@code rlhf4j generate} writes them: each record is encoded (as plain text, or
 * with the model's chat template), then the records are generated in fixed-size batches of consecutive records.
 *
 * <p>The seed scheme: every batch samples from one generator seeded with {@link Settings#seed()}, and the sequences
 * of a batch draw from it in turn, so a prompt's tokens depend on the batch it sits in (and batched decoding may
 * differ in the last float bits across batch shapes). Batch {@code b} always holds the records {@code b * batchSize}
 * to {@code (b + 1) * batchSize - 1} of the input file; whoever runs the batches (one process in order, or Spark tasks
 * in any order) gets the same tokens for every prompt.
 */
public final class PromptGeneration {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * How to generate, with the names of {@code rlhf4j generate}'s options in its errors.
     *
     * @param stop   stop strings (none when null or empty)
     * @param chat   wrap plain-text prompts as a user turn with the model's chat template
     * @param system the system message of {@code chat} (may be null)
     */
    public record Settings(int maxNewTokens, float temperature, int topK, float topP, long seed, List<String> stop,
                           boolean chat, String system, int batchSize) implements Serializable {
        public Settings {
            positive("--batch-size", batchSize);
            positive("--max-new-tokens", maxNewTokens);
            if (!(temperature >= 0) || Float.isInfinite(temperature)) {
                throw new UserError("--temperature must be a number >= 0, got " + temperature);
            }
            if (topK < 0) {
                throw new UserError("--top-k must be 0 or more, got " + topK);
            }
            if (!(topP > 0 && topP <= 1)) {
                throw new UserError("--top-p must be in (0, 1], got " + topP);
            }
            if (stop != null && stop.stream().anyMatch(String::isEmpty)) {
                throw new UserError("--stop strings must not be empty");
            }
            stop = stop == null ? List.of() : List.copyOf(stop);
        }

        private static void positive(String option, long value) {
            if (value <= 0) {
                throw new UserError(option + " must be positive, got " + value);
            }
        }
    }

    private final Pretrained model;
    private final Settings settings;
    private final GenerationConfig config;
    private final Generator generator;

    /** Generation with {@code model} (which must have a tokenizer). */
    public PromptGeneration(Pretrained model, Settings settings) {
        model.requireTokenizer();
        this.model = model;
        this.settings = settings;
        this.config = new GenerationConfig(settings.maxNewTokens(), settings.temperature(), settings.topK(),
                settings.topP(), settings.seed(), model.eosIds(), settings.stop());
        this.generator = new Generator(model.model(), model.tokenizer());
    }

    /** The batch that the record at {@code index} (0-based, in file order) belongs to. */
    public static int batchOf(long index, int batchSize) {
        return Math.toIntExact(index / batchSize);
    }

    /**
     * The tokens of one prompt: a conversation with the chat template, plain text as it is (or as a user turn with
     * {@link Settings#chat()}); a prompt that leaves no room for the new tokens is refused, naming the record.
     */
    public int[] encode(PromptReader.Record r) {
        int[] ids;
        try {
            if (r.isChat()) {
                ids = model.encodeChat(r.messages());
            } else if (settings.chat()) {
                ids = model.encodeChat(Pretrained.userTurn(settings.system(), r.text()));
            } else {
                ids = model.encodePrompt(r.text());
            }
        } catch (IllegalArgumentException e) {
            throw new UserError(r.where() + ": " + e.getMessage(), e);
        }
        PromptReader.checkLength(r.where(), ids.length, settings.maxNewTokens(),
                "--max-new-tokens " + settings.maxNewTokens(), model.model().config().maxSeqLen());
        return ids;
    }

    /** Generates one batch of encoded prompts (one of the fixed batches; see the class comment). */
    public List<Generation> generate(List<int[]> batch, Generator.Listener listener) {
        return generator.generate(batch, config, listener);
    }

    /** The JSON line of a generation: the prompt as given, completion, finish_reason, tokens and logprobs. */
    public static ObjectNode json(PromptReader.Record r, Generation g) {
        ObjectNode o = JSON.createObjectNode();
        if (r.isChat()) {
            o.set("messages", JSON.valueToTree(r.messages()));
        } else {
            o.put("prompt", r.text());
        }
        o.put("completion", g.text());
        o.put("finish_reason", g.finishReason());
        o.set("tokens", JSON.valueToTree(g.tokens()));
        o.set("logprobs", JSON.valueToTree(g.logprobs()));
        return o;
    }

    /** {@code value} as a weight dtype; a bad one is a user error naming the option. */
    public static WeightDtype weightDtype(String option, String value) {
        try {
            return WeightDtype.parse(value);
        } catch (IllegalArgumentException e) {
            throw new UserError(option + ": " + e.getMessage());
        }
    }

    /**
     * The model at {@code path} with its matrices held as {@code dtype}: a GGUF file's Q8_0 matrices are read as they
     * are stored; otherwise the model is read in fp32 and packed.
     */
    public static Pretrained open(Path path, Path tokenizer, WeightDtype dtype) throws IOException {
        boolean gguf = path.getFileName() != null
                && path.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".gguf");
        if (dtype == WeightDtype.Q8_0 && gguf) {
            return Pretrained.of(Gguf.load(path, true), tokenizer);
        }
        Pretrained pm = Pretrained.open(path, tokenizer);
        if (dtype == WeightDtype.FP32) {
            return pm;
        }
        LoadedModel l = pm.loaded();
        Transformer packed;
        try {
            packed = l.model().packed(dtype);
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new UserError(path + ": cannot hold its weights as " + dtype.label() + ": " + e.getMessage());
        }
        return Pretrained.of(new LoadedModel(packed, l.format(), l.modelType(), l.source(), l.bosId(), l.eosIds(),
                l.padId(), l.tokenizerPath(), l.ggufTokenizer(), l.chatTemplate()), tokenizer);
    }
}
