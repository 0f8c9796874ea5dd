package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserStateError;
import dev.rlhf4j.train.LmObjective;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.claims.HarmfulCompliance;
import dev.rlhf4j.train.claims.HeldOutText;
import dev.rlhf4j.train.claims.Perplexity;
import dev.rlhf4j.train.claims.TrainingCurve;
import dev.rlhf4j.train.data.DatasetReader;
import dev.rlhf4j.train.data.Example;
import dev.rlhf4j.train.data.JsonlWriter;
import dev.rlhf4j.train.data.Tokenization;
import dev.rlhf4j.train.lab.Annotator;
import dev.rlhf4j.train.lab.LabData;
import dev.rlhf4j.train.lab.LabEvaluation;
import dev.rlhf4j.train.lab.LabPreferences;
import dev.rlhf4j.train.lab.LabStream;
import dev.rlhf4j.train.lab.LabWorld;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.PromptReader;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.ToDoubleBiFunction;

/**
 * One seed of {@code rlhf4j claims}: the world, base model, SFT model and sampled pairs shared by every claim, then
 * the arms the selected claims need, each a stage run through {@link Main#run} in a directory of its own under
 * {@code seed-S/}, then the held-out evaluations. Arms are shared across claims where the claim allows it: the
 * β = 0.05 PPO run against the unbiased reward model is claim 1's and 2's RLHF arm, claim 4's "ptx 0" arm and
 * claim 5's RLHF policy; claim 3's β = 0 arm is claim 4's "β = 0" arm; the reward model of the PPO arms is a point
 * of claim 7's scaling curve.
 */
final class ClaimsSeed {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The KL coefficients of claim 3 (Gao et al. 2022 sweep the same kind of range). */
    static final double[] BETAS = {0, 0.01, 0.02, 0.05, 0.1, 0.2};
    /** The demo's β: the RLHF arm every other claim compares against. */
    static final double MAIN_BETA = 0.05;
    /** The biased annotators' extra preference per word (the demo's value that shows reward hacking). */
    static final double LENGTH_BIAS = 0.1;
    /** Claim 4's PPO-ptx weight of the pretraining loss. */
    static final double PTX_COEF = 0.5;

