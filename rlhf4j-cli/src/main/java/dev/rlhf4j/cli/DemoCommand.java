package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserStateError;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.RunFingerprint;
import dev.rlhf4j.train.lab.LabEvaluation;
import dev.rlhf4j.train.lab.LabWorld;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.PromptReader;
import dev.rlhf4j.train.ppo.RewardModelReward;
import dev.rlhf4j.train.report.MetricsReport;
import dev.rlhf4j.train.reward.RewardStats;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;

/** {@code rlhf4j demo}: the whole InstructGPT recipe on the lab world, with nothing to download. */
@Command(name = "demo", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"The whole recipe on the built-in lab world: generate the world; pretrain a small base model on "
                + "its corpus; SFT on the demonstrations; sample pairs from the SFT model and label them with the "
                + "simulated annotators; train a reward model; PPO against it; then evaluate the base, SFT and RLHF "
                + "policies on held-out prompts with the gold reward (total and each part), the reward model's score, "
                + "the KL to the SFT model and the win rate of RLHF over SFT.",
                "Every stage runs the same command a user would (lab generate, pretrain, sft, reward train, ppo); "
                        + "their outputs stay under --out, with summary.json, the evaluation samples in eval/ and the "
                        + "training curves of every stage in report.html (as rlhf4j report draws them)."})
