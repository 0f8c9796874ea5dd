package dev.rlhf4j.model.io;

import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.tensor.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.OptionalInt;

import static dev.rlhf4j.model.io.CkptSafetensorsTest.assertOneLine;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CkptModelLoaderTest {
    @TempDir
    Path tmp;

    @Test
    void hfDirectoryIsReadAsHf() throws IOException {
        LoadedModel m = ModelLoader.load(SharedData.require("models/hf-fake-gpt2"));
        assertEquals("hf", m.format());
        assertEquals(50257, m.model().config().vocabSize());
    }

    @Test
    void ggufFileIsReadAsGguf() throws IOException {
        LoadedModel m =
                ModelLoader.load(SharedData.require("models/gguf-llama-2-tiny-random/llama-2-tiny-random.gguf"));
        assertEquals("gguf", m.format());
        assertTrue(m.ggufTokenizer().isPresent());
        assertTrue(m.tokenizerPath().isEmpty());
    }

    @Test
    void llama2cCheckpointComesWithTheTokenizerBesideIt() throws IOException {
        Path bin = SharedData.require("models/stories260K/stories260K.bin");
        LoadedModel m = ModelLoader.load(bin);
        assertEquals("llama2c", m.format());
        assertEquals("llama", m.modelType());
        assertEquals(bin.resolveSibling("tok512.bin"), m.tokenizerPath().orElseThrow());
        assertEquals(OptionalInt.of(1), m.bosId());
    }

    @Test
    void tokenizerBinIsPreferredAndItsAbsenceIsReported() throws IOException {
        Path dir = Files.createDirectory(tmp.resolve("ckpt"));
        Path bin = dir.resolve("model.bin");
        Files.copy(SharedData.require("models/stories260K/stories260K.bin"), bin);
        assertTrue(ModelLoader.load(bin).tokenizerPath().isEmpty());
        Files.writeString(dir.resolve("tok32.bin"), "");
        Files.writeString(dir.resolve("tokenizer.bin"), "");
        assertEquals(dir.resolve("tokenizer.bin"), ModelLoader.load(bin).tokenizerPath().orElseThrow());
    }

    @Test
    void savedRewardModelLoadsBackWithItsScalarHead() throws IOException {
        HfCheckpoint.save(TestModels.random(ModelConfig.gpt2(37, 24, 2, 3, 16), OutputHeads.SCALAR, 1), tmp,
                HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
        assertEquals(OutputHeads.SCALAR, ModelLoader.load(tmp).model().heads());
    }

    @Test
    void pathsThatAreNotModelsFailNamingThePath() throws IOException {
        Path missing = tmp.resolve("no-such-model");
        assertOneLine(assertThrows(NoSuchFileException.class, () -> ModelLoader.load(missing)), missing.toString());
        assertOneLine(assertThrows(IOException.class, () -> ModelLoader.load(tmp)), tmp.toString(), "config.json");
        Path other = Files.writeString(tmp.resolve("model.pt"), "");
        assertOneLine(assertThrows(IOException.class, () -> ModelLoader.load(other)), other.toString(),
                "unknown model format");
    }
}
