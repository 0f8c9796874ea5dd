package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.tensor.UserStateError;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.RunFingerprint;
import dev.rlhf4j.train.lab.Annotator;
import dev.rlhf4j.train.lab.LabData;
import dev.rlhf4j.train.lab.LabEvaluation;
import dev.rlhf4j.train.lab.LabStream;
import dev.rlhf4j.train.lab.LabWorld;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.PromptReader;
import dev.rlhf4j.train.ppo.RewardModelReward;
import dev.rlhf4j.train.report.MetricsReport;
import dev.rlhf4j.train.reward.RewardStats;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

/**
 * {@code rlhf4j loop}: InstructGPT's iterated collection (Ouyang et al. 2022, section 3.5; Bai et al. 2022's "online"
 * RLHF): each round samples pairs from the current policy, has them labelled, trains the reward model further on
 * every label so far, and runs PPO from the current policy with the SFT model as the KL reference.
 */
@Command(name = "loop", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Rounds of RLHF on fresh labels: each round samples two responses per prompt from the current "
                + "policy, has them labelled (by the lab's simulated annotators, or by people in the feedback app), "
                + "trains the reward model further on all labels so far, runs PPO from the current policy against it "
                + "(KL to the SFT model), and evaluates the new policy on held-out prompts with the lab's gold reward "
                + "(total and each part), the reward model's score, the KL to SFT and the win rate over SFT.",
                "Every stage runs the command a user would (reward train, ppo) into DIR/round-K/; DIR/loop.json "
                        + "records each finished step, so --resume continues where the loop stopped and never labels a "
                        + "round twice. DIR/metrics.jsonl has one record per round (round 0: the starting policy), "
                        + "DIR/report.html the curves of the loop and of every round's runs, DIR/summary.json the "
                        + "per-round table printed at the end."})