public final class DemoCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final RunDirectory.Kind KIND = new RunDirectory.Kind("demo", false, List.of("lab", "base", "sft",
            "preferences", "reward-model", "rlhf", "eval", "base-model.yaml", "summary.json", "report.html"));

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--out", defaultValue = "runs/demo", paramLabel = "DIR",
            description = "Output directory, new or empty (default: ${DEFAULT-VALUE}).")
    Path out;
    @CommandLine.Mixin
    OutputOptions output = new OutputOptions();
    @Option(names = "--seed", defaultValue = "0", description = "Seed of the world and of every stage (default: "
            + "${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--pairs", defaultValue = "12000", description = "Preference pairs sampled from the SFT model "
            + "(default: ${DEFAULT-VALUE}).")
    int pairs;
    @Option(names = "--length-bias", defaultValue = "0",
            description = "Annotators' extra preference per word of length (0.1 shows reward hacking with --kl-coef 0) "
                    + "(default: ${DEFAULT-VALUE}).")
    double lengthBias;
    @Option(names = "--ppo-steps", defaultValue = "100", description = "PPO steps of 64 episodes (default: "
            + "${DEFAULT-VALUE}).")
    int ppoSteps;
    @Option(names = "--ppo-learning-rate", defaultValue = "3e-5", description = "PPO learning rate (default: "
            + "${DEFAULT-VALUE}).")
    double ppoLearningRate;
    @Option(names = "--kl-coef", defaultValue = "0.05", description = "β of the KL penalty (default: "
            + "${DEFAULT-VALUE}).")
    double klCoef;
    @Option(names = "--eval-prompts", defaultValue = "300", description = "Held-out prompts per policy (default: "
            + "${DEFAULT-VALUE}).")
    int evalPrompts;
    @Option(names = "--quick", description = "A smoke run in about a minute (small data, few steps): checks the "
            + "pipeline, its numbers mean little.")
    boolean quick;
    @CommandLine.Mixin
    ThreadsOption threads = new ThreadsOption();

    private PrintWriter err;
    private final Map<String, Double> seconds = new LinkedHashMap<>();

    @Override
    public Integer call() throws IOException {
        // every option is checked here: a stage that refused one would do so after the stages before it had run
        threads.apply();
        Checks.positive("--pairs", pairs);
        Checks.finite("--length-bias", lengthBias);
        Checks.positive("--ppo-steps", ppoSteps);
        Checks.positive("--ppo-learning-rate", ppoLearningRate);
        Checks.nonNegative("--kl-coef", klCoef);
        Checks.positive("--eval-prompts", evalPrompts);
        Checks.outputDirectory("--out", out);
        err = spec.commandLine().getErr();
        try (RunDirectory run = output.open(out, KIND)) {
            run.verify(new RunFingerprint().put("seed", seed).put("pairs", pairs).put("length_bias", lengthBias)
                    .put("ppo_steps", ppoSteps).put("ppo_learning_rate", ppoLearningRate).put("kl_coef", klCoef)
                    .put("eval_prompts", evalPrompts).put("quick", quick), false);
            run.markRunning(0);
            runStages();
            run.markFinished(0);
        }
        return 0;
    }

    private void runStages() throws IOException {
        long start = System.nanoTime();
        LabRecipe.Dirs d = new LabRecipe.Dirs(out);
        Path lab = d.lab(), base = d.base(), sft = d.sft(), prefs = d.preferences(), rm = d.rewardModel(),
                rlhf = out.resolve("rlhf");
        for (LabRecipe.Stage st : LabRecipe.setup(d, seed, pairs, lengthBias, evalPrompts, quick)) {
            stage(st.name(), st.args());
        }
        stage("ppo", LabRecipe.ppo(d, rlhf, seed, quick ? 4 : ppoSteps, ppoLearningRate, klCoef).args());
        long t = System.nanoTime();
        ObjectNode summary = evaluate(lab, sft, base, rm, rlhf, prefs, quick ? 40 : evalPrompts);
        seconds.put("evaluation", (System.nanoTime() - t) / 1e9);
        double total = (System.nanoTime() - start) / 1e9;
        ObjectNode st = summary.putObject("stage_seconds");
        seconds.forEach(st::put);
        summary.put("total_seconds", total);
        IoErrors.writeString(out.resolve("summary.json"),
                JSON.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(summary));
        // the training curves of every stage, as `rlhf4j report` draws them
        Path report = MetricsReport.write(List.of(base, sft, rm, rlhf), out.resolve("report.html"));
        PrintWriter o = spec.commandLine().getOut();
        o.print(table(summary));
        o.printf("%nall models, metrics and samples are in %s (summary.json; evaluation samples in eval/); %.0f s%n",
                out, total);
        o.printf("training curves: %s%n", report);
        o.flush();
    }

    private void stage(String name, String... args) {
        err.printf("%n== %s: rlhf4j %s%n", name, String.join(" ", args));
        err.flush();
        long t = System.nanoTime();
        int code = Main.run(new PrintWriter(new java.io.StringWriter(), true), err, args);
        if (code != 0) {
            throw new UserStateError("demo stage '" + name + "' failed (exit code " + code + "); see above");
        }
        seconds.put(name, (System.nanoTime() - t) / 1e9);
    }

    private ObjectNode evaluate(Path lab, Path sftDir, Path baseDir, Path rmDir, Path rlhfDir, Path prefs, int n)
            throws IOException {
        err.printf("%n== evaluation on %d held-out prompts%n", n);
        err.flush();
        LabWorld world = new LabWorld(seed);
        List<String> prompts = new ArrayList<>();
        for (Prompt p : PromptReader.read(lab.resolve("prompts-eval.jsonl"), null)) {
            if (prompts.size() < n) {
                prompts.add(p.text());
            }
        }
        Pretrained sft = Pretrained.open(sftDir, null);
        Tokenizer tok = sft.requireTokenizer();
        Transformer reference = sft.model().frozenCopy();
        Pretrained rm = Pretrained.open(rmDir, null);
        RewardModelReward rmScore = new RewardModelReward(rm.model(), rm.requireTokenizer(), tok,
                RewardStats.read(rmDir).orElse(null), 0, 64);
        Map<String, Path> policies = new LinkedHashMap<>();
        policies.put("base", baseDir);
        policies.put("sft", sftDir);
        policies.put("rlhf", rlhfDir);
        Map<String, LabEvaluation.Result> results = new LinkedHashMap<>();
        Files.createDirectories(out.resolve("eval"));
        for (Map.Entry<String, Path> e : policies.entrySet()) {
            Transformer policy = e.getKey().equals("sft") ? sft.model() : Pretrained.open(e.getValue(), null).model();
            LabEvaluation.Result r = LabEvaluation.evaluate(e.getKey(), policy, reference, tok, world, rmScore,
                    prompts, 48, seed * 7919 + 17, sft.eosIds(), 64);
            results.put(e.getKey(), r);
            writeSamples(out.resolve("eval").resolve(e.getKey() + ".jsonl"), r, world);
        }
        ObjectNode summary = JSON.createObjectNode();
        summary.put("seed", seed);
        summary.put("eval_prompts", prompts.size());
        summary.put("sampling", "one response per prompt at temperature 1, at most 48 new tokens");
        summary.put("reward_model_score", "normalised with the mean and std stored with the reward model");
        ObjectNode pol = summary.putObject("policies");
        for (LabEvaluation.Result r : results.values()) {
            ObjectNode p = pol.putObject(r.name());
            stat(p.putObject("gold"), r.gold());
            ObjectNode parts = p.putObject("gold_parts");
            r.parts().forEach((k, v) -> stat(parts.putObject(k), v));
            stat(p.putObject("reward_model"), r.rewardModel());
            stat(p.putObject("kl_to_sft"), r.klToReference());
            p.put("response_tokens", r.responseTokens());
            p.put("eos_rate", r.eosRate());
        }
        summary.put("win_rate_rlhf_vs_sft", LabEvaluation.winRate(results.get("rlhf"), results.get("sft")));
        summary.put("win_rate_sft_vs_base", LabEvaluation.winRate(results.get("sft"), results.get("base")));
        JsonNode labInfo = JSON.readTree(prefs.resolve("lab.json").toFile());
        JsonNode rmInfo = JSON.readTree(rmDir.resolve("train_results.json").toFile());
        ObjectNode rmNode = summary.putObject("reward_model_training");
        rmNode.put("eval_accuracy", rmInfo.path("eval_accuracy").asDouble());
        rmNode.put("best_possible_accuracy", labInfo.path("best_accuracy_eval").asDouble());
        rmNode.put("annotator_agreement", labInfo.path("agreement_eval").asDouble());
        rmNode.put("annotator_length_bias", lengthBias);
        ObjectNode ppo = summary.putObject("ppo");
        ppo.put("steps", quick ? 4 : ppoSteps);
        ppo.put("learning_rate", ppoLearningRate);
        ppo.put("kl_coef", klCoef);
        return summary;
    }

    private static void stat(ObjectNode n, LabEvaluation.Stat s) {
        n.put("mean", s.mean());
        n.put("std", s.std());
    }

    private static void writeSamples(Path file, LabEvaluation.Result r, LabWorld world) throws IOException {
        IoErrors.writeJsonl(file, IntStream.range(0, r.episodes().size()).boxed().toList(), i -> {
            Episode e = r.episodes().get(i);
            ObjectNode o = JSON.createObjectNode();
            o.put("prompt", e.prompt());
            o.put("response", e.response());
            o.put("gold", r.goldPerPrompt()[i]);
            o.putPOJO("gold_parts", world.score(e.prompt(), e.response().strip()).parts());
            return o;
        });
    }

    /** The summary as a text table: one column per policy. */
    static String table(JsonNode s) {
        StringBuilder b = new StringBuilder();
        JsonNode pol = s.get("policies");
        List<String> names = new ArrayList<>();
        pol.fieldNames().forEachRemaining(names::add);
        b.append(String.format("%n%-26s", "held-out prompts: " + s.get("eval_prompts").asInt()));
        for (String n : names) {
            b.append(String.format("%18s", n));
        }
        b.append('\n');
        row(b, "gold reward", pol, names, "gold");
        for (String part : LabWorld.PARTS) {
            rowAt(b, "  " + part, pol, names, p -> p.get("gold_parts").get(part));
        }
        row(b, "reward model score", pol, names, "reward_model");
        row(b, "KL to SFT (nats)", pol, names, "kl_to_sft");
        b.append(String.format("%-26s", "response tokens"));
        for (String n : names) {
            b.append(String.format("%18.1f", pol.get(n).get("response_tokens").asDouble()));
        }
        b.append('\n');
        b.append(String.format("%nwin rate of RLHF over SFT (gold reward, ties half): %.1f%%%n",
                100 * s.get("win_rate_rlhf_vs_sft").asDouble()));
        JsonNode rm = s.get("reward_model_training");
        b.append(String.format("reward model: held-out accuracy %.1f%% (best possible given the annotators' noise "
                + "%.1f%%)%n", 100 * rm.get("eval_accuracy").asDouble(),
                100 * rm.get("best_possible_accuracy").asDouble()));
        return b.toString();
    }

    private static void row(StringBuilder b, String label, JsonNode pol, List<String> names, String field) {
        rowAt(b, label, pol, names, p -> p.get(field));
    }

    private static void rowAt(StringBuilder b, String label, JsonNode pol, List<String> names,
                              java.util.function.Function<JsonNode, JsonNode> get) {
        b.append(String.format("%-26s", label));
        for (String n : names) {
            JsonNode v = get.apply(pol.get(n));
            b.append(String.format("%18s", String.format("%.3f ± %.3f", v.get("mean").asDouble(),
                    v.get("std").asDouble())));
        }
        b.append('\n');
    }
}
