package dev.rlhf4j.model.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.TokenBatch;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.TreeMap;

import static dev.rlhf4j.tensor.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CkptHfCheckpointTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    // ------------------------------------------------------------------ the real HF directories

    @Test
    void fakeGpt2LoadsWithItsConfigAndComputesPyTorchsLogits() throws IOException {
        Path dir = SharedData.require("models/hf-fake-gpt2");
        LoadedModel loaded = HfCheckpoint.load(dir);
        ModelConfig c = loaded.model().config();
        assertEquals(ModelConfig.gpt2(50257, 2, 1, 1, 1024), c);
        assertEquals(OutputHeads.LM, loaded.model().heads());
        assertEquals("hf", loaded.format());
        assertEquals("gpt2", loaded.modelType());
        assertEquals(OptionalInt.of(50256), loaded.bosId());
        assertEquals(List.of(50256), loaded.eosIds());
        assertEquals(dir, loaded.tokenizerPath().orElseThrow());
        assertTrue(loaded.chatTemplate().isEmpty());

        int[] tokens = {15496, 11, 995, 0};
        float[] first = TestModels.logits(loaded.model(), tokens);
        assertTrue(allFinite(first));
        assertArrayEquals(first, TestModels.logits(HfCheckpoint.load(dir).model(), tokens), "deterministic");
        TestModels.assertMatchesPyTorch("hf-fake-gpt2", loaded.model(), 1e-5);
    }

    @Test
    void toyGpt2WithoutLmHeadLoadsWithTiedEmbeddings() throws IOException {
        LoadedModel loaded = HfCheckpoint.load(SharedData.require("models/hf-toy-gpt2"));
        Transformer m = loaded.model();
        assertEquals(21, m.config().vocabSize());
        assertTrue(m.config().tiedEmbeddings());
        assertEquals(OutputHeads.LM, m.heads());
        assertEquals(m.params().get("wte"), m.lmHeadWeight());
        assertTrue(allFinite(TestModels.logits(m, new int[] {20, 3, 7})));
        assertEquals(OptionalInt.of(20), loaded.bosId());
    }

    @Test
    void fakeGpt2RoundTripIsBitIdenticalWithHfNamesAndShapes() throws IOException {
        Path dir = SharedData.require("models/hf-fake-gpt2");
        LoadedModel loaded = HfCheckpoint.load(dir);
        Path out = tmp.resolve("out");
        HfCheckpoint.save(loaded.model(), out, HfCheckpoint.SaveOptions.like(loaded, Safetensors.DType.F32));
        TestModels.assertSameParameters(loaded.model(), HfCheckpoint.load(out).model());
        assertEquals(namesAndShapes(dir.resolve("model.safetensors")),
                namesAndShapes(out.resolve("model.safetensors")));

        JsonNode config = JSON.readTree(out.resolve("config.json").toFile());
        assertEquals("GPT2LMHeadModel", config.get("architectures").get(0).asText());
        assertEquals(50256, config.get("eos_token_id").asInt());
        assertEquals("pt", readMetadata(out.resolve("model.safetensors")).get("format"));
        assertEquals(50256, JSON.readTree(out.resolve("generation_config.json").toFile()).get("bos_token_id").asInt());
    }

    // ------------------------------------------------------------------ random models, both families

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama-gqa-untied", "llama-mha-tied", "qwen2-bias-untied", "gpt2-reward",
            "llama-reward", "llama-lm-and-score", "llama-rope-llama3", "llama-rope-linear"})
    void randomModelRoundTripIsBitIdentical(String variant) throws IOException {
        Transformer m = TestModels.random(config(variant), heads(variant), 7);
        HfCheckpoint.save(m, tmp, HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
        LoadedModel back = HfCheckpoint.load(tmp);
        TestModels.assertSameParameters(m, back.model());
        int[] tokens = {1, 5, 9};
        if (m.heads().lm()) {
            assertArrayEquals(TestModels.logits(m, tokens), TestModels.logits(back.model(), tokens));
        }
        if (m.heads().scalar()) {
            assertArrayEquals(scores(m, tokens), scores(back.model(), tokens));
        }
    }

    private static float[] scores(Transformer m, int[] tokens) {
        m.forward(TokenBatch.of(tokens, 1, tokens.length));
        float[] out = new float[tokens.length];
        m.scalarHead(out);
        return out;
    }

    @Test
    void rewardModelIsSavedAsSequenceClassificationWithOneLabel() throws IOException {
        Transformer m = TestModels.random(config("qwen2-bias-untied"), OutputHeads.SCALAR, 3);
        HfCheckpoint.save(m, tmp, HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
        JsonNode config = JSON.readTree(tmp.resolve("config.json").toFile());
        assertEquals("Qwen2ForSequenceClassification", config.get("architectures").get(0).asText());
        assertEquals(1, config.get("num_labels").asInt());
        Map<String, List<Integer>> names = namesAndShapes(tmp.resolve("model.safetensors"));
        assertEquals(List.of(1, 24), names.get("score.weight"));
        assertFalse(names.containsKey("lm_head.weight"));
        assertEquals(List.of(24, 24), names.get("model.layers.0.self_attn.o_proj.weight"));
        assertEquals(List.of(12), names.get("model.layers.1.self_attn.k_proj.bias"));
    }

    @Test
    void bf16WriteThenReadGivesTheBf16RoundedParameters() throws IOException {
        Transformer m = TestModels.random(config("llama-gqa-untied"), OutputHeads.LM, 11);
        HfCheckpoint.save(m, tmp, HfCheckpoint.SaveOptions.of(Safetensors.DType.BF16));
        assertEquals("bfloat16", JSON.readTree(tmp.resolve("config.json").toFile()).get("torch_dtype").asText());
        Transformer back = HfCheckpoint.load(tmp).model();
        int changed = 0;
        for (ParamArena.Entry e : m.params().entries()) {
            float[] orig = m.params().get(e.name()).toArray(), read = back.params().get(e.name()).toArray();
            for (int i = 0; i < orig.length; i++) {
                assertEquals(Safetensors.roundToBfloat16(orig[i]), read[i], 0f, e.name() + "[" + i + "]");
                changed += orig[i] != read[i] ? 1 : 0;
            }
        }
        assertTrue(changed > 0, "random float32 values should not all be bfloat16 already");
    }

    /**
     * A llama2.c/GGUF model pairs RoPE dimensions (2i, 2i+1); HF pairs (i, i + d/2). Written as HF, the q and k rows
     * are permuted per head, so the reloaded rotate-half model computes the same logits.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void interleavedModelWrittenAsHfComputesTheSameLogits(boolean qkvBias) throws IOException {
        Transformer interleaved = TestModels.random(TestModels.llama(2, false, qkvBias, Rope.Style.INTERLEAVED),
                OutputHeads.LM, 5);
        HfCheckpoint.save(interleaved, tmp, HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
        Transformer hf = HfCheckpoint.load(tmp).model();
        assertEquals(Rope.Style.ROTATE_HALF, hf.config().ropeStyle());
        int[] tokens = TestModels.tokens(12, 37, 2);
        float[] expected = TestModels.logits(interleaved, tokens);
        assertClose("rotate-half logits", expected, TestModels.logits(hf, tokens), 1e-5, 1e-5);
        // the rows did move: the same weights read with the other pairing compute something else
        assertNotEquals(interleaved.params().get("h.0.attn.qkv.weight").get(1, 0),
                hf.params().get("h.0.attn.qkv.weight").get(1, 0));
    }

    @Test
    void stories260KWrittenAsHfComputesTheSameLogits() throws IOException {
        Transformer llama2c = Llama2c.read(SharedData.require("models/stories260K/stories260K.bin"));
        HfCheckpoint.save(llama2c, tmp, HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
        Transformer hf = HfCheckpoint.load(tmp).model();
        int[] tokens = {1, 403, 407, 261, 378};
        assertClose("stories260K as HF", TestModels.logits(llama2c, tokens), TestModels.logits(hf, tokens), 1e-5, 1e-5);
    }

    @Test
    void shardedDirectoryAndNamesWithoutPrefixLoad() throws IOException {
        Transformer m = TestModels.random(config("llama-gqa-untied"), OutputHeads.LM, 13);
        HfCheckpoint.save(m, tmp, HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
        Map<String, Tensor> all = readAll(tmp.resolve("model.safetensors"));
        Files.delete(tmp.resolve("model.safetensors"));
        Map<String, Tensor> first = new LinkedHashMap<>(), second = new LinkedHashMap<>();
        StringBuilder weightMap = new StringBuilder();
        all.forEach((name, t) -> {
            boolean inFirst = name.contains("layers.0.") || name.contains("embed");
            String stored = name.replaceFirst("^model\\.", ""); // base-model names without their prefix
            (inFirst ? first : second).put(stored, t);
            weightMap.append(weightMap.isEmpty() ? "" : ",").append('"').append(stored).append("\":\"")
                    .append(inFirst ? "a.safetensors" : "b.safetensors").append('"');
        });
        Safetensors.write(tmp.resolve("a.safetensors"), first, Safetensors.DType.F32, Map.of("format", "pt"));
        Safetensors.write(tmp.resolve("b.safetensors"), second, Safetensors.DType.F32, Map.of("format", "pt"));
        Files.writeString(tmp.resolve(Safetensors.INDEX_FILE), "{\"metadata\":{},\"weight_map\":{" + weightMap + "}}");
        TestModels.assertSameParameters(m, HfCheckpoint.load(tmp).model());
    }

    // ------------------------------------------------------------------ config.json

    @Test
    void llamaConfigMapsEveryKey() throws IOException {
        Path file = configFile("""
                {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 3, "num_attention_heads": 8,
                 "num_key_value_heads": 2, "intermediate_size": 100, "vocab_size": 300, "max_position_embeddings": 512,
                 "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": true,
                 "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                  "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                 "bos_token_id": 128000, "eos_token_id": [128001, 128009]}""");
        HfCheckpoint.HfConfig hc = HfCheckpoint.readConfig(file);
        assertEquals(new ModelConfig(ModelConfig.Family.LLAMA, 300, 64, 3, 8, 2, 100, 512, 1e-5f, 500000.0,
                Rope.Style.ROTATE_HALF, true, false, new ModelConfig.RopeScaling("llama3", 8, 1, 4, 8192)),
                hc.config());
        assertEquals(OptionalInt.of(128000), hc.bosId());
        assertEquals(List.of(128001, 128009), hc.eosIds());
    }

    @Test
    void familyDefaultsQwen2BiasLinearScalingAndMistralWindow() throws IOException {
        ModelConfig qwen = HfCheckpoint.readConfig(configFile("""
                {"model_type": "qwen2", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "intermediate_size": 40, "vocab_size": 50,
                 "rope_scaling": {"type": "linear", "factor": 2.0}}""")).config();
        assertTrue(qwen.qkvBias());
        assertFalse(qwen.tiedEmbeddings());
        assertEquals(32768, qwen.maxSeqLen());
        assertEquals(1e-6f, qwen.normEps());
        assertEquals("linear", qwen.ropeScaling().type());
        ModelConfig mistral = HfCheckpoint.readConfig(configFile("""
                {"model_type": "mistral", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 4,
                 "intermediate_size": 40, "vocab_size": 50, "max_position_embeddings": 32768,
                 "sliding_window": 4096}""")).config();
        assertEquals(4096, mistral.maxSeqLen(), "capped at the sliding window rlhf4j does not implement");
        assertEquals(4, mistral.kvHeads());
    }

    @Test
    void unsupportedConfigsFailWithOneLineNamingConfigJson() {
        assertOneLineError(configFile("{\"model_type\": \"bert\", \"hidden_size\": 8}"), "model_type 'bert'");
        String llama = "\"model_type\": \"llama\", \"hidden_size\": 32, \"num_hidden_layers\": 1, "
                + "\"num_attention_heads\": 4, \"intermediate_size\": 40, \"vocab_size\": 50";
        assertOneLineError(configFile("{" + llama + ", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}"),
                "rope_scaling type 'yarn'");
        assertOneLineError(configFile("{" + llama + ", \"attention_bias\": true}"), "attention_bias");
        assertOneLineError(configFile("{" + llama + ", \"head_dim\": 16}"), "head_dim 16");
        assertOneLineError(configFile("{" + llama + ", \"num_key_value_heads\": 3}"), "kvHeads 3");
        assertOneLineError(configFile("{\"model_type\": \"llama\"}"), "\"hidden_size\"");
        assertOneLineError(configFile("{\"model_type\": "), "not valid JSON");
    }

    private void assertOneLineError(Path configFile, String mentions) {
        IOException e = assertThrows(IOException.class, () -> HfCheckpoint.readConfig(configFile));
        assertTrue(e.getMessage().startsWith(configFile.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(mentions), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    // ------------------------------------------------------------------ tensors that do not fit the config

    @Test
    void missingExtraAndMisshapenTensorsAreNamed() throws IOException {
        Transformer m = TestModels.random(config("llama-gqa-untied"), OutputHeads.LM, 17);
        HfCheckpoint.save(m, tmp, HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
        Path weights = tmp.resolve("model.safetensors");
        Map<String, Tensor> good = readAll(weights);

        Map<String, Tensor> missing = new LinkedHashMap<>(good);
        missing.remove("model.layers.1.mlp.up_proj.weight");
        Safetensors.write(weights, missing, Safetensors.DType.F32, Map.of("format", "pt"));
        assertLoadFails("missing tensor model.layers.1.mlp.up_proj.weight [40, 24]");

        Map<String, Tensor> extra = new LinkedHashMap<>(good);
        extra.put("model.layers.0.self_attn.o_proj.bias", Tensor.zeros(24));
        Safetensors.write(weights, extra, Safetensors.DType.F32, Map.of("format", "pt"));
        assertLoadFails("unexpected tensor model.layers.0.self_attn.o_proj.bias");

        Map<String, Tensor> misshapen = new LinkedHashMap<>(good);
        misshapen.put("model.layers.0.self_attn.k_proj.weight", Tensor.zeros(24, 24));
        Safetensors.write(weights, misshapen, Safetensors.DType.F32, Map.of("format", "pt"));
        assertLoadFails("tensor 'model.layers.0.self_attn.k_proj.weight' has shape [24, 24] but config.json "
                + "implies [12, 24]");
    }

    private void assertLoadFails(String mentions) {
        IOException e = assertThrows(IOException.class, () -> HfCheckpoint.load(tmp));
        assertTrue(e.getMessage().contains(mentions), e.getMessage());
        assertTrue(e.getMessage().startsWith(tmp.toString()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void gpt2BuffersAndATiedHeadSavedAnywayAreAccepted() throws IOException {
        Transformer m = TestModels.random(config("gpt2"), OutputHeads.LM, 19);
        HfCheckpoint.save(m, tmp, HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
        Map<String, Tensor> tensors = readAll(tmp.resolve("model.safetensors"));
        tensors.put("transformer.h.0.attn.bias", Tensor.zeros(1, 1, 16, 16));
        tensors.put("transformer.h.1.attn.masked_bias", Tensor.zeros(1));
        tensors.put("lm_head.weight", m.params().get("wte"));
        Safetensors.write(tmp.resolve("model.safetensors"), tensors, Safetensors.DType.F32, Map.of("format", "pt"));
        TestModels.assertSameParameters(m, HfCheckpoint.load(tmp).model());

        tensors.put("lm_head.weight", Tensor.zeros(37, 24));
        Safetensors.write(tmp.resolve("model.safetensors"), tensors, Safetensors.DType.F32, Map.of("format", "pt"));
        assertLoadFails("unexpected tensor lm_head.weight");
    }

    // ------------------------------------------------------------------ what comes with the weights

    @Test
    void generationConfigIdsAndChatTemplateAreReported() throws IOException {
        Transformer m = TestModels.random(config("llama-mha-tied"), OutputHeads.LM, 23);
        HfCheckpoint.save(m, tmp, new HfCheckpoint.SaveOptions(Safetensors.DType.F32, "mistral", null,
                OptionalInt.of(1), List.of(2), OptionalInt.empty()));
        Files.writeString(tmp.resolve("generation_config.json"), "{\"bos_token_id\": 1, \"eos_token_id\": [2, 32000]}");
        Files.writeString(tmp.resolve("tokenizer_config.json"), """
                {"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}""");
        LoadedModel loaded = HfCheckpoint.load(tmp);
        assertEquals("mistral", loaded.modelType());
        assertEquals(List.of(2, 32000), loaded.eosIds());
        assertEquals("D", loaded.chatTemplate().orElseThrow());
        assertTrue(loaded.tokenizerPath().isEmpty(), "no tokenizer files were written");

        Files.writeString(tmp.resolve("chat_template.jinja"), "{{ messages }}");
        assertEquals("{{ messages }}", HfCheckpoint.load(tmp).chatTemplate().orElseThrow());
    }

    @Test
    void tokenizerIsSavedBesideTheWeightsAndGivesTheSpecialIds() throws IOException {
        Transformer m = TestModels.random(config("gpt2"), OutputHeads.LM, 29);
        HfCheckpoint.save(m, tmp,
                HfCheckpoint.SaveOptions.of(Safetensors.DType.F32).withTokenizer(new FakeTokenizer()));
        assertTrue(Files.exists(tmp.resolve("tokenizer.json")));
        JsonNode generation = JSON.readTree(tmp.resolve("generation_config.json").toFile());
        assertEquals(36, generation.get("eos_token_id").asInt());
        assertEquals(35, generation.get("bos_token_id").asInt());
        assertEquals(tmp, HfCheckpoint.load(tmp).tokenizerPath().orElseThrow());
    }

    @Test
    void modelTypesThatCannotHoldTheModelAreRefused() {
        Transformer biased = TestModels.random(config("qwen2-bias-untied"), OutputHeads.LM, 1);
        assertThrows(IllegalArgumentException.class, () -> HfCheckpoint.save(biased, tmp,
                HfCheckpoint.SaveOptions.of(Safetensors.DType.F32).withModelType("llama")));
        Transformer gpt2 = TestModels.random(config("gpt2"), OutputHeads.LM, 1);
        assertThrows(IllegalArgumentException.class, () -> HfCheckpoint.save(gpt2, tmp,
                HfCheckpoint.SaveOptions.of(Safetensors.DType.F32).withModelType("qwen2")));
    }

    // ------------------------------------------------------------------ helpers

    private static ModelConfig config(String variant) {
        return switch (variant) {
            case "gpt2", "gpt2-reward" -> ModelConfig.gpt2(37, 24, 2, 3, 16);
            case "llama-gqa-untied", "llama-reward", "llama-lm-and-score" ->
                    TestModels.llama(2, false, false, Rope.Style.ROTATE_HALF);
            case "llama-mha-tied" -> TestModels.llama(4, true, false, Rope.Style.ROTATE_HALF);
            case "qwen2-bias-untied" -> TestModels.llama(2, false, true, Rope.Style.ROTATE_HALF);
            case "llama-rope-llama3" -> withScaling(new ModelConfig.RopeScaling("llama3", 8, 1, 4, 8192));
            case "llama-rope-linear" -> withScaling(new ModelConfig.RopeScaling("linear", 2, 0, 0, 0));
            default -> throw new IllegalArgumentException(variant);
        };
    }

    private static ModelConfig withScaling(ModelConfig.RopeScaling scaling) {
        ModelConfig c = TestModels.llama(2, false, false, Rope.Style.ROTATE_HALF);
        return new ModelConfig(c.family(), c.vocabSize(), c.dim(), c.layers(), c.heads(), c.kvHeads(), c.hiddenDim(),
                c.maxSeqLen(), c.normEps(), c.ropeTheta(), c.ropeStyle(), c.tiedEmbeddings(), c.qkvBias(), scaling);
    }

    private static OutputHeads heads(String variant) {
        return variant.endsWith("reward") ? OutputHeads.SCALAR
                : variant.endsWith("and-score") ? OutputHeads.BOTH : OutputHeads.LM;
    }

    private Path configFile(String json) {
        try {
            Path file = Files.createTempFile(tmp, "config", ".json");
            Files.writeString(file, json);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static boolean allFinite(float[] values) {
        for (float v : values) {
            if (!Float.isFinite(v)) {
                return false;
            }
        }
        return true;
    }

    /** Tensor names and shapes of a safetensors file, read with a plain JSON parser. */
    private static Map<String, List<Integer>> namesAndShapes(Path file) throws IOException {
        JsonNode header = header(file);
        Map<String, List<Integer>> out = new TreeMap<>();
        header.properties().forEach(e -> {
            if (!e.getKey().equals("__metadata__")) {
                List<Integer> shape = new ArrayList<>();
                e.getValue().get("shape").forEach(d -> shape.add(d.asInt()));
                out.put(e.getKey(), shape);
            }
        });
        return out;
    }

    private static Map<String, String> readMetadata(Path file) throws IOException {
        JsonNode meta = header(file).get("__metadata__");
        Map<String, String> out = new TreeMap<>();
        meta.properties().forEach(e -> out.put(e.getKey(), e.getValue().asText()));
        return out;
    }

    private static JsonNode header(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return JSON.readTree(Arrays.copyOfRange(bytes, 8, 8 + (int) n));
    }

    private static Map<String, Tensor> readAll(Path file) throws IOException {
        try (Safetensors st = Safetensors.open(file)) {
            Map<String, Tensor> out = new LinkedHashMap<>();
            for (Safetensors.TensorInfo info : st.tensors().values()) {
                out.put(info.name(), Tensor.of(st.read(info.name()), info.shape()));
            }
            return out;
        }
    }

    /** Only what saving uses: the special ids and {@link #save}. */
    private static final class FakeTokenizer implements Tokenizer {
        @Override
        public int[] encode(String text, boolean addSpecialTokens) {
            throw new UnsupportedOperationException();
        }

        @Override
        public String decode(int[] ids, boolean skipSpecialTokens) {
            throw new UnsupportedOperationException();
        }

        @Override
        public int vocabSize() {
            return 37;
        }

        @Override
        public String token(int id) {
            throw new UnsupportedOperationException();
        }

        @Override
        public OptionalInt id(String token) {
            return OptionalInt.empty();
        }

        @Override
        public OptionalInt bosId() {
            return OptionalInt.of(35);
        }

        @Override
        public OptionalInt eosId() {
            return OptionalInt.of(36);
        }

        @Override
        public OptionalInt padId() {
            return OptionalInt.empty();
        }

        @Override
        public boolean isSpecial(int id) {
            return id >= 35;
        }

        @Override
        public Map<String, String> specialTokens() {
            return Map.of();
        }

        @Override
        public String describe() {
            return "fake";
        }

        @Override
        public void save(Path dir) throws IOException {
            Files.writeString(dir.resolve("tokenizer.json"), "{}");
        }
    }
}
