package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.BpeTrainer;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.data.JsonlWriter;
import dev.rlhf4j.train.RunFingerprint;
import dev.rlhf4j.train.lab.Annotator;
import dev.rlhf4j.train.lab.LabData;
import dev.rlhf4j.train.lab.LabDataset;
import dev.rlhf4j.train.lab.LabPreferences;
import dev.rlhf4j.train.lab.LabStream;
import dev.rlhf4j.train.lab.LabWorld;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.Function;

/** {@code rlhf4j lab generate}: the lab world's datasets as JSONL. */
@Command(name = "generate", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Write the lab world's datasets: corpus.jsonl ({\"text\"}, mixed quality, for pretraining), "
                + "sft.jsonl and sft-eval.jsonl ({\"prompt\",\"completion\"} by good but imperfect demonstrators), "
                + "prompts.jsonl and prompts-eval.jsonl ({\"prompt\"}), preferences.jsonl and preferences-eval.jsonl "
                + "({\"prompt\",\"chosen\",\"rejected\"} labelled by simulated annotators, with the gold rewards as "
                + "gold_chosen/gold_rejected for analysis), tokenizer/ (byte-level BPE trained on the corpus) and "
                + "lab.json (the settings and the annotators' agreement and best possible accuracy).",
                "Pairs are sampled from --model at temperature 1 when given (InstructGPT's way), else written by the "
                        + "demonstrators."})
