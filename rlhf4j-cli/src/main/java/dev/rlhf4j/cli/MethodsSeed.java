package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserStateError;
import dev.rlhf4j.train.data.JsonlReader;
import dev.rlhf4j.train.lab.LabEvaluation;
import dev.rlhf4j.train.lab.LabWorld;
import dev.rlhf4j.train.online.BestOfN;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.PromptReader;
import dev.rlhf4j.train.ppo.RewardModelReward;
import dev.rlhf4j.train.reward.RewardStats;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One seed of {@code rlhf4j compare-methods}: the demo's recipe up to the reward model ({@link LabRecipe}), then each
 * method from the SFT model with the same labels (the reward model's, or DPO's own), each a stage run through
 * {@link Main#run} in {@code seed-S/methods/NAME}, then every policy evaluated on the same held-out prompts with the
 * same sampling seed: gold reward (total and parts), reward-model score, KL to the SFT model, win rate over SFT.
 * Each method's wall time and peak heap after collections are measured around its stage; its model state (weights,
 * gradients, AdamW moments of every model it holds) is counted from the parameter count.
 */
final class MethodsSeed {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** How big a comparison is: the recipe's sizes, the RL methods' steps and the held-out prompts. */
    record Sizes(int pairs, int steps, int evalPrompts, boolean quick) {
    }

    /**
     * A method: its name in the table, what it is, its stage (null for best-of-n, which runs at evaluation), n for
     * best-of-n (else 0), the models' state as a multiple of the policy's parameter count (floats) and the responses
     * it generates per training step.
     */
    record Method(String name, String description, LabRecipe.Stage stage, int bestOfN, double modelStates,
                  int responsesPerStep) {
    }

    /** PPO's learning rate under LoRA: adapters start at zero and take larger steps than full fine-tuning's 3e-5. */
    static final double PPO_LORA_LR = 2e-4;

    private final long seed;
    private final Path dir;
    private final Sizes z;
    private final Set<String> only;
    private final boolean resume;
    private final PrintWriter err;
    private final LabRecipe.Dirs d;

    MethodsSeed(long seed, Path dir, Sizes z, Set<String> only, boolean resume, PrintWriter err) {
        this.seed = seed;
        this.dir = dir;
        this.z = z;
        this.only = only;
        this.resume = resume;
        this.err = err;
        this.d = new LabRecipe.Dirs(dir);
    }

    /** The methods compared, in the table's order; {@code only} (names) picks some. */
    static List<String> names() {
        return List.of("ppo", "ppo-lora", "ppo-lora-vh", "dpo", "ipo", "online-dpo", "grpo", "rloo", "best-of-4",
                "best-of-16");
    }

