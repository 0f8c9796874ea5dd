package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** compare-methods' aggregation over seeds: means, standard errors, the paired verdict, the report and its plots. */
class MethodsReportTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static ObjectNode result(double gold, double kl, boolean bound) {
        ObjectNode o = JSON.createObjectNode();
        o.put("description", "d");
        o.put("gold", gold);
        o.put("kl_to_sft", kl);
        o.put("kl_is_bound", bound);
        o.put("reward_model", gold / 2);
        o.put("win_rate_vs_sft", 0.5);
        o.put("seconds", 10);
        o.putObject("gold_parts").put("correctness", gold / 4);
        return o;
    }

    /** Three seeds: DPO clearly above SFT, GRPO within noise, a broken method clearly below. */
    private static MethodsReport report() {
        double[] sft = {1.0, 1.1, 0.9}, dpo = {1.3, 1.35, 1.2}, grpo = {1.0, 1.2, 0.8}, bad = {0.5, 0.6, 0.4};
        Map<Long, Map<String, ObjectNode>> r = new LinkedHashMap<>();
        for (int s = 0; s < 3; s++) {
            Map<String, ObjectNode> m = new LinkedHashMap<>();
            m.put("sft", result(sft[s], 0, false));
            m.put("dpo", result(dpo[s], 2 + s, false));
            m.put("grpo", result(grpo[s], 1, false));
            m.put("best-of-4", result(bad[s], Math.log(4) - 0.75, true));
            r.put((long) s, m);
        }
        return new MethodsReport(r, new MethodsSeed.Sizes(12000, 50, 300, false), 12.5);
    }

    @Test
    void gainsOverSftAreJudgedByThePairedTwoStandardErrorRule() {
        MethodsReport rep = report();
        // gains of DPO per seed: 0.3, 0.25, 0.3 → mean 0.28333, sample std 0.028868, s.e. 0.016667
        double[] g = rep.goldGain("dpo");
        assertEquals(0.283333, MethodsReport.mean(g), 1e-6);
        assertEquals(0.016667, MethodsReport.stderr(g), 1e-6);
        assertEquals("better", rep.verdict("dpo"));
        // GRPO: 0, 0.1, −0.1 → mean 0, s.e. 0.0577: no clear difference
        assertEquals("no clear difference", rep.verdict("grpo"));
        assertEquals("worse", rep.verdict("best-of-4"));
        assertTrue(Double.isNaN(MethodsReport.stderr(new double[] {1.0})));
    }

    @Test
    void resultsJsonHoldsEveryFigurePerSeedWithItsMeanAndStandardError() {
        JsonNode j = report().json();
        assertEquals(3, j.get("seeds").asInt());
        JsonNode dpo = j.get("methods").get("dpo");
        assertEquals(3, dpo.get("gold").get("per_seed").size());
        assertEquals(1.283333, dpo.get("gold").get("mean").asDouble(), 1e-6);
        assertEquals(3.0, dpo.get("kl_to_sft").get("mean").asDouble(), 1e-12);
        assertEquals(1.283333 / 4, dpo.get("gold_part/correctness").get("mean").asDouble(), 1e-6);
        assertEquals("better", dpo.get("gold_gain_over_sft").get("verdict").asText());
        assertTrue(!j.get("methods").get("sft").has("gold_gain_over_sft"));
    }

    @Test
    void markdownHasARowPerMethodAndMarksTheBestOfNKlAsABound(@TempDir Path tmp) throws IOException {
        MethodsReport rep = report();
        String md = rep.markdown("plots");
        for (String m : new String[] {"sft", "dpo", "grpo", "best-of-4"}) {
            assertTrue(md.contains("| " + m + " | "), m);
        }
        assertTrue(md.contains("(better)"), md);
        assertTrue(md.contains("(bound)"), md);
        assertTrue(md.contains("| dpo | 1.300 | 1.350 | 1.200 |"), md);
        assertTrue(rep.table().contains("better"));
        rep.plots(tmp);
        for (String png : new String[] {"gold-vs-kl.png", "gold-by-method.png"}) {
            BufferedImage img = ImageIO.read(tmp.resolve(png).toFile());
            assertEquals(PngCharts.WIDTH, img.getWidth(), png);
            assertEquals(PngCharts.HEIGHT, img.getHeight(), png);
        }
    }
}