public final class LabGenerateCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final RunDirectory.Kind KIND = new RunDirectory.Kind("lab generate", false, List.of("corpus.jsonl",
            "sft.jsonl", "sft-eval.jsonl", "prompts.jsonl", "prompts-eval.jsonl", "preferences.jsonl",
            "preferences-eval.jsonl", "tokenizer", "lab.json"));

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory (new or empty).")
    Path out;
    @CommandLine.Mixin
    OutputOptions output = new OutputOptions();
    @Option(names = "--seed", defaultValue = "0", description = "World seed (default: ${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--model", paramLabel = "PATH", description = "Model to sample preference pairs from (an SFT "
            + "model).")
    Path model;
    @Option(names = "--corpus", defaultValue = "20000", description = "Dialogues in the corpus (default: "
            + "${DEFAULT-VALUE}).")
    int corpus;
    @Option(names = "--facts", defaultValue = "6000", description = "Plain facts in the corpus (default: "
            + "${DEFAULT-VALUE}).")
    int facts;
    @Option(names = "--sft", defaultValue = "3000", description = "SFT demonstrations (default: ${DEFAULT-VALUE}).")
    int sft;
    @Option(names = "--sft-eval", defaultValue = "300", description = "Held-out demonstrations (default: "
            + "${DEFAULT-VALUE}).")
    int sftEval;
    @Option(names = "--prompts", defaultValue = "2000", description = "RL prompts (default: ${DEFAULT-VALUE}).")
    int prompts;
    @Option(names = "--eval-prompts", defaultValue = "300", description = "Held-out evaluation prompts (default: "
            + "${DEFAULT-VALUE}).")
    int evalPrompts;
    @Option(names = "--pairs", defaultValue = "3000", description = "Training preference pairs (default: "
            + "${DEFAULT-VALUE}).")
    int pairs;
    @Option(names = "--eval-pairs", defaultValue = "600", description = "Held-out preference pairs (default: "
            + "${DEFAULT-VALUE}).")
    int evalPairs;
    @Option(names = "--agreement", defaultValue = "0.73",
            description = "Inter-annotator agreement the temperature is calibrated to (default: ${DEFAULT-VALUE}).")
    double agreement;
    @Option(names = "--length-bias", defaultValue = "0",
            description = "Annotators' extra preference per word of length difference (default: ${DEFAULT-VALUE}).")
    double lengthBias;
    @Option(names = "--max-new-tokens", defaultValue = "48", description = "Response length when sampling --model "
            + "(default: ${DEFAULT-VALUE}).")
    int maxNewTokens;
    @Option(names = "--vocab-size", defaultValue = "512",
            description = "Size of the byte-level BPE vocabulary trained on the corpus (default: ${DEFAULT-VALUE}).")
    int vocabSize;
    @Option(names = "--preferences-only",
            description = "Write only the preference pairs and lab.json (for pairs sampled from a model trained on "
                    + "an earlier generate of the same seed).")
    boolean preferencesOnly;
    @CommandLine.Mixin
    ThreadsOption threads = new ThreadsOption();

    @Override
    public Integer call() throws IOException {
        // every option is checked before anything is generated or written
        threads.apply();
        Checks.nonNegative("--corpus", corpus);
        Checks.nonNegative("--facts", facts);
        Checks.nonNegative("--sft", sft);
        Checks.nonNegative("--sft-eval", sftEval);
        Checks.nonNegative("--prompts", prompts);
        Checks.nonNegative("--eval-prompts", evalPrompts);
        if (pairs < 0 || evalPairs < 0 || (pairs == 0) != (evalPairs == 0)) {
            throw new UserError("--pairs and --eval-pairs must both be positive, or both 0 for no "
                    + "preference data");
        }
        if (preferencesOnly && pairs == 0) {
            throw Checks.usage(spec, "--preferences-only with --pairs 0 writes nothing");
        }
        if (!preferencesOnly && corpus + facts == 0) {
            throw new UserError("--corpus and --facts are both 0: no text to train the tokenizer on");
        }
        Checks.between("--agreement", agreement, 0.5, 1);
        Checks.finite("--length-bias", lengthBias);
        Checks.positive("--max-new-tokens", maxNewTokens);
        Checks.inputPath("--model", model);
        Checks.outputDirectory("--out", out);
        BpeTrainer bpe;
        try {
            bpe = LabDataset.tokenizerTrainer(vocabSize);
        } catch (IllegalArgumentException e) {
            throw new UserError("--vocab-size " + vocabSize + ": " + e.getMessage(), e);
        }
        PrintWriter err = spec.commandLine().getErr();
        RunDirectory.refuseInputs(out, KIND, Collections.singletonMap("--model", model), false);
        try (RunDirectory run = output.open(out, KIND)) {
            run.verify(new RunFingerprint().put("seed", seed).file("model", model).put("corpus", corpus)
                    .put("facts", facts).put("sft", sft).put("sft_eval", sftEval).put("prompts", prompts)
                    .put("eval_prompts", evalPrompts).put("pairs", pairs).put("eval_pairs", evalPairs)
                    .put("agreement", agreement).put("length_bias", lengthBias).put("max_new_tokens", maxNewTokens)
                    .put("vocab_size", vocabSize).put("preferences_only", preferencesOnly), false);
            run.markRunning(0);
            generate(err, bpe);
            run.markFinished(0);
        }
        return 0;
    }

    private void generate(PrintWriter err, BpeTrainer bpe) throws IOException {
        LabWorld w = new LabWorld(seed);
        if (!preferencesOnly) {
            LabDataset.Texts texts = LabDataset.texts(w, new LabDataset.Sizes(corpus, facts, sft, sftEval, prompts,
                    evalPrompts));
            write("corpus.jsonl", texts.corpus(), t -> JsonlWriter.fields("text", t));
            Tokenizer tok = bpe.train(texts.corpus());
            try {
                tok.save(out.resolve("tokenizer"));
            } catch (IOException e) {
                throw IoErrors.of("write the tokenizer to", out.resolve("tokenizer"), e);
            }
            write("sft.jsonl", texts.sft(), d -> JsonlWriter.fields("prompt", d[0], "completion", d[1]));
            write("sft-eval.jsonl", texts.sftEval(), d -> JsonlWriter.fields("prompt", d[0], "completion", d[1]));
            write("prompts.jsonl", texts.prompts(), p -> JsonlWriter.fields("prompt", p));
            write("prompts-eval.jsonl", texts.evalPrompts(), p -> JsonlWriter.fields("prompt", p));
            err.printf("wrote %s: tokenizer (%d tokens), corpus %d, sft %d + %d, prompts %d + %d%n", out,
                    tok.vocabSize(), corpus + facts, sft, sftEval, prompts, evalPrompts);
        }
        if (pairs == 0) {
            err.flush();
            return;
        }
        LabData.PairSampler sampler;
        String source;
        if (model != null) {
            Pretrained pm = Pretrained.open(model, null);
            sampler = LabData.modelPairs(pm.model(), pm.requireTokenizer(), maxNewTokens, seed, 32);
            source = model.toString();
        } else {
            sampler = LabData.demonstratorPairs(w, LabStream.DEMONSTRATOR_PAIRS.id());
            source = "demonstrators";
        }
        err.printf("sampling %d preference pairs from %s%n", pairs + evalPairs, source);
        LabPreferences labelled = LabPreferences.sample(w, sampler, pairs, evalPairs, agreement, lengthBias);
        Annotator annotator = labelled.annotator();
        write("preferences.jsonl", labelled.train(), LabData.LabeledPair::preferenceRecord);
        write("preferences-eval.jsonl", labelled.eval(), LabData.LabeledPair::preferenceRecord);
        List<Annotator.Comparison> evalComparisons = labelled.evalComparisons();
        ObjectNode lab = JSON.createObjectNode();
        lab.put("seed", seed);
        lab.put("pairs_from", source);
        lab.put("annotator_temperature", annotator.temperature());
        lab.put("annotator_length_bias", lengthBias);
        lab.put("agreement_target", agreement);
        lab.put("agreement_eval", annotator.agreement(evalComparisons));
        lab.put("best_accuracy_eval", annotator.bestAccuracy(evalComparisons));
        lab.putPOJO("gold_weights", LabWorld.WEIGHTS);
        IoErrors.writeString(out.resolve("lab.json"), JSON.copy().enable(SerializationFeature.INDENT_OUTPUT)
                .writeValueAsString(lab));
        err.printf("annotators: temperature %.4f, length bias %.3f; on held-out pairs they agree %.1f%% of the time; "
                        + "the best possible reward-model accuracy there is %.1f%%%n", annotator.temperature(),
                        lengthBias,
                100 * annotator.agreement(evalComparisons), 100 * annotator.bestAccuracy(evalComparisons));
        err.printf("wrote %s: preferences %d + %d%n", out, labelled.train().size(), labelled.eval().size());
        err.flush();
    }

    private <T> void write(String name, List<T> items, Function<T, ?> toJson) throws IOException {
        IoErrors.writeJsonl(out.resolve(name), items, toJson);
    }
}