    /**
     * The methods' command lines. The RL methods generate 64 responses a step for the same number of steps (PPO 64
     * prompts; online DPO 32 prompts × 2; GRPO and RLOO 16 prompts × 4), all from the same reward model, trained on
     * the same labels DPO learns from directly. Model states: multiples of the policy's parameter count held as
     * floats (weights, gradients, two AdamW moments of each trained model; weights of each frozen one).
     */
    List<Method> allMethods() {
        String s = Long.toString(seed), steps = Integer.toString(z.steps());
        Path m = dir.resolve("methods"), prompts = d.lab().resolve("prompts.jsonl");
        String sft = d.sft().toString(), rm = d.rewardModel().toString();
        String[] common = LabRecipe.common(seed);
        String[] rl = {"--seed", s, "--max-steps", steps, "--lr-scheduler-type", "constant", "--logging-steps", "10"};
        List<Method> out = new ArrayList<>();
        out.add(new Method("ppo", "PPO, β 0.05 (the demo's)", LabRecipe.ppo(d, m.resolve("ppo"), seed, z.steps(),
                3e-5, 0.05), 0, 4 + 4 + 1 + 1, 64));
        // LoRA r 16 on every linear layer: the SFT weights held once (policy base and reference), the reward model's
        // shared by the critic's adapter (separate) or no critic model at all (a value head on the policy)
        out.add(new Method("ppo-lora", "PPO with LoRA r 16, critic: the reward model + its own adapter",
                LabRecipe.ppo(d, m.resolve("ppo-lora"), seed, z.steps(), PPO_LORA_LR, 0.05, "--lora-r", "16",
                        "--critic", "separate"), 0, 1 + 1, 64));
        out.add(new Method("ppo-lora-vh", "PPO with LoRA r 16, critic: a value head on the policy",
                LabRecipe.ppo(d, m.resolve("ppo-lora-vh"), seed, z.steps(), PPO_LORA_LR, 0.05, "--lora-r", "16",
                        "--critic", "value-head"), 0, 1 + 1, 64));
        for (String type : List.of("sigmoid", "ipo")) {
            String name = type.equals("sigmoid") ? "dpo" : "ipo", beta = type.equals("sigmoid") ? DPO_BETA : IPO_BETA;
            Path o = m.resolve(name);
            out.add(new Method(name, "DPO, " + type + " loss, β " + beta + ", 1 epoch over the labels",
                    new LabRecipe.Stage(name, o, true, new String[] {"dpo", "--model", sft, "--data",
                        d.preferences().resolve("preferences.jsonl").toString(), "--eval-data",
                        d.preferences().resolve("preferences-eval.jsonl").toString(), "--out", o.toString(),
                        "--loss-type", type, "--beta", beta, "--learning-rate", DPO_LR, "--num-train-epochs", "1",
                        "--per-device-train-batch-size", "8", "--precompute-ref-log-probs", "--max-length", "128",
                        "--save-steps", "0", "--logging-steps", "200", "--seed", s}), 0, 4 + 1, 0));
        }
        Path od = m.resolve("online-dpo");
        out.add(new Method("online-dpo", "online DPO, β 0.1, pairs judged by the reward model", new LabRecipe.Stage(
                "online-dpo", od, true, LabRecipe.concat(new String[] {"online-dpo", "--policy", sft,
                    "--reward-model", rm, "--normalize-reward", "--prompts", prompts.toString(), "--out",
                    od.toString(), "--per-device-train-batch-size", "32", "--max-new-tokens", "48", "--beta",
                    ONLINE_DPO_BETA, "--learning-rate", ONLINE_DPO_LR, "--missing-eos-penalty", "1.0"}, rl)), 0,
                4 + 1 + 1, 64));
        for (String adv : List.of("grpo", "rloo")) {
            Path o = m.resolve(adv);
            String[] kl = adv.equals("grpo") ? new String[] {"--beta", "0.05", "--kl-in", "loss"}
                    : new String[] {"--beta", "0.05", "--kl-in", "reward"};
            out.add(new Method(adv, adv.equals("grpo") ? "GRPO, 4 per prompt, k3 KL in the loss"
                    : "RLOO, 4 per prompt, KL in the reward", new LabRecipe.Stage(adv, o, true,
                    LabRecipe.concat(LabRecipe.concat(new String[] {"grpo", "--policy", sft, "--reward-model", rm,
                        "--normalize-reward", "--prompts", prompts.toString(), "--out", o.toString(), "--advantage",
                        adv, "--num-generations", "4", "--per-device-train-batch-size", "16",
                        "--max-completion-length", "48", "--learning-rate", GRPO_LR, "--missing-eos-penalty", "1.0"},
                        kl), rl)), 0, 4 + 1 + 1, 64));
        }
        for (int n : new int[] {4, 16}) {
            out.add(new Method("best-of-" + n, "best of " + n + " SFT samples by the reward model (at inference)", null,
                    n, 1 + 1, 0));
        }
        return out;
    }

    /** The methods to run: those of {@code --only}, or all. */
    List<Method> methods() {
        return allMethods().stream().filter(x -> only.isEmpty() || only.contains(x.name())).toList();
    }

    /**
     * The methods to evaluate: those run now, and those of earlier runs in this directory (a finished stage, or a
     * best-of-n in the last evaluation), so that adding a method with {@code --resume --only} keeps the others in the
     * table.
     */
    private List<Method> evaluated() throws IOException {
        Path previous = dir.resolve("evaluation.json");
        JsonNode before = Files.isRegularFile(previous) ? JSON.readTree(previous.toFile()) : JSON.createObjectNode();
        List<Method> out = new ArrayList<>();
        for (Method m : allMethods()) {
            boolean selected = only.isEmpty() || only.contains(m.name());
            boolean earlier = m.stage() != null ? ClaimsSeed.finished(m.stage().dir()) : before.has(m.name());
            if (selected || earlier) {
                out.add(m);
            }
        }
        return out;
    }

    /**
     * The DPO settings that served best in a sweep on the demo's world (β 0.1 … 1, learning rates 5e-5 … 5e-4,
     * batch 8): TRL's β of 0.1 lets this small model drift far from SFT (KL 7–87 nats) for little gold; IPO's β is on
     * another scale (its loss is (h − 1/(2β))² on per-token mean log-probs).
     */
    static final String DPO_BETA = "0.5";
    static final String IPO_BETA = "2.0";
    static final String DPO_LR = "1e-4";
    static final String ONLINE_DPO_BETA = "0.1";
    static final String ONLINE_DPO_LR = "1e-4";
    static final String GRPO_LR = "1e-4";

