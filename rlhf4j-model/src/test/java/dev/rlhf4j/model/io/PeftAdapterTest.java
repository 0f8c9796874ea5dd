package dev.rlhf4j.model.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.LoraConfig;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.TokenBatch;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.Fixtures;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeMap;
import java.util.stream.Stream;

import static dev.rlhf4j.tensor.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * PEFT's adapter layout, read and written. The fixture ({@code tools/fixtures/make_peft_fixture.py}) holds tiny HF
 * models and adapter directories in PEFT's layout with float64 reference logits of base + adapter as PEFT computes
 * them; the models here run in float32 over values of order 1 with sums of a few dozen terms per layer, so 2e-4
 * absolute plus relative is a generous bound on float32 rounding (measured differences are ~1e-6).
 */
class PeftAdapterTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Fixtures FX = Fixtures.load("fixtures/peft/logits.json");

    private static Path fixture(String name) {
        try {
            return Path.of(PeftAdapterTest.class.getClassLoader().getResource("fixtures/peft/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static float[] logits(Transformer m, int[] tokens) {
        m.forward(TokenBatch.of(tokens, 1, tokens.length));
        return m.logits().toArray();
    }

    @Test
    void adaptersWrittenByPeftGiveTheLogitsPeftComputes() throws IOException {
        for (String family : List.of("gpt2", "llama")) {
            int[] tokens = FX.ints(family + ".tokens");
            LoadedModel base = ModelLoader.load(fixture(family));
            assertClose(family + " base", FX.floats(family + ".base"), logits(base.model(), tokens), 2e-4, 2e-4);
            LoadedModel attached = ModelLoader.loadAdapter(fixture(family + "-lora"), null, false);
            assertTrue(attached.model().hasAdapters());
            assertClose(family + " adapter", FX.floats(family + ".lora"), logits(attached.model(), tokens), 2e-4,
                    2e-4);
            LoadedModel merged = ModelLoader.load(fixture(family + "-lora"));
            assertTrue(!merged.model().hasAdapters(), "a plain load merges the adapter");
            assertClose(family + " merged", FX.floats(family + ".lora"), logits(merged.model(), tokens), 2e-4, 2e-4);
            assertEquals("peft", merged.format());
        }
    }

    @Test
    void rewardModelAdapterKeepsItsHeadAsModulesToSave() throws IOException {
        LoadedModel rm = ModelLoader.load(fixture("gpt2-rm-lora"));
        assertEquals(OutputHeads.SCALAR, rm.model().heads());
        int[] tokens = FX.ints("gpt2.tokens");
        rm.model().forward(TokenBatch.of(tokens, 1, tokens.length));
        float[] scores = new float[tokens.length];
        rm.model().scalarHead(scores);
        assertClose("scores (rsLoRA scale alpha/sqrt(r))", FX.floats("gpt2.rm.scores"), scores, 2e-4, 2e-4);
    }

    /** Written back, the adapter has exactly PEFT's names, shapes and values, and the config's fields. */
    @Test
    void roundTripKeepsPeftsNamesShapesAndValues(@TempDir Path tmp) throws IOException {
        for (String name : List.of("gpt2-lora", "llama-lora", "gpt2-rm-lora")) {
            Path src = fixture(name);
            Transformer m = ModelLoader.loadAdapter(src, null, false).model();
            Path out = tmp.resolve(name);
            PeftAdapter.save(m, out, "../" + (name.startsWith("gpt2") ? "gpt2" : "llama"));
            try (Safetensors a = Safetensors.open(src.resolve(PeftAdapter.WEIGHTS));
                 Safetensors b = Safetensors.open(out.resolve(PeftAdapter.WEIGHTS))) {
                assertEquals(new TreeMap<>(a.tensors()).keySet(), new TreeMap<>(b.tensors()).keySet(), name);
                for (String t : a.tensors().keySet()) {
                    assertArrayEquals(a.info(t).shape(), b.info(t).shape(), t);
                    assertArrayEquals(a.read(t), b.read(t), t);
                }
            }
            JsonNode want = JSON.readTree(src.resolve(PeftAdapter.CONFIG).toFile());
            JsonNode got = JSON.readTree(out.resolve(PeftAdapter.CONFIG).toFile());
            for (String f : List.of("peft_type", "task_type", "r", "lora_alpha", "target_modules", "bias",
                    "fan_in_fan_out", "use_rslora", "modules_to_save", "base_model_name_or_path")) {
                assertEquals(want.get(f), got.get(f), name + " " + f);
            }
        }
    }

    /**
     * An interleaved-RoPE model (as llama2.c checkpoints are held) keeps q/k rows in another order than HF: its
     * adapter, written next to its HF conversion and read back, must compute what the adapted model computed.
     */
    @Test
    void interleavedRopeAdaptersArePermutedLikeTheWeights(@TempDir Path tmp) throws IOException {
        ModelConfig c = ModelConfig.llama(40, 32, 2, 4, 2, 48, 16, 1e-5f, 10000.0, Rope.Style.INTERLEAVED, true,
                false);
        Transformer base = Transformer.create(c, OutputHeads.LM, 5);
        Transformer m = base.withLora(LoraConfig.of(3, 6f, List.of("q_proj", "k_proj", "v_proj")), OutputHeads.LM,
                6);
        Rng rng = new Rng(7);
        m.trainable().entries().stream().filter(e -> e.name().endsWith("lora_B"))
                .forEach(e -> rng.fillNormal(m.trainable().get(e.name()), 0.5));
        HfCheckpoint.save(base, tmp.resolve("base"), HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
        PeftAdapter.save(m, tmp.resolve("adapter"), "../base");
        int[] tokens = {1, 5, 9, 33, 2, 7};
        float[] expected = logits(m, tokens);
        Transformer back = ModelLoader.loadAdapter(tmp.resolve("adapter"), null, false).model();
        assertClose("adapter read back on the HF base", expected, logits(back, tokens), 1e-4, 1e-4);
        HfCheckpoint.save(m, tmp.resolve("merged"), HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
        assertClose("merged and saved", expected, logits(ModelLoader.load(tmp.resolve("merged")).model(), tokens),
                1e-4, 1e-4);
    }

    @Test
    void badAdaptersAreRefusedNamingTheFileAndField(@TempDir Path tmp) throws IOException {
        Path dir = copy(fixture("gpt2-lora"), tmp.resolve("a"));
        Path base = fixture("gpt2");
        LoadedModel b = ModelLoader.load(base);
        editConfig(dir, o -> o.put("use_dora", true));
        UserError e = assertThrows(UserError.class, () -> PeftAdapter.load(dir, b.model()));
        assertTrue(e.getMessage().contains("adapter_config.json") && e.getMessage().contains("use_dora"),
                e.getMessage());
        editConfig(dir, o -> o.put("use_dora", false).put("bias", "all"));
        assertTrue(assertThrows(UserError.class, () -> PeftAdapter.load(dir, b.model())).getMessage()
                .contains("bias"));
        editConfig(dir, o -> o.put("bias", "none").put("r", 8));
        e = assertThrows(UserError.class, () -> PeftAdapter.load(dir, b.model()));
        assertTrue(e.getMessage().contains("adapter_model.safetensors") && e.getMessage().contains("lora_A")
                && e.getMessage().contains("[4, 16]") && e.getMessage().contains("[8, 16]"), e.getMessage());
        editConfig(dir, o -> o.put("r", 4).putArray("target_modules").add("c_attn"));
        e = assertThrows(UserError.class, () -> PeftAdapter.load(dir, b.model()));
        assertTrue(e.getMessage().contains("unexpected tensors") && e.getMessage().contains("c_proj"),
                e.getMessage());
        editConfig(dir, o -> o.putArray("target_modules").add("c_attn").add("c_proj").add("c_fc"));
        e = assertThrows(UserError.class, () -> PeftAdapter.load(dir, b.model()));
        assertTrue(e.getMessage().contains("missing") && e.getMessage().contains("mlp.c_fc.lora_A"), e.getMessage());
        editConfig(dir, o -> {
            o.putArray("target_modules").add("c_attn").add("c_proj");
            o.put("base_model_name_or_path", "openai-community/gpt2");
        });
        e = assertThrows(UserError.class, () -> ModelLoader.load(dir));
        assertTrue(e.getMessage().contains("openai-community/gpt2") && e.getMessage().contains("--base-model"),
                e.getMessage());
        assertEquals(b.model().config(), ModelLoader.loadAdapter(dir, base, true).model().config());
        editConfig(dir, o -> o.put("lora_bias", true));
        assertTrue(assertThrows(UserError.class, () -> PeftAdapter.load(dir, b.model())).getMessage()
                .contains("lora_bias"));
        editConfig(dir, o -> {
            o.put("lora_bias", false);
            o.putArray("modules_to_save").add("lm_head");
        });
        assertTrue(assertThrows(UserError.class, () -> PeftAdapter.load(dir, b.model())).getMessage()
                .contains("'lm_head'"));
        editConfig(dir, o -> o.putArray("modules_to_save").add("classifier"));
        assertEquals(OutputHeads.LM, PeftAdapter.load(dir, b.model()).heads(), "a head it lacks is skipped, as PEFT");
    }

    private interface Edit {
        void apply(ObjectNode o);
    }

    private static void editConfig(Path dir, Edit edit) throws IOException {
        ObjectNode o = (ObjectNode) JSON.readTree(dir.resolve(PeftAdapter.CONFIG).toFile());
        edit.apply(o);
        Files.writeString(dir.resolve(PeftAdapter.CONFIG), o.toString());
    }

    private static Path copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> s = Files.list(from)) {
            for (Path p : s.toList()) {
                Files.copy(p, to.resolve(p.getFileName()));
            }
        }
        return to;
    }
}
