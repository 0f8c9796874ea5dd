package dev.rlhf4j.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** save(dir) then load(dir) gives a tokenizer that encodes, decodes and names its special tokens the same. */
class TokSaveLoadTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @ParameterizedTest
    @ValueSource(strings = {"tokenizers/gpt2", "models/hf-fake-gpt2", "models/hf-toy-gpt2", "tokenizers/smollm2",
            "tokenizers/mistral", "models/stories260K/tok512.bin"})
    void saveThenLoadEncodesTinyStoriesTheSame(String source, @TempDir Path dir) throws IOException {
        Tokenizer original = TokData.load(source);
        original.save(dir);
        for (String file : new String[] {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}) {
            assertTrue(Files.exists(dir.resolve(file)), file);
        }
        Tokenizer reloaded = Tokenizers.load(dir);

        StringBuilder text = new StringBuilder(TokData.tinyStories());
        original.specialTokens().values().forEach(s -> text.append(" x").append(s).append("y "));
        int[] ids = original.encode(text.toString(), true);
        assertArrayEquals(ids, reloaded.encode(text.toString(), true));
        assertEquals(original.decode(ids, false), reloaded.decode(ids, false));
        assertEquals(original.decode(ids, true), reloaded.decode(ids, true));
        assertEquals(original.vocabSize(), reloaded.vocabSize());
        assertEquals(original.specialTokens(), reloaded.specialTokens());
        assertEquals(original.bosId(), reloaded.bosId());
        assertEquals(original.eosId(), reloaded.eosId());
        assertEquals(original.padId(), reloaded.padId());
        for (int id = 0; id < original.vocabSize(); id++) {
            assertEquals(original.isSpecial(id), reloaded.isSpecial(id), "special " + id);
        }
    }

    /** A llama2.c vocabulary saves as the tokenizer.json transformers' LlamaConverter writes for Llama 2. */
    @Test
    void llama2cVocabularySavesAsLlamaTokenizerJson(@TempDir Path dir) throws IOException {
        TokData.load("models/stories260K/tok512.bin").save(dir);
        JsonNode saved = JSON.readTree(dir.resolve("tokenizer.json").toFile());
        JsonNode model = saved.path("model");
        assertEquals("BPE", model.path("type").asText());
        assertTrue(model.path("byte_fallback").asBoolean() && model.path("fuse_unk").asBoolean());
        assertEquals("<unk>", model.path("unk_token").asText());
        assertEquals(512, model.path("vocab").size());
        assertEquals(1, model.path("vocab").path("<s>").asInt());
        assertEquals("\u2581 t", model.path("merges").get(0).asText(), "the best-scored merge comes first");
        assertEquals("Prepend", saved.path("normalizer").path("normalizers").get(0).path("type").asText());
        assertEquals("TemplateProcessing", saved.path("post_processor").path("type").asText());
        assertEquals("<s>", saved.path("post_processor").path("single").get(0).path("SpecialToken").path("id")
                .asText());
        JsonNode config = JSON.readTree(dir.resolve("tokenizer_config.json").toFile());
        assertTrue(config.path("add_bos_token").asBoolean());
        assertEquals("</s>", config.path("eos_token").asText());
        assertTrue(config.path("added_tokens_decoder").path("1").path("special").asBoolean());
    }

    @Test
    void chatTemplateAndUnknownConfigKeysSurviveSaving(@TempDir Path dir) throws IOException {
        Path src = dir.resolve("src");
        Files.createDirectories(src);
        Path smol = TokData.require("tokenizers/smollm2");
        Files.copy(smol.resolve("tokenizer.json"), src.resolve("tokenizer.json"));
        ObjectNode config = (ObjectNode) JSON.readTree(smol.resolve("tokenizer_config.json").toFile());
        String template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}";
        config.put("chat_template", template);
        JSON.writeValue(src.resolve("tokenizer_config.json").toFile(), config);

        Tokenizer loaded = Tokenizers.load(src);
        assertEquals(template, Tokenizers.chatTemplate(loaded).orElseThrow());
        loaded.save(dir.resolve("out"));
        assertEquals(template, Tokenizers.chatTemplate(Tokenizers.load(dir.resolve("out"))).orElseThrow());
        JsonNode saved = JSON.readTree(dir.resolve("out/tokenizer_config.json").toFile());
        assertEquals("left", saved.path("padding_side").asText());
        assertEquals("GPT2Tokenizer", saved.path("tokenizer_class").asText());
    }

    @Test
    void namedChatTemplatesAndChatTemplateJinjaAreRead(@TempDir Path dir) throws IOException {
        Path smol = TokData.require("tokenizers/smollm2");
        Files.copy(smol.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("chat_template.jinja"), "from the jinja file");
        assertEquals("from the jinja file", Tokenizers.chatTemplate(Tokenizers.load(dir)).orElseThrow());
        Files.writeString(dir.resolve("tokenizer_config.json"), """
                {"chat_template": [{"name": "tool_use", "template": "tools"},
                                   {"name": "default", "template": "plain"}]}""");
        assertEquals("plain", Tokenizers.chatTemplate(Tokenizers.load(dir)).orElseThrow());
    }
}
