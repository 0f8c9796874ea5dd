package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.TokenBatch;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.io.ModelLoader;
import dev.rlhf4j.train.lab.LabData;
import dev.rlhf4j.train.lab.LabWorld;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.rlhf4j.tensor.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --lora-r} through every trainer on the tiny lab world of {@link TinyRun}: what is written (the merged model,
 * and the adapter in PEFT's layout under {@code adapter/}), that the base never changes, exact resume, PPO's three
 * critics, {@code convert --merge-lora}, and the options' errors.
 */
class LoraCommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path shared;
    private static TinyRun tiny;
    private static Path policy;
    private StringWriter out = new StringWriter(), err = new StringWriter();

    @BeforeAll
    static void tinyPolicy() throws Exception {
        tiny = TinyRun.create(shared);
        policy = tiny.policy();
    }

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    private static String[] with(String[] args, String... extra) {
        List<String> a = new ArrayList<>(Arrays.asList(args));
        a.addAll(List.of(extra));
        return a.toArray(String[]::new);
    }

    private static float[] logits(Path model) throws Exception {
        Transformer m = ModelLoader.load(model).model();
        int[] tokens = {5, 17, 42, 9, 100, 3};
        m.forward(TokenBatch.of(tokens, 1, tokens.length));
        return m.logits().toArray();
    }

    /** SFT with LoRA (dropout on): the merged model and its PEFT adapter agree, and a resumed run is exact. */
    @Test
    void sftWritesTheMergedModelAndItsAdapterAndResumesExactly(@TempDir Path tmp) throws Exception {
        byte[] before = Files.readAllBytes(policy.resolve("model.safetensors"));
        String[] sft = {"sft", "--model", policy.toString(), "--data", tiny.sftData.toString(), "--max-length", "96",
                "--learning-rate", "1e-2", "--lora-r", "4", "--lora-dropout", "0.1", "--lora-target-modules",
                "q_proj,v_proj,down_proj", "--save-steps", "1", "--logging-steps", "1"};
        Path a = tmp.resolve("a");
        assertEquals(0, run(with(sft, "--out", a.toString(), "--max-steps", "2")), err.toString());
        // 2 layers × (q_proj 4·32 + 32·4, v_proj 4·32 + 16·4, down_proj 4·88 + 32·4) of a 140k-parameter model
        assertTrue(err.toString().contains("training 1,856 parameters"), "only the adapters are counted: " + err);
        JsonNode cfg = JSON.readTree(a.resolve("adapter/adapter_config.json").toFile());
        assertEquals(4, cfg.get("r").asInt());
        assertEquals(8, cfg.get("lora_alpha").asInt(), "alpha defaults to 2r");
        assertEquals("CAUSAL_LM", cfg.get("task_type").asText());
        assertEquals(policy.toAbsolutePath().toString(), cfg.get("base_model_name_or_path").asText());
        assertClose("merged model vs base + adapter", logits(a), logits(a.resolve("adapter")), 1e-5, 1e-5);
        assertFalse(Arrays.equals(logits(policy), logits(a)), "the adapter changed the model");
        assertArrayEquals(before, Files.readAllBytes(policy.resolve("model.safetensors")), "the base is untouched");

        Path b = tmp.resolve("b");
        assertEquals(0, run(with(sft, "--out", b.toString(), "--max-steps", "1")), err.toString());
        assertEquals(0, run(with(sft, "--out", b.toString(), "--max-steps", "2", "--resume")), err.toString());
        assertArrayEquals(Files.readAllBytes(a.resolve("adapter/adapter_model.safetensors")),
                Files.readAllBytes(b.resolve("adapter/adapter_model.safetensors")),
                "a resumed run draws the same dropout masks and ends bit-identical");
        String[] rank8 = sft.clone();
        rank8[Arrays.asList(sft).indexOf("--lora-r") + 1] = "8";
        assertEquals(1, run(with(rank8, "--out", b.toString(), "--max-steps", "3", "--resume")));
        assertTrue(err.toString().contains("lora_r"), err.toString());

        Path merged = tmp.resolve("merged");
        assertEquals(2, run("convert", "--model", a.resolve("adapter").toString(), "--out", merged.toString()));
        assertTrue(err.toString().contains("--merge-lora"), err.toString());
        assertEquals(0, run("convert", "--model", a.resolve("adapter").toString(), "--merge-lora", "--out",
                merged.toString()), err.toString());
        assertClose("convert --merge-lora", logits(a), logits(merged), 1e-5, 1e-5);
    }

    /** PPO with LoRA, each critic; the value head trains the policy's trunk and resumes exactly. */
    @Test
    void ppoRunsWithEachCriticAndResumesExactly(@TempDir Path tmp) throws Exception {
        for (String critic : List.of("separate", "shared", "value-head")) {
            Path o = tmp.resolve(critic);
            assertEquals(0, run(tiny.ppo(policy, o, "--max-steps", "2", "--save-steps", "1", "--lora-r", "4",
                    "--critic", critic)), critic + ": " + err);
            assertTrue(Files.exists(o.resolve("adapter/adapter_model.safetensors")), critic);
            assertEquals(!critic.equals("value-head"), Files.exists(o.resolve("critic/config.json")), critic);
            List<String> lines = Files.readAllLines(o.resolve("metrics.jsonl"));
            assertEquals(2, lines.size());
            JsonNode m = JSON.readTree(lines.get(1));
            assertTrue(Double.isFinite(m.get("loss/value_avg").asDouble()) && m.get("objective/kl").asDouble() != 0,
                    critic + " trains: " + m);
        }
        for (String critic : List.of("separate", "value-head")) {
            Path straight = tmp.resolve(critic);
            Path resumed = tmp.resolve("resumed-" + critic);
            assertEquals(0, run(tiny.ppo(policy, resumed, "--max-steps", "1", "--save-steps", "1", "--lora-r", "4",
                    "--critic", critic)), err.toString());
            assertEquals(0, run(tiny.ppo(policy, resumed, "--max-steps", "2", "--save-steps", "1", "--lora-r", "4",
                    "--critic", critic, "--resume")), err.toString());
            for (String f : critic.equals("separate") ? List.of("adapter", "critic/adapter") : List.of("adapter")) {
                assertArrayEquals(Files.readAllBytes(straight.resolve(f + "/adapter_model.safetensors")),
                        Files.readAllBytes(resumed.resolve(f + "/adapter_model.safetensors")), critic + " " + f);
            }
        }
        Path straight = tmp.resolve("value-head");
        JsonNode cfg = JSON.readTree(straight.resolve("adapter/adapter_config.json").toFile());
        assertEquals("score", cfg.get("modules_to_save").get(1).asText(), "the value head is kept with the adapter");
        // bf16 frozen weights: the reference, the reward (here the gold one) and the base under the adapters
        Path bf16 = tmp.resolve("bf16");
        assertEquals(0, run(tiny.ppo(policy, bf16, "--max-steps", "1", "--lora-r", "4", "--frozen-dtype", "bf16")),
                err.toString());
        assertTrue(Files.exists(bf16.resolve("adapter/adapter_model.safetensors")));
        assertTrue(Double.isFinite(JSON.readTree(Files.readAllLines(bf16.resolve("metrics.jsonl")).getFirst())
                .get("objective/kl").asDouble()));
        assertEquals(1, run(tiny.ppo(policy, tmp.resolve("q8"), "--frozen-dtype", "q8_0")));
        // full fine-tuning with a value head: one model, no critic directory
        Path full = tmp.resolve("full-value-head");
        assertEquals(0, run(tiny.ppo(policy, full, "--max-steps", "1", "--critic", "value-head")), err.toString());
        assertFalse(Files.exists(full.resolve("critic")));
        assertFalse(Files.exists(full.resolve("adapter")));
    }

    @Test
    void dpoAndGrpoAndOnlineDpoTrainAdapters(@TempDir Path tmp) throws Exception {
        List<String[]> demos = LabData.demonstrations(new LabWorld(0), 16, 3);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < demos.size(); i++) {
            sb.append(JSON.writeValueAsString(Map.of("prompt", demos.get(i)[0], "chosen", demos.get(i)[1],
                    "rejected", demos.get((i + 1) % demos.size())[1]))).append('\n');
        }
        Path prefs = tmp.resolve("prefs.jsonl");
        Files.writeString(prefs, sb.toString());
        Path dpo = tmp.resolve("dpo");
        assertEquals(0, run("dpo", "--model", policy.toString(), "--data", prefs.toString(), "--out", dpo.toString(),
                "--learning-rate", "1e-2", "--per-device-train-batch-size", "4", "--max-steps", "3", "--lora-r", "4"),
                err.toString());
        List<String> lines = Files.readAllLines(dpo.resolve("metrics.jsonl"));
        JsonNode first = JSON.readTree(lines.getFirst()), last = JSON.readTree(lines.getLast());
        assertEquals(Math.log(2), first.get("loss").asDouble(), 1e-4, "B = 0: the policy starts as its reference");
        assertTrue(Double.isFinite(last.get("loss").asDouble()) && last.get("rewards/chosen").asDouble() != 0,
                "the adapted policy moves away from its reference: " + lines);
        assertTrue(Files.exists(dpo.resolve("adapter/adapter_config.json")));

        Path grpo = tmp.resolve("grpo");
        assertEquals(0, run("grpo", "--policy", policy.toString(), "--prompts", tiny.prompts.toString(), "--out",
                grpo.toString(), "--per-device-train-batch-size", "2", "--num-generations", "3",
                "--max-completion-length", "8", "--learning-rate", "1e-2", "--reward", "lab", "--max-steps", "2",
                "--lora-r", "4"), err.toString());
        assertTrue(Files.exists(grpo.resolve("adapter/adapter_model.safetensors")));
        Path online = tmp.resolve("online");
        assertEquals(0, run("online-dpo", "--policy", policy.toString(), "--prompts", tiny.prompts.toString(),
                "--out", online.toString(), "--per-device-train-batch-size", "4", "--max-new-tokens", "8",
                "--reward", "lab", "--max-steps", "2", "--lora-r", "4"), err.toString());
        assertTrue(Files.exists(online.resolve("adapter/adapter_model.safetensors")));
    }

    @Test
    void badLoraOptionsAreRefusedBeforeAnythingIsRead(@TempDir Path tmp) {
        Path o = tmp.resolve("o");
        String[] sft = {"sft", "--model", policy.toString(), "--data", tiny.sftData.toString(), "--out",
                o.toString(), "--max-steps", "1"};
        assertEquals(1, run(with(sft, "--lora-alpha", "16")));
        assertTrue(err.toString().contains("need --lora-r"), err.toString());
        assertEquals(1, run(with(sft, "--lora-r", "-2")));
        assertTrue(err.toString().contains("--lora-r"), err.toString());
        assertEquals(1, run(with(sft, "--lora-r", "4", "--lora-target-modules", "c_attn")));
        assertTrue(err.toString().contains("'c_attn'") && err.toString().contains("q_proj"), err.toString());
        assertEquals(1, run(with(sft, "--lora-r", "4", "--lora-dropout", "1.5")));
        assertTrue(err.toString().contains("lora_dropout"), err.toString());
        assertEquals(2, run(tiny.ppo(policy, o, "--critic", "shared")));
        assertTrue(err.toString().contains("--lora-r"), err.toString());
        assertEquals(1, run(tiny.ppo(policy, o, "--critic", "twin")));
        assertEquals(1, run(tiny.ppo(policy, o, "--lora-r", "4", "--lora-dropout", "0.1")));
        assertTrue(err.toString().contains("without dropout"), err.toString());
        assertEquals(2, run(tiny.ppo(policy, o, "--critic", "value-head", "--value-model", policy.toString())));
        assertTrue(err.toString().contains("--value-model"), err.toString());
        assertEquals(2, run("pretrain", "--model", tiny.modelYaml.toString(), "--tokenizer", tiny.tokenizer.toString(),
                "--data", tiny.sftData.toString(), "--out", o.toString(), "--lora-r", "4"));
        assertTrue(err.toString().contains("trained in full"), err.toString());
        assertFalse(err.toString().contains("\tat "), "no stack trace: " + err);
        assertFalse(Files.exists(o.resolve("metrics.jsonl")));
        // a regular expression keeps its commas
        assertEquals(0, run(with(sft, "--lora-r", "2", "--lora-target-modules",
                "re:model\\.layers\\.\\d{1,3}\\.mlp\\.up_proj")), err.toString());
        // 2 layers × up_proj (A 2·32 + B 88·2)
        assertTrue(err.toString().contains("training 480 parameters"), err.toString());
    }
}