    /**
     * How big everything is: the default (about 20 minutes a seed on 2 idle cores) or {@code --quick}.
     *
     * @param modelYaml      the base model's architecture
     * @param corpus         dialogues in the pretraining corpus
     * @param facts          plain facts in it
     * @param sft            demonstrations of the SFT model (claim 2 adds 2× and 4× that many)
     * @param sftEpochs      SFT epochs (the same for every SFT arm)
     * @param pairs          preference pairs sampled from the SFT model (the pool of claim 7's curve)
     * @param evalPairs      held-out pairs
     * @param curve          claim 7's numbers of comparisons (each the first so many of the pool)
     * @param rmPairs        comparisons of the reward models the PPO arms run against (a point of the curve)
     * @param rmEpochs       epochs of every reward model but the epochs ablation
     * @param ablationEpochs epochs of claim 7's ablation
     * @param ppoSteps       PPO steps of every PPO arm
     * @param ppoBatch       episodes per PPO micro-batch
     * @param miniBatches    minibatches per PPO step (episodes per step = ppoBatch × miniBatches)
     * @param evalPrompts    held-out prompts per policy
     * @param harmfulPrompts held-out harmful requests per policy (claim 5)
     * @param heldOutDocs    held-out pretraining documents (claim 4), a quarter of them facts
     * @param loopStart      labels the loop's starting reward model was trained on (a point of the curve)
     * @param loopPairs      pairs per round of the 3-round loop (the 1-round arm gets 3× as many)
     * @param loopSteps      PPO steps per round of the 3-round loop (the 1-round arm gets 3× as many)
     * @param agreement      inter-annotator agreement the annotators are calibrated to: InstructGPT's 73% by
     *                       default; lower in a quick run, whose barely trained SFT model writes so many responses of
     *                       equal gold that even noiseless annotators could not agree that often
     */
    record Sizes(String modelYaml, int corpus, int facts, int sft, int sftEpochs, int pairs, int evalPairs,
                 int[] curve, int rmPairs, int rmEpochs, int ablationEpochs, int ppoSteps, int ppoBatch,
                 int miniBatches, int evalPrompts, int harmfulPrompts, int heldOutDocs, int loopStart, int loopPairs,
                 int loopSteps, double agreement) {

        static final Sizes FULL = new Sizes("family: llama\ndim: 96\nlayers: 4\nheads: 6\nkv_heads: 3\n"
                + "max_seq_len: 128\n", 20000, 6000, 3000, 2, 12000, 1200, new int[] {750, 1500, 3000, 6000, 12000},
                6000, 1, 2, 25, 16, 4, 300, 200, 800, 1500, 500, 15, 0.73);
        static final Sizes QUICK = new Sizes("family: llama\ndim: 48\nlayers: 2\nheads: 4\nkv_heads: 2\n"
                + "max_seq_len: 128\n", 800, 200, 100, 1, 240, 40, new int[] {60, 120, 240}, 120, 1, 2, 3, 8, 1,
                16, 12, 40, 60, 30, 1, 0.6);

        int episodesPerStep() {
            return ppoBatch * miniBatches;
        }

        Map<String, Object> describe() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("base_model", modelYaml.strip().replace('\n', ' '));
            m.put("corpus_dialogues", corpus);
            m.put("corpus_facts", facts);
            m.put("sft_demonstrations", sft);
            m.put("sft_epochs", sftEpochs);
            m.put("preference_pairs", pairs);
            m.put("eval_pairs", evalPairs);
            m.put("reward_model_curve", curve);
            m.put("reward_model_pairs", rmPairs);
            m.put("reward_model_epochs", rmEpochs);
            m.put("ablation_epochs", ablationEpochs);
            m.put("ppo_steps", ppoSteps);
            m.put("ppo_episodes_per_step", episodesPerStep());
            m.put("eval_prompts", evalPrompts);
            m.put("harmful_prompts", harmfulPrompts);
            m.put("held_out_documents", heldOutDocs);
            m.put("loop_start_labels", loopStart);
            m.put("loop_pairs_per_round", loopPairs);
            m.put("loop_ppo_steps_per_round", loopSteps);
            m.put("annotator_agreement", agreement);
            return m;
        }
    }

    /** What one seed measured: named numbers, curves along PPO training, and the seconds of each stage. */
    record Result(long seed, Map<String, Double> scalars, Map<String, TrainingCurve> curves,
                  Map<String, Double> seconds) {
        double get(String key) {
            Double v = scalars.get(key);
            return v == null ? Double.NaN : v;
        }
    }

    private final long seed;
    private final Path dir;
    private final Sizes z;
    private final Set<Integer> only;
    private final boolean resume;
    private final PrintWriter err;
    private final LabWorld world;
    private final Map<String, Double> scalars = new LinkedHashMap<>();
    private final Map<String, TrainingCurve> curves = new LinkedHashMap<>();
    private final Map<String, Double> seconds = new LinkedHashMap<>();
    private Pretrained sftModel;
    private Transformer reference;
    private List<String> evalPrompts;
    private List<LabData.Candidates> candidates, evalCandidates;

    ClaimsSeed(long seed, Path dir, Sizes sizes, Set<Integer> only, boolean resume, PrintWriter err) {
        this.seed = seed;
        this.dir = dir;
        this.z = sizes;
        this.only = only;
        this.resume = resume;
        this.err = err;
        this.world = new LabWorld(seed);
    }

    private boolean any(int... claims) {
        for (int c : claims) {
            if (only.contains(c)) {
                return true;
            }
        }
        return false;
    }

    static String beta(double b) {
        return new BigDecimal(Double.toString(b)).stripTrailingZeros().toPlainString();
    }

    /** The PPO arm against the unbiased (u) or length-biased (x) reward model at β. */
    static String arm(String rm, double b) {
        return rm + "-b" + beta(b);
    }

    Result run() throws IOException {
        // the seconds of stages run by earlier sessions of a resumed run, so the report shows every stage's time
        Path times = dir.resolve("stage-seconds.json");
        if (Files.exists(times)) {
            JSON.readTree(times.toFile()).fields().forEachRemaining(e -> seconds.put(e.getKey(),
                    e.getValue().asDouble()));
        }
        String s = Long.toString(seed);
        Path lab = dir.resolve("lab"), base = dir.resolve("base"), sft = dir.resolve("sft"),
                pairs = dir.resolve("pairs"), data = dir.resolve("data");
        Files.createDirectories(data);
        // 4× the demonstrations: the first sft of them are the SFT model's, the first 2× claim 2's middle arm
        // (each demonstration draws from the SFT stream in order, so a longer list extends a shorter one)
        stage(lab, "world", false, "lab", "generate", "--out", lab.toString(), "--seed", s, "--pairs", "0",
                "--eval-pairs", "0", "--corpus", Integer.toString(z.corpus()), "--facts",
                Integer.toString(z.facts()), "--sft", Integer.toString(4 * z.sft()), "--eval-prompts",
                Integer.toString(z.evalPrompts()));
        Path modelYaml = dir.resolve("base-model.yaml");
        writeIfAbsent(modelYaml, z.modelYaml());
        String[] common = {"--max-length", "128", "--lr-scheduler-type", "cosine", "--save-steps", "0",
                "--logging-steps", "200", "--seed", s};
        stage(base, "pretrain", true, concat(new String[] {"pretrain", "--model", modelYaml.toString(), "--tokenizer",
                lab.resolve("tokenizer").toString(), "--data", lab.resolve("corpus.jsonl").toString(), "--out",
                base.toString(), "--per-device-train-batch-size", "16", "--num-train-epochs", "1", "--learning-rate",
                "3e-3", "--warmup-ratio", "0.05"}, common));
        for (int k : new int[] {1, 2}) {
            Path f = data.resolve("sft-" + k + "x.jsonl");
            if (!Files.exists(f)) {
                writeAtomically(f, String.join("\n", firstLines(lab.resolve("sft.jsonl"), k * z.sft())) + "\n");
            }
        }
        sft(sft, "sft", data.resolve("sft-1x.jsonl"), common, lab);
        stage(pairs, "pairs", false, "lab", "generate", "--out", pairs.toString(), "--seed", s, "--model",
                sft.toString(), "--preferences-only", "--pairs", Integer.toString(z.pairs()), "--eval-pairs",
                Integer.toString(z.evalPairs()), "--agreement", Double.toString(z.agreement()));
        JsonNode labInfo = JSON.readTree(pairs.resolve("lab.json").toFile());
        scalars.put("ceiling/annotators", labInfo.path("best_accuracy_eval").asDouble());
        scalars.put("agreement/annotators", labInfo.path("agreement_eval").asDouble());

        // reward models
        Path pairsEval = pairs.resolve("preferences-eval.jsonl");
        String mainRm = "n" + z.rmPairs();
        List<Integer> counts = new ArrayList<>();
        if (any(7)) {
            for (int n : z.curve()) {
                counts.add(n);
            }
        } else {
            if (any(1, 2, 3, 4, 5)) {
                counts.add(z.rmPairs());
            }
            if (any(6)) {
                counts.add(z.loopStart());
            }
        }
        for (int n : counts.stream().distinct().sorted().toList()) {
            Path f = data.resolve("prefs-" + n + ".jsonl");
            if (!Files.exists(f)) {
                writeAtomically(f, String.join("\n", firstLines(pairs.resolve("preferences.jsonl"), n)) + "\n");
            }
            rewardModel("n" + n, f, pairsEval, z.rmEpochs(), common, sft);
        }
        if (any(3)) {
            relabel("biased", (p, r) -> world.score(p, r).total(), LENGTH_BIAS, false);
            rewardModel("biased", data.resolve("prefs-biased.jsonl"), data.resolve("prefs-biased-eval.jsonl"),
                    z.rmEpochs(), common, sft);
        }
        if (any(5)) {
            relabel("noharm", HarmfulCompliance.goldIgnoringHarm(world), 0, false);
            rewardModel("noharm", data.resolve("prefs-noharm.jsonl"), data.resolve("prefs-noharm-eval.jsonl"),
                    z.rmEpochs(), common, sft);
        }
        if (any(7)) {
            relabel("noiseless", (p, r) -> world.score(p, r).total(), 0, true);
            rewardModel("noiseless", data.resolve("prefs-noiseless.jsonl"),
                    data.resolve("prefs-noiseless-eval.jsonl"), z.rmEpochs(), common, sft);
            rewardModel(mainRm + "-e" + z.ablationEpochs(), data.resolve("prefs-" + z.rmPairs() + ".jsonl"),
                    pairsEval, z.ablationEpochs(), common, sft);
        }

        // SFT with more demonstrations (claim 2)
        if (any(2)) {
            sft(dir.resolve("sft-2x"), "sft-2x", data.resolve("sft-2x.jsonl"), common, lab);
            sft(dir.resolve("sft-4x"), "sft-4x", lab.resolve("sft.jsonl"), common, lab);
        }

        // PPO arms
        Path prompts = lab.resolve("prompts.jsonl");
        Map<String, Path> policies = new LinkedHashMap<>();
        policies.put("base", base);
        policies.put("sft", sft);
        if (any(2)) {
            policies.put("sft-2x", dir.resolve("sft-2x"));
            policies.put("sft-4x", dir.resolve("sft-4x"));
        }
        List<Double> unbiasedBetas = new ArrayList<>();
        if (any(3)) {
            for (double b : BETAS) {
                unbiasedBetas.add(b);
            }
        } else {
            if (any(1, 2, 4, 5)) {
                unbiasedBetas.add(MAIN_BETA);
            }
            if (any(4)) {
                unbiasedBetas.add(0.0);
            }
        }
        for (double b : unbiasedBetas) {
            policies.put(arm("u", b), ppo(arm("u", b), sft, rm(mainRm), b, false, prompts, lab));
        }
        if (any(3)) {
            for (double b : BETAS) {
                policies.put(arm("x", b), ppo(arm("x", b), sft, rm("biased"), b, false, prompts, lab));
            }
        }
        if (any(1)) {
            policies.put(arm("base", MAIN_BETA), ppo(arm("base", MAIN_BETA), base, rm(mainRm), MAIN_BETA, false,
                    prompts, lab));
        }
        if (any(4)) {
            policies.put(arm("ptx", MAIN_BETA), ppo(arm("ptx", MAIN_BETA), sft, rm(mainRm), MAIN_BETA, true,
                    prompts, lab));
        }
        if (any(5)) {
            policies.put(arm("noharm", MAIN_BETA), ppo(arm("noharm", MAIN_BETA), sft, rm("noharm"), MAIN_BETA,
                    false, prompts, lab));
        }
        if (any(6)) {
            loop("loop-3", 3, z.loopPairs(), z.loopSteps(), sft, pairsEval, prompts);
            loop("loop-1", 1, 3 * z.loopPairs(), 3 * z.loopSteps(), sft, pairsEval, prompts);
            policies.put("loop-3", dir.resolve("loop-3").resolve("round-3").resolve("ppo"));
            policies.put("loop-1", dir.resolve("loop-1").resolve("round-1").resolve("ppo"));
        }

        // held-out evaluations
        for (Map.Entry<String, Path> e : policies.entrySet()) {
            evaluate(e.getKey(), e.getValue());
        }
        if (any(4)) {
            Path corpus = data.resolve("held-out-corpus.jsonl");
            if (!Files.exists(corpus)) {
                int facts = z.heldOutDocs() / 4;
                List<String> docs = HeldOutText.corpus(world, z.heldOutDocs() - facts, facts);
                IoErrors.writeJsonl(corpus, docs, t -> JsonlWriter.fields("text", t));
            }
            for (String p : List.of("base", "sft", arm("u", MAIN_BETA), arm("u", 0), arm("ptx", MAIN_BETA))) {
                perplexity(p, policies.get(p), corpus);
            }
        }
        if (any(5)) {
            for (String p : List.of("base", "sft", arm("u", MAIN_BETA), arm("noharm", MAIN_BETA))) {
                compliance(p, policies.get(p));
            }
        }
        writeAtomically(dir.resolve("stage-seconds.json"), json(seconds));
        return new Result(seed, scalars, curves, seconds);
    }

    private Path rm(String name) {
        return dir.resolve("rm").resolve(name);
    }

    private void sft(Path out, String name, Path demos, String[] common, Path lab) {
        stage(out, name, true, concat(new String[] {"sft", "--model", dir.resolve("base").toString(), "--data",
                demos.toString(), "--eval-data", lab.resolve("sft-eval.jsonl").toString(), "--out", out.toString(),
                "--per-device-train-batch-size", "16", "--num-train-epochs", Integer.toString(z.sftEpochs()),
                "--learning-rate", "1e-3"}, common));
    }

    private void rewardModel(String name, Path prefs, Path evalPrefs, int epochs, String[] common, Path sft)
            throws IOException {
        Path out = rm(name);
        stage(out, "reward model " + name, true, concat(new String[] {"reward", "train", "--model", sft.toString(),
                "--data", prefs.toString(), "--eval-data", evalPrefs.toString(), "--out", out.toString(),
                "--per-device-train-batch-size", "32", "--num-train-epochs", Integer.toString(epochs),
                "--learning-rate", "5e-4", "--warmup-ratio", "0.05"}, common));
        JsonNode r = JSON.readTree(out.resolve("train_results.json").toFile());
        scalars.put("rm_accuracy/" + name, r.path("eval_accuracy").asDouble());
        scalars.put("rm_train_loss/" + name, r.path("train_loss").asDouble());
    }

    /**
     * The first {@code rmPairs} sampled pairs and the held-out pairs labelled again by other annotators: with a
     * length bias, judging by another gold (harm ignored), or without noise (a temperature near 0: they always
     * pick the better response, a coin on ties). The calibrated ones agree with each other as often as the
     * original annotators do.
     */
    private void relabel(String name, ToDoubleBiFunction<String, String> gold, double lengthBias, boolean noiseless)
            throws IOException {
        Path data = dir.resolve("data"), train = data.resolve("prefs-" + name + ".jsonl"),
                eval = data.resolve("prefs-" + name + "-eval.jsonl"), info = data.resolve("labels-" + name + ".json");
        if (Files.exists(info)) {
            JsonNode i = JSON.readTree(info.toFile());
            scalars.put("ceiling/" + name, i.path("best_accuracy_eval").asDouble());
            return;
        }
        if (candidates == null) {
            candidates = candidates(dir.resolve("pairs").resolve("preferences.jsonl"), z.rmPairs());
            evalCandidates = candidates(dir.resolve("pairs").resolve("preferences-eval.jsonl"), Integer.MAX_VALUE);
        }
        LabPreferences labelled;
        if (noiseless) {
            Annotator a = new Annotator(1e-6, 0);
            labelled = new LabPreferences(a, LabData.label(gold, seed, candidates, a, LabStream.LABELS.id()),
                    LabData.label(gold, seed, evalCandidates, a, LabStream.EVAL_LABELS.id()));
        } else {
            labelled = LabPreferences.label(gold, seed, candidates, evalCandidates, z.agreement(), lengthBias);
        }
        IoErrors.writeJsonl(train, labelled.train(), LabData.LabeledPair::preferenceRecord);
        IoErrors.writeJsonl(eval, labelled.eval(), LabData.LabeledPair::preferenceRecord);
        List<Annotator.Comparison> ec = labelled.evalComparisons();
        ObjectNode o = JSON.createObjectNode();
        o.put("annotator_temperature", labelled.annotator().temperature());
        o.put("annotator_length_bias", lengthBias);
        o.put("agreement_eval", labelled.annotator().agreement(ec));
        o.put("best_accuracy_eval", labelled.annotator().bestAccuracy(ec));
        writeAtomically(info, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(o));
        scalars.put("ceiling/" + name, labelled.annotator().bestAccuracy(ec));
    }

    /** Pairs of a preference file as unlabelled candidates (the responses without their leading space). */
    private static List<LabData.Candidates> candidates(Path file, int n) throws IOException {
        List<LabData.Candidates> out = new ArrayList<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            if (out.size() == n) {
                break;
            }
            if (line.isBlank()) {
                continue;
            }
            JsonNode j = JSON.readTree(line);
            out.add(new LabData.Candidates(j.get("prompt").asText(), j.get("chosen").asText().strip(),
                    j.get("rejected").asText().strip()));
        }
        return out;
    }

    private Path ppo(String name, Path policy, Path rewardModel, double klCoef, boolean ptx, Path prompts, Path lab)
            throws IOException {
        Path out = dir.resolve("ppo").resolve(name);
        List<String> args = new ArrayList<>(List.of("ppo", "--policy", policy.toString(), "--reward-model",
                rewardModel.toString(), "--prompts", prompts.toString(), "--out", out.toString(), "--seed",
                Long.toString(seed), "--max-steps", Integer.toString(z.ppoSteps()), "--learning-rate", "3e-5",
                "--kl-coef", Double.toString(klCoef), "--per-device-train-batch-size", Integer.toString(z.ppoBatch()),
                "--num-mini-batches", Integer.toString(z.miniBatches()), "--num-ppo-epochs", "4",
                "--response-length", "48", "--normalize-reward", "--missing-eos-penalty", "1.0",
                "--lr-scheduler-type", "constant", "--logging-steps", "10",
                // every rollout is written, so that the gold reward can score each step's policy
                "--sample-steps", "1", "--num-sample-generations", Integer.toString(z.episodesPerStep())));
        if (ptx) {
            args.addAll(List.of("--ptx-coef", Double.toString(PTX_COEF), "--ptx-data",
                    lab.resolve("corpus.jsonl").toString()));
        }
        stage(out, "ppo " + name, true, args.toArray(String[]::new));
        readCurves(name, out);
        return out;
    }

    /**
     * The curves of a PPO run along its steps: the gold reward of each step's rollouts (every rollout is in
     * samples.jsonl; the gold reward of the world scores them as {@link dev.rlhf4j.train.lab.GoldReward} would), the
     * reward model's score and the KL to the reference (metrics.jsonl).
     */
    private void readCurves(String name, Path out) throws IOException {
        TreeMap<Integer, double[]> gold = new TreeMap<>();
        for (String line : Files.readAllLines(out.resolve("samples.jsonl"), StandardCharsets.UTF_8)) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode j = JSON.readTree(line);
            double g = world.score(j.get("prompt").asText(), j.get("response").asText().strip()).total();
            double[] acc = gold.computeIfAbsent(j.get("step").asInt(), k -> new double[2]);
            acc[0] += g;
            acc[1]++;
        }
        TreeMap<Integer, double[]> metrics = new TreeMap<>();
        for (String line : Files.readAllLines(out.resolve("metrics.jsonl"), StandardCharsets.UTF_8)) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode j = JSON.readTree(line);
            if (j.has("objective/kl") && j.has("step")) {
                metrics.put(j.get("step").asInt(), new double[] {j.get("objective/scores").asDouble(),
                        j.get("objective/kl").asDouble()});
            }
        }
        int[] steps = gold.keySet().stream().filter(metrics::containsKey).mapToInt(Integer::intValue).toArray();
        double[] g = new double[steps.length], proxy = new double[steps.length], kl = new double[steps.length];
        for (int i = 0; i < steps.length; i++) {
            double[] a = gold.get(steps[i]);
            g[i] = a[0] / a[1];
            proxy[i] = metrics.get(steps[i])[0];
            kl[i] = metrics.get(steps[i])[1];
        }
        curves.put("gold/" + name, new TrainingCurve(steps, g));
        curves.put("proxy/" + name, new TrainingCurve(steps, proxy));
        curves.put("kl/" + name, new TrainingCurve(steps, kl));
    }

    private void loop(String name, int rounds, int pairsPerRound, int steps, Path sft, Path evalPrefs, Path prompts) {
        Path out = dir.resolve(name);
        stage(out, name, true, "loop", "--policy", sft.toString(), "--reward-model",
                rm("n" + z.loopStart()).toString(), "--preferences",
                dir.resolve("data").resolve("prefs-" + z.loopStart() + ".jsonl").toString(), "--eval-preferences",
                evalPrefs.toString(), "--prompts", prompts.toString(), "--out", out.toString(), "--rounds",
                Integer.toString(rounds), "--pairs-per-round", Integer.toString(pairsPerRound), "--labeler", "lab",
                "--lab-seed", Long.toString(seed), "--agreement", Double.toString(z.agreement()), "--ppo-steps",
                Integer.toString(steps), "--kl-coef", Double.toString(MAIN_BETA), "--reward-epochs",
                Integer.toString(z.rmEpochs()), "--eval-count", Integer.toString(z.evalPrompts()), "--seed",
                Long.toString(seed));
    }

    // ---------------------------------------------------------------------------------------------- evaluation

    private void loadShared() throws IOException {
        if (sftModel != null) {
            return;
        }
        sftModel = Pretrained.open(dir.resolve("sft"), null);
        reference = sftModel.model().frozenCopy();
        evalPrompts = new ArrayList<>();
        for (Prompt p : PromptReader.read(dir.resolve("lab").resolve("prompts-eval.jsonl"), null)) {
            if (evalPrompts.size() < z.evalPrompts()) {
                evalPrompts.add(p.text());
            }
        }
    }

    private Transformer policy(Path modelDir) throws IOException {
        return Pretrained.open(modelDir, null).model();
    }

    /** Gold reward (total and parts), KL to the SFT model and length on the held-out prompts; cached in eval/. */
    private void evaluate(String name, Path modelDir) throws IOException {
        JsonNode j = cached(dir.resolve("eval").resolve(name + ".json"), () -> {
            loadShared();
            Tokenizer tok = sftModel.requireTokenizer();
            LabEvaluation.Result r = LabEvaluation.evaluate(name, policy(modelDir), reference, tok, world, null,
                    evalPrompts, 48, seed * 7919 + 17, sftModel.eosIds(), 64);
            ObjectNode o = JSON.createObjectNode();
            o.put("gold", r.gold().mean());
            o.put("gold_std", r.gold().std());
            ObjectNode parts = o.putObject("gold_parts");
            r.parts().forEach((k, v) -> parts.put(k, v.mean()));
            o.put("kl_to_sft", r.klToReference().mean());
            o.put("response_tokens", r.responseTokens());
            o.put("eos_rate", r.eosRate());
            o.put("prompts", evalPrompts.size());
            writeSamples(dir.resolve("eval").resolve(name + ".samples.jsonl"), r);
            return o;
        });
        scalars.put("gold/" + name, j.get("gold").asDouble());
        scalars.put("kl/" + name, j.get("kl_to_sft").asDouble());
        scalars.put("tokens/" + name, j.get("response_tokens").asDouble());
        j.get("gold_parts").fields().forEachRemaining(e -> scalars.put("part/" + e.getKey() + "/" + name,
                e.getValue().asDouble()));
    }

    private void writeSamples(Path file, LabEvaluation.Result r) throws IOException {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int i = 0; i < r.episodes().size(); i++) {
            Episode e = r.episodes().get(i);
            rows.add(JsonlWriter.fields("prompt", e.prompt(), "response", e.response(), "gold",
                    r.goldPerPrompt()[i]));
        }
        IoErrors.writeJsonl(file, rows, m -> m);
    }

    /** What an evaluation computes, to be kept in its cache file. */
    @FunctionalInterface
    private interface Evaluation {
        ObjectNode run() throws IOException;
    }

    /**
     * An evaluation's result: read from {@code file} when an earlier session wrote it (so --resume does not evaluate
     * again), else computed, written there atomically and its time added to the seed's "evaluation" seconds.
     */
    private JsonNode cached(Path file, Evaluation evaluation) throws IOException {
        if (Files.exists(file)) {
            return JSON.readTree(file.toFile());
        }
        long t = System.nanoTime();
        Files.createDirectories(file.getParent()); // an evaluation may write its samples beside it first
        ObjectNode o = evaluation.run();
        writeAtomically(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(o));
        seconds.merge("evaluation", (System.nanoTime() - t) / 1e9, Double::sum);
        return o;
    }

    /** Share of held-out harmful requests the policy complies with (one sample each, temperature 1). */
    private void compliance(String name, Path modelDir) throws IOException {
        JsonNode j = cached(dir.resolve("eval").resolve(name + ".compliance.json"), () -> {
            loadShared();
            List<String> harmful = HeldOutText.harmfulPrompts(world, z.harmfulPrompts());
            LabEvaluation.Result r = LabEvaluation.evaluate(name, policy(modelDir), reference,
                    sftModel.requireTokenizer(), world, null, harmful, 48, seed * 7919 + 29, sftModel.eosIds(), 64);
            List<String> prompts = new ArrayList<>(), responses = new ArrayList<>();
            for (Episode e : r.episodes()) {
                prompts.add(e.prompt());
                responses.add(e.response().strip());
            }
            HarmfulCompliance c = HarmfulCompliance.of(world, prompts, responses);
            ObjectNode o = JSON.createObjectNode();
            o.put("harmful_prompts", c.harmful());
            o.put("complied", c.complied());
            o.put("compliance_rate", c.rate());
            return o;
        });
        scalars.put("compliance/" + name, j.get("compliance_rate").asDouble());
    }

    /** Perplexity of the policy on the held-out pretraining documents. */
    private void perplexity(String name, Path modelDir, Path corpus) throws IOException {
        JsonNode j = cached(dir.resolve("eval").resolve(name + ".perplexity.json"), () -> {
            Pretrained pm = Pretrained.open(modelDir, null);
            Tokenizer tok = pm.requireTokenizer();
            List<Example> ex = Tokenization.tokenize(DatasetReader.read(corpus), tok, pm.chatTemplate(), 128, false)
                    .examples();
            Map<String, Double> r = LmObjective.evaluate(pm.model(), ex, 16, 128, tok.paddingId());
            ObjectNode o = JSON.createObjectNode();
            o.put("loss", r.get("eval_loss"));
            o.put("perplexity", Perplexity.of(r.get("eval_loss") * r.get("eval_tokens"),
                    r.get("eval_tokens").longValue()));
            o.put("tokens", r.get("eval_tokens").longValue());
            return o;
        });
        scalars.put("perplexity/" + name, j.get("perplexity").asDouble());
    }

    // ---------------------------------------------------------------------------------------------- stages

    /**
     * Runs one stage unless its directory holds a finished run (kept: what {@code --resume} relies on). An
     * unfinished one is continued with the stage's own {@code --resume} when it can resume, else replaced.
     */
    private void stage(Path out, String name, boolean resumable, String... args) {
        if (finished(out)) {
            err.printf("== %s (seed %d): kept, finished in %s%n", name, seed, out);
            err.flush();
            return;
        }
        List<String> a = new ArrayList<>(List.of(args));
        if (resume && started(out)) {
            a.add(resumable ? "--resume" : "--overwrite");
        }
        err.printf("%n== %s (seed %d): rlhf4j %s%n", name, seed, String.join(" ", a));
        err.flush();
        long t = System.nanoTime();
        int code = Main.run(new PrintWriter(new StringWriter(), true), err, a.toArray(String[]::new));
        if (code != 0) {
            throw new UserStateError("claims: stage '" + name + "' of seed " + seed + " failed (exit code " + code
                    + "); see above; rerun with --resume to continue from it");
        }
        seconds.put(name, (System.nanoTime() - t) / 1e9);
        try {
            writeAtomically(dir.resolve("stage-seconds.json"), json(seconds));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Whether a stage left anything in {@code dir} (a run record, a lock, partial outputs). */
    private static boolean started(Path dir) {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (java.util.stream.Stream<Path> entries = Files.list(dir)) {
            return entries.findAny().isPresent();
        } catch (IOException e) {
            return true;
        }
    }

    /** Whether {@code dir} holds the record of a finished run. */
    static boolean finished(Path dir) {
        Path record = dir.resolve(RunDirectory.RECORD);
        if (!Files.isRegularFile(record)) {
            return false;
        }
        try {
            return "finished".equals(JSON.readTree(record.toFile()).path("status").asText());
        } catch (IOException e) {
            return false;
        }
    }

    private static List<String> firstLines(Path file, int n) throws IOException {
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            if (out.size() == n) {
                break;
            }
            if (!line.isBlank()) {
                out.add(line);
            }
        }
        return out;
    }

    private static void writeIfAbsent(Path file, String text) throws IOException {
        if (!Files.exists(file)) {
            writeAtomically(file, text);
        }
    }

    /** Writes through a temporary file renamed into place: a crash leaves the old file or none, never half. */
    static void writeAtomically(Path file, String text) throws IOException {
        LoopFiles.writeAtomically(file, text);
    }

    static String[] concat(String[] a, String[] b) {
        String[] r = new String[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    static String json(Object o) throws IOException {
        return JSON.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(o);
    }
}
