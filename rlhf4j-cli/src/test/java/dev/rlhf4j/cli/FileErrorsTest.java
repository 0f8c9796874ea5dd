package dev.rlhf4j.cli;

import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.tensor.SharedData;
import dev.rlhf4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Damaged data and model files through the command line: each is one line on stderr starting {@code rlhf4j: } that
 * names the file and the line, tensor or field, and exit code 1.
 */
class FileErrorsTest {
    private static final String STORIES = "models/stories260K/stories260K.bin";

    @TempDir
    Path tmp;

    private StringWriter out = new StringWriter(), err = new StringWriter();

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    /**
     * Runs a command that must fail and returns its error: one line starting {@code rlhf4j: }, the last on stderr
     * (a training command may have printed what it loaded before), with no stack trace.
     */
    private String fails(String... args) {
        assertEquals(1, run(args), err.toString());
        String all = err.toString().strip();
        assertEquals(1, all.lines().filter(l -> l.startsWith("rlhf4j: ")).count(), all);
        assertFalse(all.contains("\tat "), all);
        String e = all.lines().toList().getLast();
        assertTrue(e.startsWith("rlhf4j: "), all);
        return e;
    }

    private Path latin1(String name, String content) throws IOException {
        return Files.write(tmp.resolve(name), content.getBytes(StandardCharsets.ISO_8859_1));
    }

    @Test
    void generateAndPpoReadPromptsAlike() throws IOException {
        Path model = SharedData.require(STORIES);
        Path bom = Files.writeString(tmp.resolve("bom.jsonl"), "\uFEFF{\"prompt\": \"Once upon a time\"}\n");
        assertEquals(0, run("generate", "--model", model.toString(), "--prompts", bom.toString(), "--max-new-tokens",
                "3"), err.toString());

        Path bad = latin1("bad.jsonl", "{\"prompt\": \"Once\"}\n{\"prompt\": \"caf\u00e9\"}\n");
        String expected = "rlhf4j: " + bad + ":2: not valid UTF-8 (byte 0xE9 at byte 16 of the line)";
        assertEquals(expected, fails("generate", "--model", model.toString(), "--prompts", bad.toString()));
        Path ppoOut = tmp.resolve("ppo");
        assertEquals(expected, fails("ppo", "--policy", model.toString(), "--reward", "lab", "--prompts",
                bad.toString(), "--out", ppoOut.toString()));
        assertFalse(Files.exists(ppoOut.resolve("metrics.jsonl")), "no training on replaced bytes");

        Path trailing = Files.writeString(tmp.resolve("trailing.jsonl"),
                "{\"prompt\": \"Once\"} {\"prompt\": \"x\"}\n");
        assertEquals("rlhf4j: " + trailing + ":1: not valid JSON (more after the first value, at column 20)",
                fails("generate", "--model", model.toString(), "--prompts", trailing.toString()));

        Path conversation = Files.writeString(tmp.resolve("chat.jsonl"),
                "{\"prompt\": [{\"role\": \"user\", \"content\": \"Tell me a story\"}]}\n");
        assertEquals(0, run("generate", "--model", model.toString(), "--prompts", conversation.toString(),
                "--max-new-tokens", "3"), "generate reads ppo's {\"prompt\": [messages]} too: " + err);
    }

    @Test
    void aPromptTooLongForTheModelIsNamedByFileAndLine() throws IOException {
        Path model = SharedData.require(STORIES);
        Path prompts = Files.writeString(tmp.resolve("long.jsonl"), "{\"prompt\": \"Once upon a time\"}\n\n"
                + "{\"prompt\": \"" + "Once upon a time there was a dog. ".repeat(60) + "\"}\n");
        String e = fails("generate", "--model", model.toString(), "--prompts", prompts.toString());
        assertTrue(e.startsWith("rlhf4j: " + prompts + ":3: the prompt is "), e);
        assertTrue(e.contains(" tokens; with --max-new-tokens 128 it needs ") && e.contains("more than the model's "
                + "maximum sequence length of 512 (prompts of at most 384 tokens fit)"), e);
        String ppo = fails("ppo", "--policy", model.toString(), "--reward", "lab", "--prompts", prompts.toString(),
                "--out", tmp.resolve("ppo").toString());
        assertTrue(ppo.startsWith("rlhf4j: " + prompts + ":3: the prompt is ") && ppo.contains("with "
                + "response_length 53 it needs "), ppo);
    }