    private long evalSeed() {
        return seed * 7919 + 17;
    }

    /** Runs what is not done yet and returns every method's evaluation, the SFT model's first. */
    Map<String, ObjectNode> run() throws IOException {
        Files.createDirectories(dir);
        for (LabRecipe.Stage st : LabRecipe.setup(d, seed, z.pairs(), 0, z.evalPrompts(), z.quick())) {
            stage(st, null);
        }
        List<String> evalPrompts = new ArrayList<>();
        for (Prompt p : PromptReader.read(d.lab().resolve("prompts-eval.jsonl"), null)) {
            if (evalPrompts.size() < z.evalPrompts()) {
                evalPrompts.add(p.text());
            }
        }
        Map<String, ObjectNode> costs = new LinkedHashMap<>();
        for (Method m : methods()) {
            if (m.stage() != null) {
                costs.put(m.name(), stage(m.stage(), m));
            }
        }
        Map<String, ObjectNode> results = evaluate(evalPrompts, costs);
        // every figure of this seed, beside its runs (the report gathers the seeds)
        ObjectNode all = JSON.createObjectNode();
        results.forEach(all::set);
        ClaimsSeed.writeAtomically(dir.resolve("evaluation.json"), ClaimsSeed.json(all));
        for (Map.Entry<String, ObjectNode> e : results.entrySet()) {
            err.printf("seed %d %-12s gold %.3f  KL %.3f  win %.1f%%%n", seed, e.getKey(),
                    e.getValue().path("gold").asDouble(), e.getValue().path("kl_to_sft").asDouble(),
                    100 * e.getValue().path("win_rate_vs_sft").asDouble());
        }
        err.flush();
        return results;
    }

    /**
     * Runs a stage unless its directory holds a finished run, and returns what it cost (seconds, peak heap after
     * collections), kept in {@code cost.json} beside its outputs so that a resumed comparison reports the run that
     * made them.
     */
    private ObjectNode stage(LabRecipe.Stage st, Method m) throws IOException {
        Path costFile = st.dir().resolve("cost.json");
        if (ClaimsSeed.finished(st.dir())) {
            err.printf("== %s (seed %d): kept, finished in %s%n", st.name(), seed, st.dir());
            err.flush();
            return Files.isRegularFile(costFile) ? (ObjectNode) JSON.readTree(costFile.toFile())
                    : JSON.createObjectNode();
        }
        List<String> a = new ArrayList<>(List.of(st.args()));
        if (resume && Files.isDirectory(st.dir())) {
            a.add(st.resumable() ? "--resume" : "--overwrite");
        }
        err.printf("%n== %s (seed %d): rlhf4j %s%n", st.name(), seed, String.join(" ", a));
        err.flush();
        HeapPeak peak = HeapPeak.start();
        long t = System.nanoTime();
        int code = Main.run(new PrintWriter(new StringWriter(), true), err, a.toArray(String[]::new));
        double seconds = (System.nanoTime() - t) / 1e9;
        long peakBytes = peak.stop();
        if (code != 0) {
            throw new UserStateError("compare-methods: stage '" + st.name() + "' of seed " + seed + " failed (exit "
                    + "code " + code + "); see above; rerun with --resume to continue from it");
        }
        ObjectNode cost = JSON.createObjectNode();
        cost.put("seconds", seconds);
        cost.put("peak_heap_mib", peakBytes / (1024.0 * 1024.0));
        if (m != null) {
            ClaimsSeed.writeAtomically(costFile, ClaimsSeed.json(cost));
        }
        return cost;
    }