public final class LoopCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();
    static final RunDirectory.Kind KIND = new RunDirectory.Kind("loop", true, List.of("round-*", "loop.json",
            "metrics.jsonl", "summary.json", "report.html", "gold-per-round.png", "preferences-eval.jsonl"));
    /** The steps of a round, in order (round 0 has only {@code eval}). */
    static final List<String> STEPS = List.of("sample", "label", "reward", "ppo", "eval");
    /**
     * Test-only: {@code -Drlhf4j.loop.failAt=K:STEP} makes the loop fail as step STEP of round K starts (after it was
     * recorded as running), so that tests can stop a loop in the middle and resume it.
     */
    static final String FAIL_AT = "rlhf4j.loop.failAt";
    /** The sampled responses' length, the eval's and PPO's (the demo's). */
    private static final int RESPONSE_LENGTH = 48;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--policy", required = true, paramLabel = "PATH", description = "The policy round 1 starts from.")
    Path policy;
    @Option(names = "--reward-model", required = true, paramLabel = "PATH",
            description = "The starting reward model: round 1 trains it further.")
    Path rewardModel;
    @Option(names = "--prompts", required = true, paramLabel = "FILE",
            description = "PPO's prompts ({\"prompt\"} JSONL); with --labeler app also the prompts of the pairs to "
                    + "label (round K takes the next --pairs-per-round of them).")
    Path prompts;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory.")
    Path out;
    @Option(names = "--rounds", defaultValue = "3", description = "Rounds (default: ${DEFAULT-VALUE}); with --resume "
            + "a larger number continues a finished loop.")
    int rounds;
    @Option(names = "--pairs-per-round", defaultValue = "2000", description = "Prompts sampled twice per round, "
            + "pairs to label (default: ${DEFAULT-VALUE}).")
    int pairsPerRound;
    @Option(names = "--labeler", defaultValue = "lab", converter = LabelerChoice.class,
            completionCandidates = LabelerChoice.class,
            description = "Who labels: lab (simulated annotators, gold reward) or app (people in rlhf4j serve) "
                    + "(default: ${DEFAULT-VALUE}).")
    String labeler;
    @Option(names = "--sft-model", paramLabel = "PATH",
            description = "The SFT model: every round's KL reference (default: --policy).")
    Path sftModel;
    @Option(names = "--preferences", paramLabel = "FILE",
            description = "The labels the starting reward model was trained on: every round trains on them too.")
    Path preferences;
    @Option(names = "--eval-preferences", paramLabel = "FILE", description = "Held-out labelled pairs for the reward "
            + "model's accuracy (default with lab: pairs of the SFT model on the lab's held-out pair prompts, "
            + "labelled by the same annotators).")
    Path evalPreferences;
    @Option(names = "--lab-seed", defaultValue = "0", description = "Seed of the lab world (default: "
            + "${DEFAULT-VALUE}).")
    long labSeed;
    @Option(names = "--agreement", defaultValue = "0.73", description = "Lab annotators' agreement, calibrated on "
            + "round 1's pairs (default: ${DEFAULT-VALUE}).")
    double agreement;
    @Option(names = "--length-bias", defaultValue = "0", description = "Lab annotators' extra preference per word of "
            + "length (default: ${DEFAULT-VALUE}).")
    double lengthBias;
    @Option(names = "--ppo-steps", defaultValue = "40", description = "PPO steps of 64 episodes per round (default: "
            + "${DEFAULT-VALUE}).")
    int ppoSteps;
    @Option(names = "--ppo-learning-rate", defaultValue = "3e-5", description = "PPO learning rate (default: "
            + "${DEFAULT-VALUE}).")
    double ppoLearningRate;
    @Option(names = "--kl-coef", defaultValue = "0.05", description = "β of the KL penalty to the SFT model (default: "
            + "${DEFAULT-VALUE}).")
    double klCoef;
    @Option(names = "--reward-epochs", defaultValue = "1", description = "Epochs of each round's reward training "
            + "(default: ${DEFAULT-VALUE}).")
    int rewardEpochs;
    @Option(names = "--reward-learning-rate", defaultValue = "5e-4", description = "Reward training's learning rate "
            + "(default: ${DEFAULT-VALUE}).")
    double rewardLearningRate;
    @Option(names = "--eval-prompts", paramLabel = "FILE", description = "Held-out prompts each round's policy is "
            + "evaluated on (default with lab: the lab world's evaluation prompts; required with app). The gold "
            + "reward is measured when they are the lab world's; other prompts get the reward model's score and the "
            + "KL only.")
    Path evalPrompts;
    @Option(names = "--eval-count", defaultValue = "300", description = "Held-out prompts evaluated per round "
            + "(default: ${DEFAULT-VALUE}).")
    int evalCount;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of sampling, labelling and training (default: "
            + "${DEFAULT-VALUE}).")
    long seed;
    @Option(names = "--app-url", paramLabel = "URL", description = "With --labeler app: the feedback app "
            + "(rlhf4j serve), e.g. http://localhost:8080; the API token is read from RLHF4J_API_TOKEN.")
    String appUrl;
    @Option(names = "--app-project", paramLabel = "NAME|ID", description = "With --labeler app: the app's project "
            + "the pairs go to.")
    String appProject;
    @Option(names = "--round-timeout", paramLabel = "DURATION", description = "With --labeler app: how long a round "
            + "waits for labels, e.g. 30m, 24h, 2d (default: 24h).")
    String roundTimeoutText;
    @Option(names = "--poll-seconds", paramLabel = "N", description = "With --labeler app: seconds between looks at "
            + "the labelling progress (default: 10).")
    Integer pollSecondsOption;
    @CommandLine.Mixin
    ResumeOptions output = new ResumeOptions();
    @CommandLine.Mixin
    ThreadsOption threads = new ThreadsOption();

    /** The environment (the app labeler's API token); tests give their own. */
    Function<String, String> env = System::getenv;

    /** Parsed --round-timeout and --poll-seconds (app labeler). */
    Duration roundTimeout;
    int pollSeconds;

    private PrintWriter err;
    private LabWorld world;
    private List<String> ppoPromptTexts;
    private List<String> evalPromptTexts;
    /** Whether the evaluation prompts are the lab world's, so the gold reward can score the responses. */
    private boolean withGold;
    /** Said once the loop starts (not before: a later check may still refuse the command). */
    private String evalNotice;
    private ObjectNode state;

    /** The values of {@code --labeler}. */
    static final class LabelerChoice extends Choice {
        LabelerChoice() {
            super("lab", "app");
        }
    }

    @Override
    public Integer call() throws IOException {
        // every option and input is checked here, before the first stage runs
        threads.apply();
        RunDirectory.Start start = output.start();
        checkOptions();
        err = spec.commandLine().getErr();
        world = new LabWorld(labSeed);
        readPrompts();
        Map<String, Path> inputs = new LinkedHashMap<>();
        inputs.put("--policy", policy);
        inputs.put("--reward-model", rewardModel);
        inputs.put("--sft-model", sftModel);
        inputs.put("--prompts", prompts);
        inputs.put("--preferences", preferences);
        inputs.put("--eval-preferences", evalPreferences);
        inputs.put("--eval-prompts", evalPrompts);
        RunDirectory.refuseInputs(out, KIND, inputs, false);
        // the app's labeler is made (and its settings checked) before the directory is touched
        try (Labeler app = labeler.equals("app") ? appLabeler() : null;
             RunDirectory run = RunDirectory.open(out, KIND, start, err)) {
            // --rounds is left out: a finished loop can be continued for more rounds
            run.verify(new RunFingerprint().file("policy", policy).file("reward_model", rewardModel)
                    .file("sft_model", sftModel()).file("prompts", prompts).file("preferences", preferences)
                    .file("eval_preferences", evalPreferences).file("eval_prompts", evalPrompts)
                    .put("pairs_per_round", pairsPerRound).put("labeler", labeler).put("lab_seed", labSeed)
                    .put("agreement", agreement).put("length_bias", lengthBias).put("ppo_steps", ppoSteps)
                    .put("ppo_learning_rate", ppoLearningRate).put("kl_coef", klCoef)
                    .put("reward_epochs", rewardEpochs).put("reward_learning_rate", rewardLearningRate)
                    .put("eval_count", evalCount).put("seed", seed).put("app_url", appUrl)
                    .put("app_project", appProject), output.allowChanges);
            state = readState();
            run.markRunning(0);
            if (evalNotice != null) {
                err.println(evalNotice);
            }
            runRounds(app != null ? app : labLabeler());
            finish();
            run.markFinished(0);
        }
        return 0;
    }

    private void checkOptions() {
        Checks.positive("--rounds", rounds);
        Checks.positive("--pairs-per-round", pairsPerRound);
        Checks.between("--agreement", agreement, 0.5, 1);
        Checks.finite("--length-bias", lengthBias);
        Checks.positive("--ppo-steps", ppoSteps);
        Checks.positive("--ppo-learning-rate", ppoLearningRate);
        Checks.nonNegative("--kl-coef", klCoef);
        Checks.positive("--reward-epochs", rewardEpochs);
        Checks.positive("--reward-learning-rate", rewardLearningRate);
        Checks.positive("--eval-count", evalCount);
        if (labeler.equals("app")) {
            if (appUrl == null || appProject == null) {
                throw Checks.usage(spec, "--labeler app needs --app-url and --app-project (the running rlhf4j serve "
                        + "and the project the pairs go to)");
            }
            roundTimeout = roundTimeoutText == null ? Duration.ofHours(24) : duration(roundTimeoutText);
            pollSeconds = pollSecondsOption == null ? 10 : pollSecondsOption;
            Checks.positive("--poll-seconds", pollSeconds);
        } else {
            for (String[] o : new String[][] {{"--app-url", appUrl}, {"--app-project", appProject},
                    {"--round-timeout", roundTimeoutText},
                    {"--poll-seconds", pollSecondsOption == null ? null : "x"}}) {
                if (o[1] != null) {
                    throw Checks.usage(spec, o[0] + " goes with --labeler app");
                }
            }
        }
        Checks.inputPath("--policy", policy);
        Checks.inputPath("--reward-model", rewardModel);
        Checks.inputPath("--sft-model", sftModel);
        Checks.inputFile("--prompts", prompts);
        Checks.inputFile("--preferences", preferences);
        Checks.inputFile("--eval-preferences", evalPreferences);
        Checks.inputFile("--eval-prompts", evalPrompts);
        Checks.outputDirectory("--out", out);
        if (labeler.equals("app") && evalPrompts == null) {
            throw Checks.usage(spec, "--labeler app needs --eval-prompts (held-out prompts to evaluate each round's "
                    + "policy on)");
        }
        if (labeler.equals("app") && evalPreferences == null) {
            throw Checks.usage(spec, "--labeler app needs --eval-preferences (held-out labelled pairs for the "
                    + "reward model's accuracy); only the lab can label its own");
        }
    }

    /** {@code 90s}, {@code 30m}, {@code 24h}, {@code 2d}: a positive whole number and a unit. */
    private Duration duration(String text) {
        Matcher m = Pattern.compile("(\\d{1,9})([smhd])").matcher(text.strip().toLowerCase(Locale.ROOT));
        if (!m.matches() || Long.parseLong(m.group(1)) == 0) {
            throw Checks.usage(spec, "--round-timeout '" + text + "': expected a positive number and a unit, s, m, h "
                    + "or d (e.g. 30m, 24h)");
        }
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
            case "s" -> Duration.ofSeconds(n);
            case "m" -> Duration.ofMinutes(n);
            case "h" -> Duration.ofHours(n);
            default -> Duration.ofDays(n);
        };
    }

    private Path sftModel() {
        return sftModel != null ? sftModel : policy;
    }

    private void readPrompts() throws IOException {
        ppoPromptTexts = new ArrayList<>();
        for (PromptReader.Record r : PromptReader.records(prompts)) {
            ppoPromptTexts.add(r.text());
        }
        if (ppoPromptTexts.isEmpty()) {
            throw new UserError("--prompts " + prompts + ": no prompts in it");
        }
        evalPromptTexts = new ArrayList<>();
        withGold = true;
        if (evalPrompts == null) {
            evalPromptTexts.addAll(LabData.prompts(world, evalCount, LabStream.EVAL_PROMPTS.id()));
            return;
        }
        String notLab = null;
        for (PromptReader.Record r : PromptReader.records(evalPrompts)) {
            if (evalPromptTexts.size() == evalCount) {
                break;
            }
            try {
                world.parse(r.text());
            } catch (UserError e) {
                if (labeler.equals("lab")) {
                    // the simulated annotators and the evaluation both judge by the lab's gold reward
                    throw new UserError("--eval-prompts " + r.where() + ": " + e.getMessage() + " (the loop "
                            + "evaluates with the gold reward of lab world " + labSeed + "; see --lab-seed)");
                }
                notLab = notLab == null ? r.where() + ": " + e.getMessage() : notLab;
            }
            evalPromptTexts.add(r.text());
        }
        if (evalPromptTexts.isEmpty()) {
            throw new UserError("--eval-prompts " + evalPrompts + ": no prompts in it");
        }
        if (notLab != null) {
            withGold = false;
            evalNotice = String.format("--eval-prompts %s are not all the lab world's (%s): each round is evaluated "
                    + "by the reward model's score and the KL to SFT, without a gold reward", evalPrompts, notLab);
        }
    }

    /** The lab's annotators, as calibrated in an earlier round if there was one. */
    private Labeler labLabeler() {
        JsonNode a = state.path("annotator");
        Annotator annotator = a.isObject() ? new Annotator(a.get("temperature").asDouble(),
                a.get("length_bias").asDouble()) : null;
        return new LabLabeler(world, agreement, lengthBias, seed, annotator);
    }

    /**
     * The feedback app as the labeler, its API token from {@value AppLabeler#TOKEN_ENV} (never an option: command
     * lines are visible to other users). The token, the project and the app's answer are checked here, before the
     * loop spends its first minutes evaluating and sampling.
     */
    Labeler appLabeler() throws IOException {
        URI url;
        try {
            url = new URI(appUrl.strip());
        } catch (URISyntaxException e) {
            throw new UserError("--app-url " + appUrl + ": not an address (" + e.getReason() + ")");
        }
        AppLabeler app = new AppLabeler(url, appProject, roundTimeout, Duration.ofSeconds(pollSeconds),
                env.apply(AppLabeler.TOKEN_ENV));
        app.check();
        return app;
    }

    // ------------------------------------------------------------------ the rounds

    private void runRounds(Labeler l) throws IOException {
        step(0, "eval", () -> evaluate(0));
        for (int k = 1; k <= rounds; k++) {
            int round = k;
            step(k, "sample", () -> sample(round));
            step(k, "label", () -> label(round, l));
            step(k, "reward", () -> trainRewardModel(round));
            step(k, "ppo", () -> ppo(round));
            step(k, "eval", () -> evaluate(round));
            writeMetrics();
        }
    }

    @FunctionalInterface
    private interface Work {
        void run() throws IOException;
    }

    /** Runs a step unless loop.json records it as done; records it as running, then as done (atomically). */
    private void step(int round, String name, Work work) throws IOException {
        String key = round + ":" + name;
        ArrayNode done = state.has("done") ? (ArrayNode) state.get("done") : state.putArray("done");
        for (JsonNode d : done) {
            if (d.asText().equals(key)) {
                return;
            }
        }
        boolean again = key.equals(state.path("running").asText());
        state.put("running", key);
        saveState();
        err.printf("%n== round %d: %s%s%n", round, name, again ? " (again: the loop stopped during it)" : "");
        err.flush();
        if (key.equals(System.getProperty(FAIL_AT))) {
            throw new UserStateError("loop stopped as round " + round + "'s " + name + " started (test hook "
                    + FAIL_AT + ")");
        }
        long t = System.nanoTime();
        work.run();
        object(state, "seconds").put(key, (System.nanoTime() - t) / 1e9);
        done.add(key);
        state.remove("running");
        saveState();
    }

    private Path roundDir(int k) throws IOException {
        Path d = out.resolve("round-" + k);
        Files.createDirectories(d);
        return d;
    }

    /** The policy as round {@code k} ends (round 0: the starting policy). */
    private Path policyAfter(int k) {
        return k == 0 ? policy : out.resolve("round-" + k).resolve("ppo");
    }

    /** The reward model as round {@code k} ends (round 0: the starting one). */
    private Path rewardModelAfter(int k) {
        return k == 0 ? rewardModel : out.resolve("round-" + k).resolve("reward-model");
    }

    private void sample(int k) throws IOException {
        List<String> roundPrompts;
        if (labeler.equals("app")) {
            roundPrompts = new ArrayList<>();
            int n = ppoPromptTexts.size();
            long from = (long) (k - 1) * pairsPerRound;
            if (from + pairsPerRound > n) {
                err.printf("--prompts has %d prompts: round %d wraps around to its start%n", n, k);
            }
            for (long i = from; i < from + pairsPerRound; i++) {
                roundPrompts.add(ppoPromptTexts.get((int) (i % n)));
            }
        } else {
            // a stream of the round's own: never the evaluation's or PPO's prompts
            roundPrompts = LabData.prompts(world, pairsPerRound, 2_000 + 1_000 * seed + k);
        }
        Pretrained pm = Pretrained.open(policyAfter(k - 1), null);
        List<LabData.Candidates> c = LabData.modelPairs(pm.model(), pm.requireTokenizer(), RESPONSE_LENGTH,
                seed * 1_000_003 + k, 32).sample(roundPrompts);
        List<Map<String, Object>> records = new ArrayList<>();
        for (int i = 0; i < c.size(); i++) {
            if (c.get(i).a().equals(c.get(i).b())) {
                continue;
            }
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("id", "r" + k + "-" + i);
            r.put("prompt", c.get(i).prompt());
            r.put("responses", List.of(c.get(i).a(), c.get(i).b()));
            records.add(r);
        }
        LoopFiles.writeJsonlAtomically(roundDir(k).resolve("pairs.jsonl"), records);
        err.printf("round %d: %d pairs sampled from %s (%d identical pairs dropped)%n", k, records.size(),
                policyAfter(k - 1), c.size() - records.size());
    }

    private List<Labeler.Pair> readPairs(int k) throws IOException {
        List<Labeler.Pair> pairs = new ArrayList<>();
        Path f = out.resolve("round-" + k).resolve("pairs.jsonl");
        for (String line : Files.readAllLines(f, StandardCharsets.UTF_8)) {
            if (!line.isBlank()) {
                JsonNode n = JSON.readTree(line);
                pairs.add(new Labeler.Pair(n.get("id").asText(), n.get("prompt").asText(),
                        n.get("responses").get(0).asText(), n.get("responses").get(1).asText()));
            }
        }
        return pairs;
    }

    private void label(int k, Labeler l) throws IOException {
        List<Labeler.Pair> pairs = readPairs(k);
        Labeler.Outcome o = l.label(k, pairs, roundDir(k).resolve("preferences.jsonl"), err);
        ObjectNode n = object(state, "labels").putObject(Integer.toString(k));
        n.put("labelled", o.labelled());
        n.put("set_aside", o.setAside());
        n.put("unlabelled", o.unlabelled());
        if (l instanceof LabLabeler lab) {
            Annotator a = lab.annotator();
            ObjectNode an = state.putObject("annotator");
            an.put("temperature", a.temperature());
            an.put("length_bias", a.lengthBias());
            Path heldOut = out.resolve("preferences-eval.jsonl");
            if (evalPreferences == null && !Files.exists(heldOut)) {
                // held-out pairs of the SFT model, labelled by the same annotators: the reward models' test
                int count = Math.max(20, Math.min(300, pairsPerRound / 4));
                Pretrained sft = Pretrained.open(sftModel(), null);
                List<LabData.Candidates> c = LabData.modelPairs(sft.model(), sft.requireTokenizer(), RESPONSE_LENGTH,
                        seed * 1_000_003, 32).sample(LabData.prompts(world, count,
                        LabStream.EVAL_PAIR_PROMPTS.id()));
                int written = lab.labelHeldOut(c, heldOut);
                err.printf("held-out pairs for the reward models: %d of the SFT model's, in %s%n", written, heldOut);
            }
        }
        err.printf("round %d: %d pairs labelled, %d set aside, %d unlabelled%n", k, o.labelled(), o.setAside(),
                o.unlabelled());
    }

    private Path heldOutPreferences() {
        return evalPreferences != null ? evalPreferences : out.resolve("preferences-eval.jsonl");
    }

    private void trainRewardModel(int k) throws IOException {
        // all labels so far: the starting reward model's, then every round's
        StringBuilder data = new StringBuilder();
        List<Path> parts = new ArrayList<>();
        if (preferences != null) {
            parts.add(preferences);
        }
        for (int r = 1; r <= k; r++) {
            parts.add(out.resolve("round-" + r).resolve("preferences.jsonl"));
        }
        for (Path p : parts) {
            for (String line : Files.readAllLines(p, StandardCharsets.UTF_8)) {
                if (!line.isBlank()) {
                    data.append(line).append('\n');
                }
            }
        }
        Path file = roundDir(k).resolve("reward-data.jsonl");
        LoopFiles.writeAtomically(file, data.toString());
        Path rm = rewardModelAfter(k);
        stage("reward train", "reward", "train", "--model", rewardModelAfter(k - 1).toString(), "--data",
                file.toString(), "--eval-data", heldOutPreferences().toString(), "--out", rm.toString(),
                continuation(rm), "--per-device-train-batch-size", "32", "--num-train-epochs",
                Integer.toString(rewardEpochs), "--learning-rate", Double.toString(rewardLearningRate),
                "--warmup-ratio", "0.05", "--max-length", "128", "--lr-scheduler-type", "cosine", "--save-steps", "0",
                "--logging-steps", "10", "--seed", Long.toString(seed + k));
    }

    private void ppo(int k) throws IOException {
        Path p = policyAfter(k);
        // the demo's PPO settings: 16 × 4 = 64 episodes a step
        stage("ppo", "ppo", "--policy", policyAfter(k - 1).toString(), "--ref-model", sftModel().toString(),
                "--reward-model", rewardModelAfter(k).toString(), "--prompts", prompts.toString(), "--out",
                p.toString(), continuation(p), "--seed", Long.toString(seed + k), "--max-steps",
                Integer.toString(ppoSteps), "--learning-rate", Double.toString(ppoLearningRate), "--kl-coef",
                Double.toString(klCoef), "--per-device-train-batch-size", "16", "--num-mini-batches", "4",
                "--num-ppo-epochs", "4", "--response-length", Integer.toString(RESPONSE_LENGTH), "--normalize-reward",
                "--missing-eos-penalty", "1.0", "--lr-scheduler-type", "constant", "--logging-steps", "10",
                "--sample-steps", "25");
    }

    /**
     * How a stage's run continues after the loop stopped during it: from its checkpoints (or as finished) with its own
     * --resume, else from scratch with --overwrite.
     */
    private static String continuation(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return "--overwrite";
        }
        boolean checkpoints;
        try (var s = Files.list(dir)) {
            checkpoints = s.anyMatch(p -> p.getFileName().toString().startsWith("checkpoint-"));
        }
        Path record = dir.resolve(RunDirectory.RECORD);
        boolean finished = Files.isRegularFile(record)
                && "finished".equals(JSON.readTree(record.toFile()).path("status").asText());
        return checkpoints || finished ? "--resume" : "--overwrite";
    }

    private void stage(String name, String... args) {
        err.printf("rlhf4j %s%n", String.join(" ", args));
        err.flush();
        int code = Main.run(new PrintWriter(new StringWriter(), true), err, args);
        if (code != 0) {
            throw new UserStateError("loop stage '" + name + "' failed (exit code " + code + "); see above; "
                    + "rlhf4j loop --resume continues from it");
        }
    }

    private void evaluate(int k) throws IOException {
        Pretrained sft = Pretrained.open(sftModel(), null);
        Tokenizer tok = sft.requireTokenizer();
        Transformer reference = sft.model().frozenCopy();
        Path rmDir = rewardModelAfter(k);
        Pretrained rm = Pretrained.open(rmDir, null);
        RewardModelReward rmScore = new RewardModelReward(rm.model(), rm.requireTokenizer(), tok,
                RewardStats.read(rmDir).orElse(null), 0, 64);
        long evalSeed = seed * 7919 + 17; // the same draws every round: rounds differ by their policies only
        LabWorld gold = withGold ? world : null;
        LabEvaluation.Result sftResult = LabEvaluation.evaluate("sft", sft.model(), reference, tok, gold, rmScore,
                evalPromptTexts, RESPONSE_LENGTH, evalSeed, sft.eosIds(), 64);
        Path p = policyAfter(k);
        LabEvaluation.Result r = p.equals(sftModel()) ? sftResult : LabEvaluation.evaluate("round-" + k,
                Pretrained.open(p, null).model(), reference, tok, gold, rmScore, evalPromptTexts, RESPONSE_LENGTH,
                evalSeed, sft.eosIds(), 64);
        Path dir = roundDir(k);
        writeSamples(dir.resolve("eval-samples.jsonl"), r);
        int n = evalPromptTexts.size();
        ObjectNode e = JSON.createObjectNode();
        e.put("round", k);
        e.put("policy", p.toString());
        e.put("reward_model", rmDir.toString());
        e.put("eval_prompts", n);
        if (withGold) {
            ObjectNode g = e.putObject("gold");
            g.put("mean", r.gold().mean());
            g.put("std", r.gold().std());
            g.put("stderr", r.gold().stderr(n));
            ObjectNode parts = e.putObject("gold_parts");
            r.parts().forEach((part, s) -> parts.put(part, s.mean()));
            e.put("win_rate_vs_sft", LabEvaluation.winRate(r, sftResult));
            e.put("sft_gold", sftResult.gold().mean());
        }
        e.put("reward_model_score", r.rewardModel().mean());
        e.put("kl_to_sft", r.klToReference().mean());
        e.put("response_tokens", r.responseTokens());
        e.put("eos_rate", r.eosRate());
        if (k > 0) {
            e.put("reward_eval_accuracy", JSON.readTree(rmDir.resolve("train_results.json").toFile())
                    .path("eval_accuracy").asDouble());
        }
        LoopFiles.writeJsonAtomically(dir.resolve("eval.json"), e);
        if (withGold) {
            err.printf("round %d: gold %.3f ± %.3f, KL to SFT %.3f, win rate over SFT %.1f%%%n", k, r.gold().mean(),
                    r.gold().stderr(n), r.klToReference().mean(), 100 * e.get("win_rate_vs_sft").asDouble());
        } else {
            err.printf("round %d: reward model %.3f, KL to SFT %.3f%n", k, r.rewardModel().mean(),
                    r.klToReference().mean());
        }
    }

    private void writeSamples(Path file, LabEvaluation.Result r) throws IOException {
        LoopFiles.writeJsonlAtomically(file, IntStream.range(0, r.episodes().size()).mapToObj(i -> {
            Episode ep = r.episodes().get(i);
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("prompt", ep.prompt());
            o.put("response", ep.response());
            if (withGold) {
                o.put("gold", r.goldPerPrompt()[i]);
                o.put("gold_parts", world.score(ep.prompt(), ep.response().strip()).parts());
            }
            return o;
        }).toList());
    }

    // ------------------------------------------------------------------ state, metrics, report

    private ObjectNode readState() throws IOException {
        Path f = out.resolve("loop.json");
        if (!Files.exists(f)) {
            return JSON.createObjectNode();
        }
        try {
            JsonNode n = JSON.readTree(f.toFile());
            if (!(n instanceof ObjectNode o)) {
                throw new UserError(f + ": not a JSON object; was it edited?");
            }
            return o;
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new UserError(f + ": not valid JSON (" + e.getOriginalMessage() + "); was it edited?");
        }
    }

    private static ObjectNode object(ObjectNode parent, String name) {
        return parent.get(name) instanceof ObjectNode o ? o : parent.putObject(name);
    }

    private void saveState() throws IOException {
        LoopFiles.writeJsonAtomically(out.resolve("loop.json"), state);
    }

    /** The rounds evaluated so far (0..), each round's eval.json with its labels and time. */
    private List<ObjectNode> roundRecords() throws IOException {
        List<ObjectNode> records = new ArrayList<>();
        long total = preferences == null ? 0 : Files.readAllLines(preferences, StandardCharsets.UTF_8).stream()
                .filter(s -> !s.isBlank()).count();
        for (int k = 0; Files.exists(out.resolve("round-" + k).resolve("eval.json")); k++) {
            ObjectNode e = (ObjectNode) JSON.readTree(out.resolve("round-" + k).resolve("eval.json").toFile());
            int labelled = state.path("labels").path(Integer.toString(k)).path("labelled").asInt(0);
            total += labelled;
            e.put("labels_round", labelled);
            e.put("labels_total", total);
            double seconds = 0;
            for (String s : k == 0 ? List.of("eval") : STEPS) {
                seconds += state.path("seconds").path(k + ":" + s).asDouble(0);
            }
            e.put("seconds", seconds);
            records.add(e);
        }
        return records;
    }

    private void writeMetrics() throws IOException {
        List<ObjectNode> metrics = new ArrayList<>();
        for (ObjectNode e : roundRecords()) {
            ObjectNode m = JSON.createObjectNode();
            m.put("step", e.get("round").asInt());
            if (e.has("gold")) {
                m.put("eval/gold", e.get("gold").get("mean").asDouble());
                m.put("eval/gold_std", e.get("gold").get("std").asDouble());
                m.put("eval/gold_stderr", e.get("gold").get("stderr").asDouble());
                e.get("gold_parts").properties().forEach(p -> m.put("eval/gold/" + p.getKey(),
                        p.getValue().asDouble()));
                m.put("eval/win_rate_vs_sft", e.get("win_rate_vs_sft").asDouble());
            }
            m.put("eval/reward_model", e.get("reward_model_score").asDouble());
            m.put("eval/kl_to_sft", e.get("kl_to_sft").asDouble());
            if (e.has("reward_eval_accuracy")) {
                m.put("reward/eval_accuracy", e.get("reward_eval_accuracy").asDouble());
            }
            m.put("labels/round", e.get("labels_round").asInt());
            m.put("labels/total", e.get("labels_total").asLong());
            m.put("time/round_s", e.get("seconds").asDouble());
            metrics.add(m);
        }
        LoopFiles.writeJsonlAtomically(out.resolve("metrics.jsonl"), metrics);
    }

    private void finish() throws IOException {
        writeMetrics();
        List<ObjectNode> records = roundRecords();
        ObjectNode summary = JSON.createObjectNode();
        summary.put("labeler", labeler);
        summary.put("policy", policy.toString());
        summary.put("sft_model", sftModel().toString());
        summary.put("eval_prompts", evalPromptTexts.size());
        summary.put("sampling", "one response per prompt at temperature 1, at most 48 new tokens");
        ArrayNode rs = summary.putArray("rounds");
        records.forEach(rs::add);
        LoopFiles.writeJsonAtomically(out.resolve("summary.json"), summary);
        // the loop's per-round metrics and, below them, every round's reward-model and PPO runs
        Path report = MetricsReport.write(List.of(out), out.resolve("report.html"));
        Path chart = chart(records);
        PrintWriter o = spec.commandLine().getOut();
        o.print(table(records));
        o.printf("%nthe loop's rounds are in %s (loop.json, metrics.jsonl, summary.json; round-K/ for each round)%n",
                out);
        o.printf("training curves: %s%n", report);
        if (chart != null) {
            o.printf("gold per round: %s%n", chart);
        }
        o.flush();
    }

    /** DIR/gold-per-round.png: the held-out gold of each round's policy with its standard error; none without gold. */
    private Path chart(List<ObjectNode> records) throws IOException {
        if (records.isEmpty() || !records.get(0).has("gold")) {
            return null;
        }
        Map<String, PngCharts.Bar> bars = new LinkedHashMap<>();
        for (ObjectNode r : records) {
            int k = r.get("round").asInt();
            bars.put(k == 0 ? "0 (start)" : Integer.toString(k), new PngCharts.Bar(r.get("gold").get("mean")
                    .asDouble(), r.get("gold").get("stderr").asDouble()));
        }
        Path png = out.resolve("gold-per-round.png");
        PngCharts.bars(png, "Held-out gold reward per round (± standard error)", "gold reward",
                Map.of("gold", bars));
        return png;
    }

    /** The per-round table: one row per round. */
    static String table(List<ObjectNode> records) {
        StringBuilder b = new StringBuilder();
        b.append(String.format("%n%-6s%14s%10s%18s", "round", "labels (total)", "RM acc", "gold ± se"));
        for (String part : LabWorld.PARTS) {
            b.append(String.format("%12s", part.length() > 11 ? part.substring(0, 11) : part));
        }
        b.append(String.format("%10s%10s%12s%n", "RM score", "KL to SFT", "win vs SFT"));
        for (JsonNode e : records) {
            boolean gold = e.has("gold");
            b.append(String.format("%-6d%14s%10s%18s", e.get("round").asInt(),
                    e.get("labels_round").asInt() + " (" + e.get("labels_total").asLong() + ")",
                    e.has("reward_eval_accuracy") ? String.format("%.1f%%", 100 * e.get("reward_eval_accuracy")
                            .asDouble()) : "-",
                    gold ? String.format("%.3f ± %.3f", e.get("gold").get("mean").asDouble(),
                            e.get("gold").get("stderr").asDouble()) : "-"));
            for (String part : LabWorld.PARTS) {
                b.append(gold ? String.format("%12.3f", e.get("gold_parts").path(part).asDouble())
                        : String.format("%12s", "-"));
            }
            b.append(String.format("%10.3f%10.3f%12s%n", e.get("reward_model_score").asDouble(),
                    e.get("kl_to_sft").asDouble(),
                    gold ? String.format("%.1f%%", 100 * e.get("win_rate_vs_sft").asDouble()) : "-"));
        }
        return b.toString();
    }
}
