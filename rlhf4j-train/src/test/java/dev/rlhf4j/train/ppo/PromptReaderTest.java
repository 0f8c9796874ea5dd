package dev.rlhf4j.train.ppo;

import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.model.chat.ChatTemplate.Message;
import dev.rlhf4j.model.tokenizer.BpeTrainer;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.Rope;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PromptReaderTest {
    private static final ChatTemplate CHATML = new ChatTemplate(ChatTemplate.CHATML, Map.of());

    @TempDir
    Path dir;

    private Path write(String name, String content) throws IOException {
        return Files.writeString(dir.resolve(name), content);
    }

    private String error(String name, String content) throws IOException {
        Path file = write(name, content);
        return assertThrows(IllegalArgumentException.class, () -> PromptReader.read(file, CHATML)).getMessage();
    }

    @Test
    void everyPromptFormatIsReadAndNamedByItsLine() throws IOException {
        Path file = write("p.jsonl", """
                {"prompt": "Once upon a time", "chosen": "ignored"}

                {"prompt": [{"role": "user", "content": "Hi"}]}
                {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "dropped"}]}
                {"prompt": null, "messages": [{"role": "user", "content": "Hi"}]}
                """);
        List<PromptReader.Record> records = PromptReader.records(file);
        assertEquals(new PromptReader.Record(file + ":1", "Once upon a time", null), records.get(0));
        List<Message> hi = List.of(new Message("user", "Hi"));
        assertEquals(new PromptReader.Record(file + ":3", null, hi), records.get(1));
        assertEquals(new PromptReader.Record(file + ":4", null, hi), records.get(2), "the response turn is dropped");
        assertEquals(new PromptReader.Record(file + ":5", null, hi), records.get(3));

        List<Prompt> prompts = PromptReader.read(file, CHATML);
        assertEquals(new Prompt("Once upon a time", false, file + ":1"), prompts.get(0));
        String rendered = CHATML.render(hi, true);
        assertEquals(new Prompt(rendered, true, file + ":3"), prompts.get(1));
        assertEquals(new Prompt(rendered, true, file + ":4"), prompts.get(2));
    }

    @Test
    void aByteOrderMarkAndGzipAreAccepted() throws IOException {
        Path gz = dir.resolve("p.jsonl.gz");
        try (OutputStream out = new GZIPOutputStream(Files.newOutputStream(gz))) {
            out.write("\uFEFF{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\n".getBytes(StandardCharsets.UTF_8));
        }
        assertEquals(List.of("a", "b"), PromptReader.read(gz, null).stream().map(Prompt::text).toList());
        assertEquals("a", PromptReader.read(write("bom.jsonl", "\uFEFF{\"prompt\": \"a\"}\n"), null).getFirst().text());
    }

    @Test
    void badBytesAreRefusedNotReplaced() throws IOException {
        // PPO must never train on a prompt whose bytes were replaced by U+FFFD
        Path file = dir.resolve("latin1.jsonl");
        Files.write(file, "{\"prompt\": \"ok\"}\n{\"prompt\": \"caf\u00e9\"}\n".getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(file + ":2: not valid UTF-8 (byte 0xE9 at byte 16 of the line)",
                assertThrows(IllegalArgumentException.class, () -> PromptReader.read(file, null)).getMessage());
    }

    @Test
    void malformedRecordsNameFileAndLine() throws IOException {
        String at = dir.resolve("p.jsonl") + ":";
        assertEquals(at + "2: not valid JSON (more after the first value, at column 17)",
                error("p.jsonl", "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"} trailing\n"));
        assertEquals(at + "1: no \"prompt\" (or \"messages\") field", error("p.jsonl", "{\"text\": \"a\"}\n"));
        assertEquals(at + "1: a prompt record must be a JSON object, not a list", error("p.jsonl", "[1]\n"));
        assertEquals(at + "1: \"prompt\" must be a string or a list of messages, not a number",
                error("p.jsonl", "{\"prompt\": 3}\n"));
        assertEquals(at + "1: \"prompt\" is empty", error("p.jsonl", "{\"prompt\": \"\"}\n"));
        assertEquals(at + "1: \"messages\"[0] has no \"content\"",
                error("p.jsonl", "{\"messages\": [{\"role\": \"user\"}]}\n"));
        assertEquals(at + "1: the conversation has no messages before the response",
                error("p.jsonl", "{\"messages\": [{\"role\": \"assistant\", \"content\": \"a\"}]}\n"));
        assertEquals(dir.resolve("e.jsonl") + ": no prompts", error("e.jsonl", "\n \n"));
        Path chat = write("c.jsonl",
                "{\"prompt\": \"a\"}\n{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n");
        assertEquals(chat + ":2: a conversation prompt needs a chat template (the policy's tokenizer_config.json "
                + "has none)", assertThrows(IllegalArgumentException.class, () -> PromptReader.read(chat, null))
                .getMessage());
    }

    @Test
    void aPromptTooLongForTheModelIsNamedWithTheLengths() throws IOException {
        Tokenizer tok = new BpeTrainer(280, List.of("<|endoftext|>"), Map.of("eos_token", "<|endoftext|>"))
                .train(List.of("the cat sat on the mat", "a dog ran"));
        ModelConfig cfg = ModelConfig.llama(tok.vocabSize(), 16, 1, 2, 2, 32, 24, 1e-5f, 10000.0,
                Rope.Style.ROTATE_HALF, true, false);
        Transformer policy = Transformer.create(cfg, OutputHeads.LM, 1);
        String longPrompt = "the cat sat on the mat ".repeat(10);
        Path file = write("p.jsonl", "{\"prompt\": \"the cat\"}\n{\"prompt\": \"" + longPrompt + "\"}\n");
        List<Prompt> prompts = PromptReader.read(file, null);
        int tokens = tok.encode(longPrompt, true).length;
        PpoConfig c = PpoConfig.builder(dir.resolve("out")).responseLength(8).build();
        RewardFunction none = new RewardFunction() {
            @Override
            public double[] score(List<Episode> episodes) {
                return new double[episodes.size()];
            }

            @Override
            public String describe() {
                return "none";
            }
        };
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new PpoTrainer(c, policy,
                policy.frozenCopy(), policy.withHeads(OutputHeads.SCALAR, 2), none, tok, prompts,
                new int[] {tok.eosId().getAsInt()}, List.of(), new PrintWriter(new StringWriter())));
        assertEquals(file + ":2: the prompt is " + tokens + " tokens; with response_length 8 it needs "
                + (tokens + 8) + " positions, more than the model's maximum sequence length of 24 (prompts of at "
                + "most 16 tokens fit)", e.getMessage());
        assertTrue(tokens > 16);
    }
}
