package dev.rlhf4j.model.io;

import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.Heap;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Damaged model files, written on purpose: each is refused at load with one line naming the file and the tensor or
 * field at fault.
 */
class CkptFaultsTest {
    @TempDir
    Path tmp;

    // ------------------------------------------------------------------ NaN and infinite weights

    @Test
    void aNanWeightIsRefusedNamingTheTensorAndItsFirstBadElement() throws IOException {
        Path file = tmp.resolve("nan.safetensors");
        float[] w = new float[12];
        w[7] = Float.NaN;
        w[9] = Float.POSITIVE_INFINITY;
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("fine", Tensor.zeros(4));
        tensors.put("layer.w", Tensor.of(w, 3, 4));
        Safetensors.write(file, tensors, Safetensors.DType.F32, Map.of());
        try (Safetensors st = Safetensors.open(file)) {
            assertEquals(4, st.readWeights("fine").length);
            assertTrue(Float.isNaN(st.read("layer.w")[7]), "the format reader returns values as stored");
            IOException e = assertThrows(IOException.class, () -> st.readWeights("layer.w"));
            assertEquals(file + ": tensor 'layer.w' [3, 4] holds NaN at [1, 3] (element 7 of 12); the weights are "
                    + "damaged (a diverged run or a broken conversion) and are not loaded", e.getMessage());
        }
    }

    @Test
    void infinitiesAreRefusedInEveryStoredPrecision() throws IOException {
        for (Safetensors.DType dtype : new Safetensors.DType[] {Safetensors.DType.F32, Safetensors.DType.BF16,
                Safetensors.DType.F16}) {
            Path file = tmp.resolve("inf-" + dtype + ".safetensors");
            float[] w = {1, 2, Float.NEGATIVE_INFINITY, 4};
            Safetensors.write(file, Map.of("w", Tensor.of(w, 4)), dtype, Map.of());
            try (Safetensors st = Safetensors.open(file)) {
                String m = assertThrows(IOException.class, () -> st.readWeights("w", new float[4], 0)).getMessage();
                assertTrue(m.startsWith(file + ": tensor 'w' [4] holds -Infinity at [2] (element 2 of 4)"), m);
            }
        }
        // a finite value that F16 cannot hold becomes infinite when written so; reading it back says so
        Path overflow = tmp.resolve("overflow.safetensors");
        Safetensors.write(overflow, Map.of("w", Tensor.of(new float[] {1e6f}, 1)), Safetensors.DType.F16, Map.of());
        try (Safetensors st = Safetensors.open(overflow)) {
            assertTrue(assertThrows(IOException.class, () -> st.readWeights("w")).getMessage()
                    .contains("+Infinity at [0]"));
        }
    }

