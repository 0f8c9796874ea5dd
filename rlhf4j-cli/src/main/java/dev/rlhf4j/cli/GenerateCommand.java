package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.model.generate.Generation;
import dev.rlhf4j.model.generate.GenerationConfig;
import dev.rlhf4j.model.generate.Generator;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.WeightDtype;
import dev.rlhf4j.model.io.Gguf;
import dev.rlhf4j.model.io.LoadedModel;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.ppo.PromptReader;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code rlhf4j generate}: continuations of prompts, streamed for a single prompt. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Generate continuations of prompts with a model (HF directory, llama2.c .bin or .gguf).",
                "Prints the continuation only; a single prompt is streamed as it is generated."})
public final class GenerateCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin
    ModelOptions source;
    @Option(names = "--prompt", arity = "1..*", paramLabel = "TEXT", description = "One or more prompts.")
    List<String> prompts;
    @Option(names = "--prompts", paramLabel = "FILE.jsonl",
            description = "Prompts as ppo reads them, one JSON object per line (.jsonl or .jsonl.gz): "
                    + "{\"prompt\": text}, {\"prompt\": [messages]} or {\"messages\": [{\"role\", \"content\"}]}.")
    Path promptsFile;
    @Option(names = "--max-new-tokens", defaultValue = "128", description = "Tokens to generate at most (default: "
            + "${DEFAULT-VALUE}).")
    int maxNewTokens;
    @Option(names = "--temperature", defaultValue = "1.0", description = "Sampling temperature; 0 = greedy (default: "
            + "${DEFAULT-VALUE}).")
    float temperature;
    @Option(names = "--top-k", defaultValue = "0", description = "Keep the k most likely tokens; 0 = off (default: "
            + "${DEFAULT-VALUE}).")
    int topK;
    @Option(names = "--top-p", defaultValue = "1.0", description = "Nucleus sampling mass; 1 = off (default: "
            + "${DEFAULT-VALUE}).")
    float topP;
    @Option(names = "--seed", defaultValue = "0", description = "Seed: the same seed gives the same text (default: "
            + "${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--stop", arity = "1..*", paramLabel = "TEXT", description = "Stop once one of these strings "
            + "appears.")
    List<String> stop;
    @Option(names = "--chat", description = "Wrap each prompt as a user message with the model's chat template "
            + "(ChatML if it has none).")
    boolean chat;
    @Option(names = "--system", paramLabel = "TEXT", description = "System message for --chat.")
    String system;
    @Option(names = "--batch-size", defaultValue = "8", description = "Prompts generated together (default: "
            + "${DEFAULT-VALUE}).")
    int batchSize;
    @Option(names = "--json", description = "One JSON line per prompt: prompt, completion, finish_reason, tokens, "
            + "logprobs.")
    boolean json;
    @Option(names = "--weights-dtype", defaultValue = "fp32", paramLabel = "DTYPE",
            description = "How the matrices are held while generating: fp32, bf16 (half the bytes read per token) or "
                    + "q8_0 (GGUF's 8-bit blocks: a .gguf file's Q8_0 matrices kept as they are, any other model "
                    + "quantised at load) (default: ${DEFAULT-VALUE}).")
    String weightsDtype;
    @CommandLine.Mixin
    ThreadsOption threads = new ThreadsOption();

    /** A prompt as given: plain text, or a conversation; {@code where} names it in errors. */
    private record Request(String where, String text, List<ChatTemplate.Message> messages) {
    }

    @Override
    public Integer call() throws IOException {
        if ((prompts == null) == (promptsFile == null)) {
            throw Checks.usage(spec, "give either --prompt TEXT... or --prompts FILE.jsonl");
        }
        // every option is checked before the model is read
        threads.apply();
        Checks.positive("--batch-size", batchSize);
        Checks.positive("--max-new-tokens", maxNewTokens);
        Checks.nonNegative("--temperature", temperature);
        Checks.nonNegative("--top-k", topK);
        if (!(topP > 0 && topP <= 1)) {
            throw new UserError("--top-p must be in (0, 1], got " + topP);
        }
        if (stop != null && stop.stream().anyMatch(String::isEmpty)) {
            throw new UserError("--stop strings must not be empty");
        }
        source.checkPaths();
        Checks.inputFile("--prompts", promptsFile);
        List<Request> requests = new ArrayList<>();
        if (prompts != null) {
            for (int i = 0; i < prompts.size(); i++) {
                requests.add(new Request("--prompt " + (i + 1) + " of " + prompts.size(), prompts.get(i), null));
            }
        } else {
            // the same reader as ppo's --prompts
            for (PromptReader.Record r : PromptReader.records(promptsFile)) {
                requests.add(new Request(r.where(), r.text(), r.messages()));
            }
        }
        WeightDtype dtype = weightDtype("--weights-dtype", weightsDtype);
        Pretrained pm = open(dtype);
        pm.requireTokenizer();
        GenerationConfig cfg = new GenerationConfig(maxNewTokens, temperature, topK, topP, seed, pm.eosIds(), stop);
        int maxSeqLen = pm.model().config().maxSeqLen();
        List<int[]> encoded = new ArrayList<>();
        for (Request r : requests) {
            int[] ids;
            try {
                if (r.messages() != null) {
                    ids = pm.encodeChat(r.messages());
                } else if (chat) {
                    ids = pm.encodeChat(Pretrained.userTurn(system, r.text()));
                } else {
                    ids = pm.encodePrompt(r.text());
                }
            } catch (IllegalArgumentException e) {
                throw new UserError(r.where() + ": " + e.getMessage(), e);
            }
            PromptReader.checkLength(r.where(), ids.length, maxNewTokens, "--max-new-tokens " + maxNewTokens,
                    maxSeqLen);
            encoded.add(ids);
        }
        PrintWriter out = spec.commandLine().getOut();
        Generator generator = new Generator(pm.model(), pm.tokenizer());
        boolean stream = !json && requests.size() == 1;
        for (int from = 0; from < encoded.size(); from += batchSize) {
            List<int[]> batch = encoded.subList(from, Math.min(encoded.size(), from + batchSize));
            List<Generation> gens = generator.generate(batch, cfg, stream ? (seq, delta) -> {
                out.print(delta);
                out.flush();
            } : null);
            for (int i = 0; i < gens.size(); i++) {
                Generation g = gens.get(i);
                Request r = requests.get(from + i);
                if (json) {
                    ObjectNode o = JSON.createObjectNode();
                    if (r.messages() != null) {
                        o.set("messages", JSON.valueToTree(r.messages()));
                    } else {
                        o.put("prompt", r.text());
                    }
                    o.put("completion", g.text());
                    o.put("finish_reason", g.finishReason());
                    o.set("tokens", JSON.valueToTree(g.tokens()));
                    o.set("logprobs", JSON.valueToTree(g.logprobs()));
                    out.println(JSON.writeValueAsString(o));
                } else if (stream) {
                    out.println();
                } else {
                    if (from + i > 0) {
                        out.println("----");
                    }
                    out.println(g.text());
                }
            }
            out.flush();
        }
        return 0;
    }

    /**
     * The model with its matrices held as {@code dtype}: a GGUF file's Q8_0 matrices are read as they are stored;
     * otherwise the model is read in fp32 and packed.
     */
    private Pretrained open(WeightDtype dtype) throws IOException {
        boolean gguf = source.model != null && source.model.getFileName() != null
                && source.model.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".gguf");
        if (dtype == WeightDtype.Q8_0 && gguf) {
            return Pretrained.of(Gguf.load(source.model, true), source.tokenizer);
        }
        Pretrained pm = source.open();
        if (dtype == WeightDtype.FP32) {
            return pm;
        }
        LoadedModel l = pm.loaded();
        Transformer packed;
        try {
            packed = l.model().packed(dtype);
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw new UserError(source.model + ": cannot hold its weights as " + dtype.label() + ": " + e.getMessage());
        }
        return Pretrained.of(new LoadedModel(packed, l.format(), l.modelType(), l.source(), l.bosId(), l.eosIds(),
                l.padId(), l.tokenizerPath(), l.ggufTokenizer(), l.chatTemplate()), source.tokenizer);
    }

    /** {@code value} as a weight dtype; a bad one is a user error naming the option. */
    static WeightDtype weightDtype(String option, String value) {
        try {
            return WeightDtype.parse(value);
        } catch (IllegalArgumentException e) {
            throw new UserError(option + ": " + e.getMessage());
        }
    }
}
