package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.tensor.UserStateError;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.data.JsonlWriter;
import dev.rlhf4j.train.RunFingerprint;
import dev.rlhf4j.train.data.TextLines;
import dev.rlhf4j.train.lab.Annotator;
import dev.rlhf4j.train.lab.HappyEndings;
import dev.rlhf4j.train.lab.LabData;
import dev.rlhf4j.train.lab.LabPreferences;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.PromptReader;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleBiFunction;

/** {@code rlhf4j simulate-preferences}: preference pairs from any model, labelled by simulated annotators. */
@Command(name = "simulate-preferences", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Sample two responses per prompt from --model at temperature 1 and label each pair with "
                + "simulated annotators: a Bradley–Terry choice on a built-in judge's score, with the temperature "
                + "calibrated to --agreement between two annotators; pairs the judge scores alike are dropped. "
                + "Judges: happy-endings (happy minus sad words at "
                + "the end of a story continuation, for story models such as stories260K).",
                "Writes preferences.jsonl and preferences-eval.jsonl ({\"prompt\",\"chosen\",\"rejected\"} with the "
                        + "judge's scores as gold_chosen/gold_rejected), prompts.jsonl and prompts-eval.jsonl for "
                        + "PPO, and judge.json (temperature, agreement, best possible reward-model accuracy)."})