    @Test
    void anHfModelWithANanWeightNamesTheHfTensor() throws IOException {
        // GPT-2's Conv1D weights are transposed on the way in: the index is the one in the file
        Transformer m = TestModels.random(ModelConfig.gpt2(11, 8, 1, 2, 6), OutputHeads.LM, 3);
        Tensor fc = m.params().get("h.0.mlp.fc.weight"); // [32, 8] here, [8, 32] in the file
        fc.data()[fc.offset() + 5 * 8 + 2] = Float.NaN;
        HfCheckpoint.save(m, tmp, HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
        IOException e = assertThrows(IOException.class, () -> ModelLoader.load(tmp));
        assertTrue(e.getMessage().startsWith(tmp.resolve("model.safetensors") + ": tensor 'transformer.h.0.mlp.c_fc"
                + ".weight' [8, 32] holds NaN at [2, 5] (element 69 of 256)"), e.getMessage());
    }

    @Test
    void aLlama2cCheckpointWithANanWeightNamesItsArrayAndLayer() throws IOException {
        // dim 8, hidden 12, 2 layers, 2 heads and kv heads, vocab 10 (shared classifier), seq 4; the
        // header, then the arrays in run.c's order; wo of layer 1 comes after token_embedding_table,
        // rms_att_weight, wq, wk, wv (all layers) and wo of layer 0
        int d = 8, layers = 2, vocab = 10, hidden = 12, seq = 4, headDim = 4;
        long floats = (long) vocab * d + layers * d + 4L * layers * d * d + layers * d + 3L * layers * hidden * d + d
                + (long) seq * headDim;
        ByteBuffer b = ByteBuffer.allocate((int) (28 + 4 * floats)).order(ByteOrder.LITTLE_ENDIAN);
        for (int h : new int[] {d, hidden, layers, 2, 2, vocab, seq}) {
            b.putInt(h);
        }
        int woLayer1 = 28 + 4 * (vocab * d + layers * d + 3 * layers * d * d + d * d);
        b.putFloat(woLayer1 + 4 * (3 * d + 6), Float.NaN);
        Path file = tmp.resolve("nan.bin");
        Files.write(file, b.array());
        IOException e = assertThrows(IOException.class, () -> Llama2c.read(file));
        assertTrue(e.getMessage().startsWith(file + ": tensor 'wo of layer 1' [8, 8] holds NaN at [3, 6]"),
                e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void aChatTemplateThatIsNotUtf8IsNamed() throws IOException {
        HfCheckpoint.save(TestModels.random(ModelConfig.gpt2(11, 8, 1, 2, 6), OutputHeads.LM, 3), tmp,
                HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
        Path jinja = tmp.resolve("chat_template.jinja");
        Files.write(jinja, "{{ 'caf\u00e9' }}".getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(jinja + ": not valid UTF-8 text",
                assertThrows(IOException.class, () -> ModelLoader.load(tmp)).getMessage());
    }

    // ------------------------------------------------------------------ overlapping safetensors ranges

    @Test
    void tensorsSharingBytesAreRefusedNamingBoth() throws IOException {
        Path file = tmp.resolve("overlap.safetensors");
        Files.write(file, withData("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                + "\"c\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 16));
        IOException e = assertThrows(IOException.class, () -> Safetensors.open(file).close());
        assertEquals(file + ": tensors 'a' (data_offsets [0, 16]) and 'b' (data_offsets [8, 16]) overlap; the header "
                + "is corrupt", e.getMessage());
        // adjacent ranges and an empty tensor inside another's range are fine
        Path adjacent = tmp.resolve("adjacent.safetensors");
        Files.write(adjacent, withData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                + "\"c\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}", 16));
        try (Safetensors st = Safetensors.open(adjacent)) {
            assertEquals(3, st.tensors().size());
        }
    }

    // ------------------------------------------------------------------ config fields

    @Test
    void aNonIntegerSizeInConfigJsonIsRefusedNamingTheField() throws IOException {
        String gpt2 = "\"model_type\": \"gpt2\", \"n_layer\": 1, \"n_head\": 2, \"n_positions\": 8, \"vocab_size\": 11";
        Path config = tmp.resolve("config.json");
        Files.writeString(config, "{" + gpt2 + ", \"n_embd\": 8.5}");
        assertEquals(config + ": \"n_embd\" must be an integer, got 8.5",
                assertThrows(IOException.class, () -> HfCheckpoint.readConfig(config)).getMessage());
        Files.writeString(config, "{" + gpt2 + ", \"n_embd\": \"8\"}");
        assertEquals(config + ": \"n_embd\" must be an integer, got \"8\" (a string)",
                assertThrows(IOException.class, () -> HfCheckpoint.readConfig(config)).getMessage());
        Files.writeString(config, "{" + gpt2 + ", \"n_embd\": 0}");
        assertEquals(config + ": \"n_embd\" must be a positive integer, got 0",
                assertThrows(IOException.class, () -> HfCheckpoint.readConfig(config)).getMessage());
        Files.writeString(config, "{" + gpt2 + ", \"n_embd\": 8, \"n_inner\": 16.25}");
        assertEquals(config + ": \"n_inner\" must be an integer, got 16.25",
                assertThrows(IOException.class, () -> HfCheckpoint.readConfig(config)).getMessage());
        Files.writeString(config, "{" + gpt2 + ", \"n_embd\": 8, \"layer_norm_epsilon\": \"1e-5\"}");
        assertEquals(config + ": \"layer_norm_epsilon\" must be a number, got \"1e-5\" (a string)",
                assertThrows(IOException.class, () -> HfCheckpoint.readConfig(config)).getMessage());
        String llama = "\"model_type\": \"llama\", \"hidden_size\": 32, \"num_hidden_layers\": 1, "
                + "\"num_attention_heads\": 4, \"intermediate_size\": 40, \"vocab_size\": 50";
        Files.writeString(config, "{" + llama + ", \"num_key_value_heads\": 2.0}");
        assertEquals(config + ": \"num_key_value_heads\" must be an integer, got 2.0",
                assertThrows(IOException.class, () -> HfCheckpoint.readConfig(config)).getMessage());
        Files.writeString(config, "{" + llama + ", \"max_position_embeddings\": 1e3}");
        assertEquals(config + ": \"max_position_embeddings\" must be an integer, got 1000.0",
                assertThrows(IOException.class, () -> HfCheckpoint.readConfig(config)).getMessage());
        Files.writeString(config, "{" + llama + ", \"hidden_size\": 30}");
        assertEquals(config + ": model config: dim 30 is not divisible by heads 4",
                assertThrows(IOException.class, () -> HfCheckpoint.readConfig(config)).getMessage());
    }

    @Test
    void modelConfigNamesTheFieldOfAnImpossibleValue() {
        assertEquals("model config: normEps must be a positive number, got Infinity", assertThrows(
                IllegalArgumentException.class, () -> ModelConfig.llama(10, 8, 1, 2, 2, 12, 4, Float.POSITIVE_INFINITY,
                        10000.0, Rope.Style.ROTATE_HALF, true, false)).getMessage());
        assertEquals("model config: ropeTheta must be a positive number, got NaN", assertThrows(
                IllegalArgumentException.class, () -> ModelConfig.llama(10, 8, 1, 2, 2, 12, 4, 1e-5f, Double.NaN,
                        Rope.Style.ROTATE_HALF, true, false)).getMessage());
        assertEquals("model config: heads must be positive, got 0", assertThrows(IllegalArgumentException.class,
                () -> ModelConfig.gpt2(10, 8, 1, 0, 4)).getMessage());
    }

    // ------------------------------------------------------------------ a model too large for the heap

    @Test
    void aModelTooLargeForTheHeapFailsBeforeAllocatingWithTheFlagThatRaisesIt() throws IOException {
        // Llama-2-70B's shape: 69 billion parameters, 257 GiB in float32, far beyond any test JVM's heap
        ModelConfig huge = ModelConfig.llama(32000, 8192, 80, 64, 8, 28672, 4096, 1e-5f, 10000.0,
                Rope.Style.ROTATE_HALF, false, false);
        long before = Heap.available();
        Heap.Shortage e = assertThrows(Heap.Shortage.class, () -> new Transformer(huge, OutputHeads.LM));
        assertTrue(e.getMessage().startsWith("not enough memory: the weights of a model of 68,976,648,192 parameters "
                + "need 257.0 GiB, but only "), e.getMessage());
        assertTrue(e.getMessage().contains("; give Java a larger heap, e.g. -Xmx"), e.getMessage());
        assertTrue(e.getMessage().contains("(for ./rlhf4j: RLHF4J_JAVA_OPTS=-Xmx"), e.getMessage());
        assertTrue(Heap.available() > before / 2, "nothing of the size asked for was allocated");

        // through the loader, before any weight is read: the message names the model
        Files.writeString(tmp.resolve("config.json"), "{\"model_type\": \"llama\", \"hidden_size\": 8192, "
                + "\"num_hidden_layers\": 80, \"num_attention_heads\": 64, \"num_key_value_heads\": 8, "
                + "\"intermediate_size\": 28672, \"vocab_size\": 32000, \"max_position_embeddings\": 4096}");
        Files.write(tmp.resolve("model.safetensors"), withData("{}", 0));
        Heap.Shortage loading = assertThrows(Heap.Shortage.class, () -> ModelLoader.load(tmp));
        assertTrue(loading.getMessage().startsWith(tmp + ": not enough memory: the weights of a model of "
                + "68,976,648,192 parameters need 257.0 GiB"), loading.getMessage());
        assertFalse(loading.getMessage().contains("\n"));
    }

    private static byte[] withData(String json, int dataBytes) {
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(header.length).put(header).array();
    }
}
