package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.generate.Generation;
import dev.rlhf4j.model.WeightDtype;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.train.batch.PromptGeneration;
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

    @Override
    public Integer call() throws IOException {
        if ((prompts == null) == (promptsFile == null)) {
            throw Checks.usage(spec, "give either --prompt TEXT... or --prompts FILE.jsonl");
        }
        // every option is checked before the model is read
        threads.apply();
        PromptGeneration.Settings settings = new PromptGeneration.Settings(maxNewTokens, temperature, topK, topP, seed,
                stop, chat, system, batchSize);
        source.checkPaths();
        Checks.inputFile("--prompts", promptsFile);
        List<PromptReader.Record> requests = new ArrayList<>();
        if (prompts != null) {
            for (int i = 0; i < prompts.size(); i++) {
                requests.add(new PromptReader.Record("--prompt " + (i + 1) + " of " + prompts.size(), prompts.get(i),
                        null));
            }
        } else {
            // the same reader as ppo's --prompts
            requests.addAll(PromptReader.records(promptsFile));
        }
        WeightDtype dtype = weightDtype("--weights-dtype", weightsDtype);
        Pretrained pm = PromptGeneration.open(source.model, source.tokenizer, dtype);
        pm.requireTokenizer();
        PromptGeneration generation = new PromptGeneration(pm, settings);
        List<int[]> encoded = new ArrayList<>();
        for (PromptReader.Record r : requests) {
            encoded.add(generation.encode(r));
        }
        PrintWriter out = spec.commandLine().getOut();
        boolean stream = !json && requests.size() == 1;
        // the fixed batches of consecutive prompts that rlhf4j spark generate runs too (see PromptGeneration)
        for (int from = 0; from < encoded.size(); from += batchSize) {
            List<int[]> batch = encoded.subList(from, Math.min(encoded.size(), from + batchSize));
            List<Generation> gens = generation.generate(batch, stream ? (seq, delta) -> {
                out.print(delta);
                out.flush();
            } : null);
            for (int i = 0; i < gens.size(); i++) {
                Generation g = gens.get(i);
                if (json) {
                    out.println(JSON.writeValueAsString(PromptGeneration.json(requests.get(from + i), g)));
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

    /** {@code value} as a weight dtype; a bad one is a user error naming the option. */
    static WeightDtype weightDtype(String option, String value) {
        return PromptGeneration.weightDtype(option, value);
    }
}
