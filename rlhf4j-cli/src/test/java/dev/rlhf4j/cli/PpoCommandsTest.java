package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.tensor.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The demo pipeline (quick) and {@code ppo} through the command line. */
class PpoCommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private StringWriter out = new StringWriter(), err = new StringWriter();

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    @Test
    void quickDemoRunsTheWholeRecipeAndPpoRunsOnItsModels(@TempDir Path tmp) throws Exception {
        Path demo = tmp.resolve("demo");
        assertEquals(0, run("demo", "--quick", "--out", demo.toString()), err.toString());
        JsonNode s = JSON.readTree(demo.resolve("summary.json").toFile());
        for (String p : List.of("base", "sft", "rlhf")) {
            JsonNode pol = s.get("policies").get(p);
            assertTrue(pol.get("gold").has("mean") && pol.get("gold").has("std"), p);
            for (String part : List.of("correctness", "helpfulness", "harmlessness", "concision", "politeness")) {
                assertTrue(pol.get("gold_parts").has(part), p + " " + part);
            }
            assertTrue(pol.get("reward_model").get("mean").isNumber());
            assertTrue(pol.get("kl_to_sft").get("mean").isNumber());
        }
        assertEquals(0, s.get("policies").get("sft").get("kl_to_sft").get("mean").asDouble(), 1e-9,
                "the SFT model's KL to itself");
        double win = s.get("win_rate_rlhf_vs_sft").asDouble();
        assertTrue(win >= 0 && win <= 1);
        assertTrue(out.toString().contains("win rate of RLHF over SFT"), out.toString());
        assertTrue(out.toString().contains("training curves: " + demo.resolve("report.html")), out.toString());
        String report = Files.readString(demo.resolve("report.html"));
        for (String stage : List.of("\"base\"", "\"sft\"", "\"reward-model\"", "\"rlhf\"", "objective/kl",
                "\"accuracy\"")) {
            assertTrue(report.contains(stage), stage);
        }
        for (String f : List.of("rlhf/model.safetensors", "rlhf/config.json", "rlhf/tokenizer.json",
                "rlhf/critic/model.safetensors", "rlhf/metrics.jsonl", "rlhf/samples.jsonl", "eval/rlhf.jsonl",
                "eval/base.jsonl", "reward-model/model.safetensors", "sft/model.safetensors")) {
            assertTrue(Files.exists(demo.resolve(f)), f);
        }

        // ppo on the demo's SFT model against the gold reward, from a config file, then resumed
        Path cfg = tmp.resolve("ppo.yaml");
        Files.writeString(cfg, "learning_rate: 1.0e-4\nper_device_train_batch_size: 8\nnum_mini_batches: 2\n"
                + "num_ppo_epochs: 2\nresponse_length: 24\nmax_steps: 2\nsave_steps: 1\nkl_estimator: k3\n");
        Path ppo = tmp.resolve("ppo");
        String[] args = {"ppo", "--config", cfg.toString(), "--policy", demo.resolve("sft").toString(), "--reward",
                "lab", "--prompts", demo.resolve("lab/prompts.jsonl").toString(), "--out", ppo.toString()};
        assertEquals(0, run(args), err.toString());
        List<String> lines = Files.readAllLines(ppo.resolve("metrics.jsonl"));
        assertEquals(2, lines.size());
        assertEquals(1.0e-4, JSON.readTree(lines.get(0)).get("lr").asDouble(), 1e-12, "linear decay from the peak");
        JsonNode m = JSON.readTree(lines.get(1));
        assertEquals(0.5e-4, m.get("lr").asDouble(), 1e-12, "half-way down at step 2 of 2");
        assertEquals(32, m.get("episode").asInt(), "16 episodes per step");
        assertTrue(Files.exists(ppo.resolve("critic/config.json")));
        String[] more = concat(args, "--max-steps", "3", "--resume");
        assertEquals(0, run(more), err.toString());
        assertTrue(err.toString().contains("resuming from"), err.toString());
        assertEquals(3, Files.readAllLines(ppo.resolve("metrics.jsonl")).size());

        // --ref-model: the KL penalty is taken to another model (later rounds of `loop` keep the SFT model);
        // from the SFT policy's first samples the KL to itself is 0 and the KL to the base model is not
        double klSelf = JSON.readTree(lines.get(0)).get("objective/kl").asDouble();
        assertEquals(0, klSelf, 1e-6, "the policy's first samples against a reference equal to it");
        Path refRun = tmp.resolve("ppo-ref");
        assertEquals(0, run("ppo", "--config", cfg.toString(), "--policy", demo.resolve("sft").toString(),
                "--ref-model", demo.resolve("base").toString(), "--reward", "lab", "--max-steps", "1", "--prompts",
                demo.resolve("lab/prompts.jsonl").toString(), "--out", refRun.toString()), err.toString());
        double klBase = JSON.readTree(Files.readAllLines(refRun.resolve("metrics.jsonl")).get(0)).get("objective/kl")
                .asDouble();
        assertTrue(klBase > 0.5, "KL of the SFT model's samples to the base model: " + klBase);
        assertEquals(1, run("ppo", "--policy", demo.resolve("sft").toString(), "--ref-model",
                demo.resolve("reward-model").toString(), "--reward", "lab", "--prompts",
                demo.resolve("lab/prompts.jsonl").toString(), "--out", tmp.resolve("e").toString()));
        assertTrue(err.toString().contains("reward-model: the reference must be a language model"), err.toString());

        // errors: one line, exit 1 (2 for options that do not go together)
        assertEquals(2, run("ppo", "--policy", demo.resolve("sft").toString(), "--reward", "lab", "--reward-model",
                demo.resolve("reward-model").toString(), "--prompts", "x", "--out", tmp.resolve("e").toString()));
        assertTrue(err.toString().contains("exactly one of --reward-model"), err.toString());
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"prompt\": \"User: hi\\nAssistant:\"}\n{\"text\": \"no prompt\"}\n");
        assertEquals(1, run("ppo", "--policy", demo.resolve("sft").toString(), "--reward", "lab", "--prompts",
                bad.toString(), "--out", tmp.resolve("e").toString()));
        assertTrue(err.toString().contains("bad.jsonl:2: no \"prompt\""), err.toString());
        assertFalse(err.toString().contains("\tat "), "no stack trace");
        assertEquals(1, run("ppo", "--policy", demo.resolve("sft").toString(), "--reward", "lab:x", "--prompts",
                bad.toString(), "--out", tmp.resolve("e").toString()));
        assertTrue(err.toString().contains("lab:SEED"), err.toString());
    }

    @Test
    void ppoOnStories260KAgainstAHappyEndingsRewardModelRunsEndToEnd(@TempDir Path tmp) throws Exception {
        Path model = SharedData.require("models/stories260K/stories260K.bin");
        Path text = SharedData.require("text/tinystories-valid-sample.txt");
        Path prefs = tmp.resolve("happy"), rm = tmp.resolve("rm"), ppo = tmp.resolve("ppo");
        assertEquals(0, run("simulate-preferences", "--model", model.toString(), "--prompts", text.toString(),
                "--out", prefs.toString(), "--pairs", "128", "--eval-pairs", "48", "--max-new-tokens", "32"),
                err.toString());
        JsonNode judge = JSON.readTree(prefs.resolve("judge.json").toFile());
        assertTrue(judge.get("best_accuracy_eval").asDouble() > 0.5);
        assertEquals(0, run("reward", "train", "--model", model.toString(), "--data",
                prefs.resolve("preferences.jsonl").toString(), "--eval-data",
                prefs.resolve("preferences-eval.jsonl").toString(), "--out", rm.toString(), "--num-train-epochs", "1",
                "--per-device-train-batch-size", "16", "--learning-rate", "1e-3", "--max-length", "96",
                "--save-steps", "0"), err.toString());
        assertEquals(0, run("ppo", "--policy", model.toString(), "--reward-model", rm.toString(), "--prompts",
                prefs.resolve("prompts.jsonl").toString(), "--out", ppo.toString(), "--max-steps", "2",
                "--per-device-train-batch-size", "8", "--num-ppo-epochs", "2", "--response-length", "24",
                "--learning-rate", "1e-4", "--normalize-reward"), err.toString());
        List<String> lines = Files.readAllLines(ppo.resolve("metrics.jsonl"));
        assertEquals(2, lines.size());
        assertTrue(JSON.readTree(lines.get(1)).get("objective/kl").asDouble() != 0, "the policy moved");
        assertTrue(Files.exists(ppo.resolve("model.safetensors")) && Files.exists(ppo.resolve("tokenizer.json")));
        // the trained policy loads and generates again
        assertEquals(0, run("generate", "--model", ppo.toString(), "--prompt", "Once upon a time",
                "--max-new-tokens", "8"), err.toString());
        assertFalse(out.toString().isBlank());
    }

    @Test
    void helpDocumentsEveryHyperParameterWithItsDefault() {
        assertEquals(0, run("ppo", "--help"));
        String h = out.toString();
        for (String s : List.of("--kl-coef", "(default: 0.05)", "--cliprange-value", "--vf-coef", "(default: 0.1)",
                "--num-ppo-epochs", "(default: 4)", "--lam", "(default: 0.95)", "--adaptive-kl-target",
                "--missing-eos-penalty", "--ptx-coef", "--whiten-rewards", "--kl-estimator", "--target-kl")) {
            assertTrue(h.contains(s), "ppo --help lacks " + s);
        }
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = new String[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
