package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.train.lab.LabWorld;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class LabGenerateReproducibleTest {

    private static int run(String... args) {
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(new StringWriter(), true), new PrintWriter(err, true), args);
        assertEquals(0, code, err.toString());
        return code;
    }

    @Test
    void theSameSeedWritesTheSameBytes(@TempDir Path tmp) throws Exception {
        // records are written with their fields in a fixed order, so two runs give byte-identical files (with
        // Map.of the order of the keys changed from one JVM to the next); the timing-free files are compared
        for (String out : List.of("a", "b")) {
            run("lab", "generate", "--out", tmp.resolve(out).toString(), "--corpus", "40", "--facts", "10", "--sft",
                    "12", "--sft-eval", "4", "--prompts", "10", "--eval-prompts", "4", "--pairs", "20", "--eval-pairs",
                    "10", "--vocab-size", "300");
        }
        for (String file : List.of("corpus.jsonl", "sft.jsonl", "sft-eval.jsonl", "prompts.jsonl",
                "prompts-eval.jsonl", "preferences.jsonl", "preferences-eval.jsonl", "lab.json")) {
            assertArrayEquals(Files.readAllBytes(tmp.resolve("a").resolve(file)),
                    Files.readAllBytes(tmp.resolve("b").resolve(file)), file);
        }
        // two runs in one JVM would agree even with Map.of (its order is fixed per JVM), so the order itself is
        // checked: a map with a per-run order would match these five-key orders about once in 120 runs
        assertEquals(List.of("prompt", "chosen", "rejected", "gold_chosen", "gold_rejected"),
                keys(tmp.resolve("a/preferences.jsonl")));
        assertEquals(List.of("prompt", "completion"), keys(tmp.resolve("a/sft.jsonl")));
        JsonNode lab = JSON.readTree(tmp.resolve("a/lab.json").toFile());
        List<String> weights = new ArrayList<>();
        lab.get("gold_weights").fieldNames().forEachRemaining(weights::add);
        assertEquals(LabWorld.PARTS, weights);
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The field names of the first record of a JSONL file, in the order written. */
    private static List<String> keys(Path jsonl) throws Exception {
        List<String> names = new ArrayList<>();
        JSON.readTree(Files.readAllLines(jsonl).getFirst()).fieldNames().forEachRemaining(names::add);
        return names;
    }
}