public final class SimulatePreferencesCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final RunDirectory.Kind KIND = new RunDirectory.Kind("simulate-preferences", false, List.of(
            "preferences.jsonl", "preferences-eval.jsonl", "prompts.jsonl", "prompts-eval.jsonl", "judge.json"));

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", required = true, paramLabel = "PATH", description = "Model to sample from.")
    Path model;
    @Option(names = "--prompts", required = true, paramLabel = "FILE",
            description = "Prompts: JSONL {\"prompt\"} records, or plain text whose documents (separated by blank "
                    + "lines) each give their first sentence.")
    Path prompts;
    @Option(names = "--judge", defaultValue = "happy-endings", converter = Choice.Judge.class,
            completionCandidates = Choice.Judge.class, description = "The judge (default: ${DEFAULT-VALUE}).")
    String judge;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory (new or empty).")
    Path out;
    @CommandLine.Mixin
    OutputOptions output = new OutputOptions();
    @Option(names = "--pairs", defaultValue = "2000", description = "Training pairs (default: ${DEFAULT-VALUE}).")
    int pairs;
    @Option(names = "--eval-pairs", defaultValue = "200", description = "Held-out pairs (default: ${DEFAULT-VALUE}).")
    int evalPairs;
    @Option(names = "--agreement", defaultValue = "0.73",
            description = "Inter-annotator agreement, between 0.5 (chance) and 1 (default: ${DEFAULT-VALUE}).")
    double agreement;
    @Option(names = "--max-new-tokens", defaultValue = "48", description = "Response length (default: "
            + "${DEFAULT-VALUE}).")
    int maxNewTokens;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of sampling and labels (default: "
            + "${DEFAULT-VALUE}).")
    long seed;
    @CommandLine.Mixin
    ThreadsOption threads = new ThreadsOption();

    @Override
    public Integer call() throws IOException {
        // every option is checked before the model is read or a file is written
        threads.apply();
        Checks.positive("--pairs", pairs);
        Checks.positive("--eval-pairs", evalPairs);
        Checks.between("--agreement", agreement, 0.5, 1);
        Checks.positive("--max-new-tokens", maxNewTokens);
        Checks.inputPath("--model", model);
        Checks.inputFile("--prompts", prompts);
        Checks.outputDirectory("--out", out);
        ToDoubleBiFunction<String, String> gold = switch (judge) {
            case "happy-endings" -> (p, r) -> HappyEndings.score(r);
            default -> throw new UserError("--judge must be happy-endings, got '" + judge + "'");
        };
        Map<String, Path> inputs = new LinkedHashMap<>();
        inputs.put("--model", model);
        inputs.put("--prompts", prompts);
        RunDirectory.refuseInputs(out, KIND, inputs, false);
        try (RunDirectory run = output.open(out, KIND)) {
            run.verify(new RunFingerprint().file("model", model).file("prompts", prompts).put("judge", judge)
                    .put("pairs", pairs).put("eval_pairs", evalPairs).put("agreement", agreement)
                    .put("max_new_tokens", maxNewTokens).put("seed", seed), false);
            run.markRunning(0);
            simulate(gold);
            run.markFinished(0);
        }
        return 0;
    }

    private void simulate(ToDoubleBiFunction<String, String> gold) throws IOException {
        PrintWriter err = spec.commandLine().getErr();
        List<String> all = readPrompts(prompts);
        int held = Math.max(1, all.size() / 10);
        List<String> evalPool = all.subList(0, held), trainPool = all.subList(held, all.size());
        if (trainPool.isEmpty()) {
            throw new UserError(prompts + ": " + all.size() + " prompts are too few to hold a tenth out");
        }
        Pretrained pm = Pretrained.open(model, null);
        LabData.PairSampler sampler = LabData.modelPairs(pm.model(), pm.requireTokenizer(), maxNewTokens, seed, 32);
        err.printf("sampling %d pairs from %s (%d training prompts, %d held out)%n", pairs + evalPairs, model,
                trainPool.size(), evalPool.size());
        List<LabData.Candidates> sampledTrain = sampler.sample(cycle(trainPool, pairs));
        List<LabData.Candidates> sampledEval = sampler.sample(cycle(evalPool, evalPairs));
        List<LabData.Candidates> trainCand = LabData.decisive(gold, sampledTrain);
        List<LabData.Candidates> evalCand = LabData.decisive(gold, sampledEval);
        if (trainCand.isEmpty() || evalCand.isEmpty()) {
            throw new UserStateError("the judge scores every sampled pair alike; no preferences to learn "
                    + "(sample more pairs or longer responses)");
        }
        LabPreferences labelled = LabPreferences.label(gold, seed, trainCand, evalCand, agreement, 0);
        Annotator annotator = labelled.annotator();
        List<LabData.LabeledPair> train = labelled.train(), eval = labelled.eval();
        // written only once the labels exist: a run that fails on the way leaves no partial data set
        IoErrors.writeJsonl(out.resolve("prompts.jsonl"), trainPool, p -> JsonlWriter.fields("prompt", p));
        IoErrors.writeJsonl(out.resolve("prompts-eval.jsonl"), evalPool, p -> JsonlWriter.fields("prompt", p));
        IoErrors.writeJsonl(out.resolve("preferences.jsonl"), train, LabData.LabeledPair::preferenceRecord);
        IoErrors.writeJsonl(out.resolve("preferences-eval.jsonl"), eval, LabData.LabeledPair::preferenceRecord);
        List<Annotator.Comparison> evalComps = labelled.evalComparisons();
        ObjectNode info = JSON.createObjectNode();
        info.put("judge", judge);
        info.put("model", model.toString());
        info.put("annotator_temperature", annotator.temperature());
        info.put("agreement_target", agreement);
        info.put("agreement_eval", annotator.agreement(evalComps));
        info.put("best_accuracy_eval", annotator.bestAccuracy(evalComps));
        info.put("sampled_pairs", sampledTrain.size());
        info.put("sampled_eval_pairs", sampledEval.size());
        info.put("dropped_as_ties", sampledTrain.size() - trainCand.size() + sampledEval.size() - evalCand.size());
        IoErrors.writeString(out.resolve("judge.json"), JSON.copy().enable(SerializationFeature.INDENT_OUTPUT)
                .writeValueAsString(info));
        err.printf("annotators: temperature %.4f; on held-out pairs they agree %.1f%% of the time; the best possible "
                        + "reward-model accuracy there is %.1f%%%nwrote %s: preferences %d + %d (of %d + %d sampled; "
                        + "pairs the judge scores alike dropped), prompts %d + %d%n",
                annotator.temperature(), 100 * annotator.agreement(evalComps), 100 * annotator.bestAccuracy(evalComps),
                out, train.size(), eval.size(), sampledTrain.size(), sampledEval.size(), trainPool.size(),
                evalPool.size());
        err.flush();
    }

    /** JSONL prompt records, or the first sentence of each blank-line-separated document of a text file. */
    static List<String> readPrompts(Path file) throws IOException {
        String name = file.getFileName() == null ? "" : file.getFileName().toString();
        if (name.endsWith(".jsonl") || name.endsWith(".jsonl.gz")) {
            return PromptReader.read(file, null).stream().map(Prompt::text).toList();
        }
        List<String> docs = new ArrayList<>();
        StringBuilder doc = new StringBuilder();
        try (TextLines lines = TextLines.open(file)) { // strict UTF-8, naming the line of a bad byte
            for (String line; (line = lines.next()) != null; ) {
                if (line.isBlank()) {
                    docs.add(doc.toString());
                    doc.setLength(0);
                } else {
                    doc.append(line).append('\n');
                }
            }
        }
        docs.add(doc.toString());
        List<String> out = new ArrayList<>();
        for (String document : docs) {
            String d = document.strip().replaceAll("\\s+", " ");
            int end = -1;
            for (int i = 0; i < d.length(); i++) {
                char c = d.charAt(i);
                if (c == '.' || c == '!' || c == '?') {
                    end = i + 1;
                    break;
                }
            }
            if (end > 0 && end < d.length()) {
                out.add(d.substring(0, end));
            }
        }
        if (out.isEmpty()) {
            throw new UserError(file + ": no documents with a first sentence and more after it");
        }
        return out;
    }

    private static List<String> cycle(List<String> pool, int n) {
        List<String> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(pool.get(i % pool.size()));
        }
        return out;
    }
}