    @Test
    void scoreAndSimulatePreferencesReadTheSameWay() throws IOException {
        Path data = Files.writeString(tmp.resolve("r.jsonl"), "\uFEFF{\"prompt\": \"Hi\", \"response\": \"Hello\"}x\n");
        assertEquals("rlhf4j: " + data + ":1: not valid JSON (more after the first value, at column 38)",
                fails("lab", "score", "--data", data.toString()));
        Path text = latin1("stories.txt", "Once upon a time. There was a cat.\n\nA caf\u00e9. It was open.\n");
        Path model = SharedData.require(STORIES);
        assertEquals("rlhf4j: " + text + ":3: not valid UTF-8 (byte 0xE9 at byte 6 of the line)",
                fails("simulate-preferences", "--model", model.toString(), "--prompts", text.toString(), "--out",
                        tmp.resolve("prefs").toString()));
    }

    @Test
    void identicalPairsAreCountedAsSuch() throws IOException {
        Path model = SharedData.require(STORIES);
        Path prefs = Files.writeString(tmp.resolve("p.jsonl"), """
                {"prompt": "Once upon a time", "chosen": " there was a cat.", "rejected": " there was a dog."}
                {"prompt": "Once upon a time", "chosen": " the sun was out.", "rejected": " the sun was out."}
                {"prompt": "One day", "chosen": " Tom was happy.", "rejected": " Tom was sad."}
                {"prompt": "One day", "chosen": " Lily ran.", "rejected": " Lily sat."}
                """);
        assertEquals(0, run("reward", "train", "--model", model.toString(), "--data", prefs.toString(), "--out",
                tmp.resolve("rm").toString(), "--max-steps", "1", "--per-device-train-batch-size", "2"),
                err.toString());
        assertTrue(err.toString().contains("0 truncated to max_length 512, 1 dropped as identical (chosen == "
                + "rejected)"), err.toString());
    }

    @Test
    void damagedModelsAreNamedAtLoad() throws IOException {
        Transformer m = Transformer.create(ModelConfig.gpt2(16, 8, 1, 2, 8), OutputHeads.LM, 1);
        Tensor wte = m.params().get("wte");
        wte.data()[wte.offset() + 3 * 8 + 1] = Float.POSITIVE_INFINITY;
        Path dir = tmp.resolve("inf");
        HfCheckpoint.save(m, dir, HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
        assertEquals("rlhf4j: " + dir.resolve("model.safetensors") + ": tensor 'transformer.wte.weight' [16, 8] holds "
                + "+Infinity at [3, 1] (element 25 of 128); the weights are damaged (a diverged run or a broken "
                + "conversion) and are not loaded", fails("info", "--model", dir.toString()));

        Path fractional = tmp.resolve("fractional");
        HfCheckpoint.save(Transformer.create(ModelConfig.gpt2(16, 8, 1, 2, 8), OutputHeads.LM, 1), fractional,
                HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
        Path config = fractional.resolve("config.json");
        Files.writeString(config, Files.readString(config).replace("\"n_embd\" : 8", "\"n_embd\" : 7.5"));
        assertEquals("rlhf4j: " + config + ": \"n_embd\" must be an integer, got 7.5",
                fails("info", "--model", fractional.toString()));

        // Llama-2-70B's configuration: refused at once, before any weight is read or allocated
        Path huge = tmp.resolve("huge");
        Files.createDirectories(huge);
        Files.writeString(huge.resolve("config.json"), "{\"model_type\": \"llama\", \"hidden_size\": 8192, "
                + "\"num_hidden_layers\": 80, \"num_attention_heads\": 64, \"num_key_value_heads\": 8, "
                + "\"intermediate_size\": 28672, \"vocab_size\": 32000}");
        Safetensors.write(huge.resolve("model.safetensors"), java.util.Map.of(), Safetensors.DType.F32,
                java.util.Map.of());
        String e = fails("info", "--model", huge.toString());
        assertTrue(e.startsWith("rlhf4j: " + huge + ": not enough memory: the weights of a model of 68,976,648,192 "
                + "parameters need 257.0 GiB, but only "), e);
        assertTrue(e.contains("RLHF4J_JAVA_OPTS=-Xmx"), e);
    }

    @Test
    void aDamagedCheckpointStateIsNamedOnResume() throws IOException {
        Path model = SharedData.require(STORIES);
        Path data = Files.writeString(tmp.resolve("d.jsonl"), "{\"text\": \"Once upon a time there was a cat.\"}\n"
                .repeat(8));
        Path run = tmp.resolve("run");
        String[] args = {"sft", "--model", model.toString(), "--data", data.toString(), "--out", run.toString(),
                "--save-steps", "1", "--per-device-train-batch-size", "2"};
        assertEquals(0, run(concat(args, "--max-steps", "2")), err.toString());
        Path state = run.resolve("checkpoint-2/trainer_state.json");
        Files.writeString(state, "{\"global_step\": 2, \"epo");
        String e = fails(concat(args, "--max-steps", "3", "--resume"));
        assertTrue(e.startsWith("rlhf4j: " + state + ": damaged checkpoint state: not valid JSON ("), e);
    }

    private static String[] concat(String[] a, String... b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
