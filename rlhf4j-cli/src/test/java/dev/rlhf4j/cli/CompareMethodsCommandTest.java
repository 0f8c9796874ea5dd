package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code rlhf4j compare-methods}: a quick run of one seed with three methods (offline DPO, GRPO and best-of-4) end to
 * end, its report, resuming it with another method, and bad options.
 */
class CompareMethodsCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path tmp;
    static Path out;
    static String[] first;
    /** The first run's results and report, read before the resumption rewrites them. */
    static String results, report;

    private static String[] run(String... args) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        int c = Main.run(new PrintWriter(o, true), new PrintWriter(e, true), args);
        return new String[] {Integer.toString(c), o.toString(), e.toString()};
    }

    @BeforeAll
    static void quickRun() {
        out = tmp.resolve("compare");
        first = run("compare-methods", "--quick", "--seeds", "1", "--only", "dpo,grpo,best-of-4", "--out",
                out.toString());
        try {
            results = Files.readString(out.resolve("results.json"));
            report = Files.readString(out.resolve("report.md"));
        } catch (IOException e) {
            results = report = "";
        }
    }

    @Test
    void everyMethodIsScoredOnTheSameHeldOutPromptsAgainstSft() throws IOException {
        assertEquals("0", first[0], first[2]);
        JsonNode res = JSON.readTree(results);
        assertEquals(1, res.get("seeds").asInt());
        assertTrue(res.get("quick").asBoolean());
        JsonNode methods = res.get("methods");
        assertEquals(4, methods.size(), methods.toString());
        for (String m : new String[] {"sft", "dpo", "grpo", "best-of-4"}) {
            JsonNode n = methods.get(m);
            double gold = n.get("gold").get("mean").asDouble();
            assertTrue(Double.isFinite(gold) && gold >= -3 && gold <= 3, m + ": " + gold);
            assertEquals(1, n.get("gold").get("per_seed").size());
            double win = n.get("win_rate_vs_sft").get("mean").asDouble();
            assertTrue(win >= 0 && win <= 1, m);
        }
        // SFT against itself: no KL, a win rate of exactly one half (every prompt a tie)
        assertEquals(0.0, methods.get("sft").get("kl_to_sft").get("mean").asDouble(), 1e-9);
        assertEquals(0.5, methods.get("sft").get("win_rate_vs_sft").get("mean").asDouble(), 1e-12);
        // the gain over SFT is the difference of the two golds
        assertEquals(methods.get("dpo").get("gold").get("mean").asDouble()
                        - methods.get("sft").get("gold").get("mean").asDouble(),
                methods.get("dpo").get("gold_gain_over_sft").get("mean").asDouble(), 1e-12);
        // offline DPO generates nothing; GRPO 3 steps × 64 responses of at least one token; best-of-4 four per prompt
        assertEquals(0, methods.get("dpo").get("generated_tokens").get("mean").asDouble());
        assertTrue(methods.get("grpo").get("generated_tokens").get("mean").asDouble() >= 3 * 64);
        assertTrue(methods.get("best-of-4").get("generated_tokens").get("mean").asDouble() >= 4 * 40);
        assertEquals(Math.log(4) - 0.75, methods.get("best-of-4").get("kl_to_sft").get("mean").asDouble(), 1e-12);
        // best-of-4 keeps the reward model's best of four samples: above a single sample's score on average
        assertTrue(methods.get("best-of-4").get("reward_model").get("mean").asDouble()
                > methods.get("sft").get("reward_model").get("mean").asDouble());
        for (String m : new String[] {"dpo", "grpo"}) {
            assertTrue(methods.get(m).get("seconds").get("mean").asDouble() > 0, m);
            assertTrue(methods.get(m).get("peak_heap_mib").get("mean").asDouble() > 0, m);
            assertTrue(Files.isRegularFile(out.resolve("seed-0/methods/" + m + "/model.safetensors")), m);
        }
    }

    @Test
    void reportHasTheTableAndBothPlots() throws IOException {
        assertEquals("0", first[0], first[2]);
        String md = report;
        for (String m : new String[] {"| sft |", "| dpo |", "| grpo |", "| best-of-4 |", "gold-vs-kl.png"}) {
            assertTrue(md.contains(m), m);
        }
        assertTrue(Files.size(out.resolve("plots/gold-vs-kl.png")) > 1000);
        assertTrue(Files.size(out.resolve("plots/gold-by-method.png")) > 1000);
        assertTrue(first[1].contains("best-of-4"), first[1]);
        JsonNode seed = JSON.readTree(out.resolve("seed-0/evaluation.json").toFile());
        assertEquals(JSON.readTree(results).get("methods").get("dpo").get("gold").get("mean").asDouble(),
                seed.get("dpo").get("gold").asDouble(), 1e-12);
        assertTrue(first[1].contains("report: " + out.resolve("report.md")), first[1]);
    }

    @Test
    void resumingKeepsFinishedStagesAndAddsAMethod() throws IOException {
        assertEquals("0", first[0], first[2]);
        String[] again = run("compare-methods", "--quick", "--seeds", "1", "--only", "dpo,ipo", "--out",
                out.toString(), "--resume");
        assertEquals("0", again[0], again[2]);
        assertTrue(again[2].contains("== sft (seed 0): kept"), again[2]);
        assertTrue(again[2].contains("== dpo (seed 0): kept"), again[2]);
        assertFalse(again[2].contains("== dpo (seed 0): rlhf4j"), "dpo ran again: " + again[2]);
        assertTrue(again[2].contains("== ipo (seed 0): rlhf4j dpo"), again[2]);
        JsonNode methods = JSON.readTree(out.resolve("results.json").toFile()).get("methods");
        assertTrue(methods.has("ipo") && methods.has("dpo"), methods.toString());
        // the methods of the first run stay in the table, with the figures of their runs
        assertTrue(methods.has("grpo") && methods.has("best-of-4"), methods.toString());
        JsonNode before = JSON.readTree(results).get("methods");
        assertEquals(before.get("grpo").get("gold").get("mean").asDouble(),
                methods.get("grpo").get("gold").get("mean").asDouble(), 1e-12);
        assertEquals(before.get("grpo").get("seconds").get("mean").asDouble(),
                methods.get("grpo").get("seconds").get("mean").asDouble(), 1e-12);
    }

    @Test
    void badOptionsAreOneLineErrors() {
        String[] r = run("compare-methods", "--only", "dpo,sarsa", "--out", tmp.resolve("bad").toString());
        assertEquals("2", r[0]);
        assertTrue(r[2].startsWith("rlhf4j: --only: there is no method 'sarsa'"), r[2]);
        r = run("compare-methods", "--steps", "0", "--out", tmp.resolve("bad").toString());
        assertEquals("1", r[0]);
        assertTrue(r[2].startsWith("rlhf4j: --steps"), r[2]);
        assertFalse(Files.exists(tmp.resolve("bad")));
    }
}
