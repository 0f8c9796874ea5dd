package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.tensor.SharedData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code generate --weights-dtype}: generation over packed bf16 and Q8_0 matrices, and its errors. */
class GenerateWeightsDtypeTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path shared;
    private static Path policy;
    private StringWriter out = new StringWriter(), err = new StringWriter();

    @BeforeAll
    static void tinyPolicy() throws Exception {
        policy = TinyRun.create(shared).policy();
    }

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    /**
     * Greedy generation over a bf16 copy of the tiny policy runs to its token budget; the logits themselves are
     * compared with fp32 within stated bounds by PackedModelTest (and Q8_0 generation from a GGUF by CkptGgufTest), so
     * here only the wiring. Q8_0 needs rows of whole 32-blocks, which the tiny model's MLP (88 wide) has not.
     */
    @Test
    void packedWeightsGenerate() throws Exception {
        for (String dtype : new String[] {"fp32", "bf16"}) {
            assertEquals(0, run("generate", "--model", policy.toString(), "--prompt", "Explain the sun",
                    "--temperature", "0", "--max-new-tokens", "6", "--json", "--weights-dtype", dtype),
                    dtype + ": " + err);
            JsonNode line = JSON.readTree(out.toString().lines().filter(l -> l.startsWith("{")).findFirst()
                    .orElseThrow());
            assertEquals(6, line.get("tokens").size(), dtype + ": " + line);
        }
        assertEquals(1, run("generate", "--model", policy.toString(), "--prompt", "hi", "--weights-dtype", "q8_0"));
        assertTrue(err.toString().contains("cannot hold its weights as q8_0") && err.toString().contains("32"),
                err.toString());
    }

    @Test
    void badDtypesAndFilesAreOneLine() {
        assertEquals(1, run("generate", "--model", policy.toString(), "--prompt", "hi", "--weights-dtype", "int4"));
        assertTrue(err.toString().contains("--weights-dtype") && err.toString().contains("int4"), err.toString());
        assertFalse(err.toString().contains("\tat "), err.toString());
    }

    /** The shared GGUF stores F16 matrices: keeping them as Q8_0 is refused naming a tensor and its type. */
    @Test
    void aGgufWithoutQ8MatricesIsRefused() {
        Path gguf = SharedData.require("models/gguf-llama-2-tiny-random/llama-2-tiny-random.gguf");
        assertEquals(1, run("generate", "--model", gguf.toString(), "--prompt", "hi", "--max-new-tokens", "2",
                "--weights-dtype", "q8_0"));
        assertTrue(err.toString().contains(gguf.getFileName().toString()) || err.toString().contains("Q8_0"),
                err.toString());
        assertFalse(err.toString().contains("\tat "), err.toString());
    }
}