    /** Every policy on the same held-out prompts, sampled with the same seed. */
    private Map<String, ObjectNode> evaluate(List<String> prompts, Map<String, ObjectNode> costs) throws IOException {
        LabWorld world = new LabWorld(seed);
        Pretrained sft = Pretrained.open(d.sft(), null);
        Tokenizer tok = sft.requireTokenizer();
        Transformer reference = sft.model().frozenCopy();
        Pretrained rmPm = Pretrained.open(d.rewardModel(), null);
        RewardModelReward rm = new RewardModelReward(rmPm.model(), rmPm.requireTokenizer(), tok,
                RewardStats.read(d.rewardModel()).orElse(null), 0, 64);
        long params = sft.model().parameterCount();
        List<Prompt> promptList = prompts.stream().map(Prompt::plain).toList();
        Map<String, ObjectNode> out = new LinkedHashMap<>();
        err.printf("%n== evaluation of seed %d on %d held-out prompts%n", seed, prompts.size());
        err.flush();
        LabEvaluation.Result sftResult = LabEvaluation.evaluate("sft", sft.model(), reference, tok, world, rm,
                prompts, 48, evalSeed(), sft.eosIds(), 64);
        out.put("sft", result(sftResult, sftResult, null, JSON.createObjectNode(), Double.NaN, params, 0));
        for (Method m : evaluated()) {
            LabEvaluation.Result r;
            double klBound = Double.NaN;
            long generated;
            ObjectNode cost = costs.get(m.name());
            if (cost == null && m.stage() != null) {
                Path costFile = m.stage().dir().resolve("cost.json");
                cost = Files.isRegularFile(costFile) ? (ObjectNode) JSON.readTree(costFile.toFile())
                        : JSON.createObjectNode();
            }
            if (m.bestOfN() > 0) {
                // at inference: n samples per held-out prompt from the SFT model, the reward model's best kept
                HeapPeak peak = HeapPeak.start();
                long t = System.nanoTime();
                BestOfN.Result b = BestOfN.select(sft.model(), tok, rm, promptList, m.bestOfN(), 48, 1f, evalSeed(),
                        sft.eosIds(), 64);
                cost = JSON.createObjectNode();
                cost.put("seconds", (System.nanoTime() - t) / 1e9);
                cost.put("peak_heap_mib", peak.stop() / (1024.0 * 1024.0));
                List<Episode> picked = new ArrayList<>();
                for (BestOfN.Choice c : b.choices()) {
                    picked.add(c.chosen());
                }
                r = LabEvaluation.ofResponses(m.name(), picked, world, rm);
                // the KL of best-of-n to the model it samples from is at most log n − (n − 1)/n (Stiennon et al.
                // 2020, appendix G.3; Beirami et al. 2024 show it is an upper bound)
                klBound = Math.log(m.bestOfN()) - (m.bestOfN() - 1.0) / m.bestOfN();
                generated = b.generatedTokens();
            } else {
                r = LabEvaluation.evaluate(m.name(), Pretrained.open(m.stage().dir(), null).model(), reference, tok,
                        world, rm, prompts, 48, evalSeed(), sft.eosIds(), 64);
                generated = generatedTokens(m.stage().dir(), m.responsesPerStep());
            }
            out.put(m.name(), result(r, sftResult, m, cost, klBound, params, generated));
        }
        return out;
    }

    /**
     * Response tokens a method generated while training: the mean response length of each step's metrics record
     * ({@code response_length} for PPO and online DPO, {@code completions/mean_length} for GRPO and RLOO) times the
     * responses of a step; 0 for offline DPO.
     */
    static long generatedTokens(Path run, int responsesPerStep) throws IOException {
        Path metrics = run.resolve("metrics.jsonl");
        if (responsesPerStep == 0 || !Files.isRegularFile(metrics)) {
            return 0;
        }
        double[] total = {0};
        JsonlReader.read(metrics, (node, where) -> {
            JsonNode length = node.has("completions/mean_length") ? node.get("completions/mean_length")
                    : node.get("response_length");
            if (length != null && node.has("step")) {
                total[0] += length.asDouble() * responsesPerStep;
            }
        });
        return Math.round(total[0]);
    }

    private ObjectNode result(LabEvaluation.Result r, LabEvaluation.Result sft, Method m, ObjectNode cost,
                              double klBound, long params, long generated) {
        ObjectNode o = JSON.createObjectNode();
        o.put("description", m == null ? "the SFT model every method starts from" : m.description());
        o.put("gold", r.gold().mean());
        o.put("gold_std", r.gold().std());
        ObjectNode parts = o.putObject("gold_parts");
        r.parts().forEach((k, v) -> parts.put(k, v.mean()));
        o.put("reward_model", r.rewardModel().mean());
        o.put("kl_to_sft", Double.isNaN(klBound) ? r.klToReference().mean() : klBound);
        o.put("kl_is_bound", !Double.isNaN(klBound));
        o.put("win_rate_vs_sft", LabEvaluation.winRate(r, sft));
        o.put("response_tokens", r.responseTokens());
        o.put("eos_rate", r.eosRate());
        o.put("seconds", cost.path("seconds").asDouble(0));
        o.put("peak_heap_mib", cost.path("peak_heap_mib").asDouble(Double.NaN));
        o.put("model_state_mib", (m == null ? 1 : m.modelStates()) * params * 4 / (1024.0 * 1024.0));
        o.put("generated_tokens", generated);
        o.put("prompts", r.goldPerPrompt().length);
        return o;
    }
}
