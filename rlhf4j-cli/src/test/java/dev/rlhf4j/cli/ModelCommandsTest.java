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

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** generate, tokenize, info and convert on the real checkpoints of ../shared/data (skipped where absent). */
class ModelCommandsTest {
    private static final String STORIES = "models/stories260K/stories260K.bin";
    private static final String GGUF = "models/gguf-llama-2-tiny-random/llama-2-tiny-random.gguf";
    private static final String FAKE_GPT2 = "models/hf-fake-gpt2";
    private static final String TOY_GPT2 = "models/hf-toy-gpt2";

    private StringWriter out = new StringWriter(), err = new StringWriter();

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    @Test
    void stories260KWritesFluentEnglishFromOnceUponATime() {
        Path model = SharedData.require(STORIES);
        assertEquals(0, run("generate", "--model", model.toString(), "--prompt", "Once upon a time", "--temperature",
                "0", "--max-new-tokens", "40"), err.toString());
        String text = out.toString();
        // greedy decoding of this checkpoint; the continuation is a TinyStories-style sentence
        assertTrue(text.startsWith(", there was a little girl named Lily."), text);
    }

    @Test
    void tokenizePrintsTheKnownGpt2Ids() {
        Path model = SharedData.require(FAKE_GPT2);
        assertEquals(0, run("tokenize", "--model", model.toString(), "--text", "Hello, world! Once upon a time"),
                err.toString());
        assertEquals("15496 11 995 0 4874 2402 257 640", out.toString().trim());
        assertEquals(0, run("tokenize", "--tokenizer", model.toString(), "--text", "Hello", "--json"));
        assertTrue(out.toString().contains("\"tokens\":[\"Hello\"]"), out.toString());
    }

    @Test
    void infoDescribesEveryCheckpointKind() throws Exception {
        ObjectMapper json = new ObjectMapper();
        for (String rel : new String[] {STORIES, GGUF, FAKE_GPT2, TOY_GPT2}) {
            Path model = SharedData.require(rel);
            assertEquals(0, run("info", "--model", model.toString(), "--json"), rel + ": " + err);
            JsonNode info = json.readTree(out.toString());
            assertTrue(info.get("parameters").asLong() > 0, rel);
            assertFalse(info.get("tokenizer").asText().equals("none found"), rel + " has a tokenizer");
        }
        run("info", "--model", SharedData.require(STORIES).toString(), "--json");
        JsonNode stories = json.readTree(out.toString());
        assertEquals(260032, stories.get("parameters").asLong());
        assertEquals("interleaved", stories.get("rope_style").asText());
    }

    @Test
    void everyCheckpointGeneratesAndConvertsToAnHfDirectoryThatGeneratesTheSame(@TempDir Path tmp) throws Exception {
        ObjectMapper json = new ObjectMapper();
        for (String rel : new String[] {STORIES, GGUF, FAKE_GPT2, TOY_GPT2}) {
            Path model = SharedData.require(rel);
            assertEquals(0, run("generate", "--model", model.toString(), "--prompt", "Hello", "--temperature", "0",
                    "--max-new-tokens", "8", "--json"), rel + ": " + err);
            JsonNode before = json.readTree(out.toString());
            Path dir = tmp.resolve(model.getFileName().toString());
            assertEquals(0, run("convert", "--model", model.toString(), "--out", dir.toString()), rel + ": " + err);
            for (String f : new String[] {"config.json", "model.safetensors", "generation_config.json",
                    "tokenizer.json"}) {
                assertTrue(Files.exists(dir.resolve(f)), rel + " wrote " + f);
            }
            assertEquals(0, run("generate", "--model", dir.toString(), "--prompt", "Hello", "--temperature", "0",
                    "--max-new-tokens", "8", "--json"), rel + " converted: " + err);
            JsonNode after = json.readTree(out.toString());
            assertEquals(before.get("tokens"), after.get("tokens"), rel + ": the converted model continues alike");
        }
    }

    @Test
    void promptsFileAndChatTemplate(@TempDir Path tmp) throws Exception {
        Path model = SharedData.require(STORIES);
        Path prompts = tmp.resolve("p.jsonl");
        Files.writeString(prompts, "{\"prompt\": \"Once upon a time\"}\n\n"
                + "{\"messages\": [{\"role\": \"user\", \"content\": \"Tell me a story\"}]}\n");
        assertEquals(0, run("generate", "--model", model.toString(), "--prompts", prompts.toString(),
                "--max-new-tokens", "5", "--json", "--seed", "4"), err.toString());
        String[] lines = out.toString().trim().split("\n");
        assertEquals(2, lines.length);
        JsonNode second = new ObjectMapper().readTree(lines[1]);
        assertEquals("user", second.get("messages").get(0).get("role").asText());
        assertEquals(5, second.get("tokens").size());
    }

    @Test
    void badInputGivesOneLineNamingTheFile(@TempDir Path tmp) throws Exception {
        assertEquals(1, run("info", "--model", tmp.resolve("missing.gguf").toString()));
        assertTrue(err.toString().contains("missing.gguf"), err.toString());
        Path bad = tmp.resolve("bad.gguf");
        Files.write(bad, new byte[] {'G', 'G', 'U', 'F', 9, 0, 0, 0});
        assertEquals(1, run("info", "--model", bad.toString()));
        assertTrue(err.toString().startsWith("rlhf4j: ") && err.toString().contains("bad.gguf"), err.toString());
        assertEquals(1, err.toString().trim().lines().count());
        Path stories = SharedData.require(STORIES);
        Path gpt2 = SharedData.require(FAKE_GPT2);
        assertEquals(1, run("generate", "--model", stories.toString(), "--tokenizer", gpt2.toString(), "--prompt",
                "x"));
        assertTrue(err.toString().contains("do not belong together"), err.toString());
        Path prompts = tmp.resolve("p.jsonl");
        Files.writeString(prompts, "{\"prompt\": \"a\"}\n{oops\n");
        assertEquals(1, run("generate", "--model", stories.toString(), "--prompts", prompts.toString()));
        assertTrue(err.toString().contains("p.jsonl:2"), err.toString());
    }
}
