package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.train.claims.Verdict;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code rlhf4j claims}: a quick run of two seeds end to end, its report files, resuming it, and bad options. */
class ClaimsCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> VERDICTS = Set.of("supported", "contradicted", "inconclusive");
    private static final Set<String> TAGS = Set.of("!DOCTYPE", "html", "head", "meta", "title", "style", "body",
            "h1", "h2", "p", "b", "i", "table", "tr", "th", "td", "img");

    @TempDir
    static Path tmp;
    static Path out;
    static int code;
    static String stdout, stderr;

    private static String[] run(String... args) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        int c = Main.run(new PrintWriter(o, true), new PrintWriter(e, true), args);
        return new String[] {Integer.toString(c), o.toString(), e.toString()};
    }

    @BeforeAll
    static void quickRun() {
        out = tmp.resolve("claims");
        String[] r = run("claims", "--quick", "--seeds", "2", "--only", "1,5,7", "--out", out.toString());
        code = Integer.parseInt(r[0]);
        stdout = r[1];
        stderr = r[2];
    }

    @Test
    void resultsHoldEverySelectedClaimWithNumbersPerSeedAndAVerdict() throws IOException {
        assertEquals(0, code, stderr);
        JsonNode res = JSON.readTree(out.resolve("results.json").toFile());
        assertEquals("[0,1]", res.get("seeds").toString());
        assertTrue(res.get("quick").asBoolean());
        assertEquals(Verdict.RULE, res.get("verdict_rule").asText());
        List<Integer> ids = new ArrayList<>();
        for (JsonNode c : res.get("claims")) {
            ids.add(c.get("id").asInt());
            assertTrue(VERDICTS.contains(c.get("verdict").asText()), c.toString());
            assertFalse(c.get("finding").asText().isBlank());
            assertTrue(c.get("measurements").size() > 0);
            c.get("measurements").fields().forEachRemaining(m -> {
                assertEquals(2, m.getValue().get("per_seed").size(), m.getKey());
                assertTrue(m.getValue().has("mean") && m.getValue().has("std"), m.getKey());
            });
            assertTrue(c.get("tests").size() > 0);
            for (JsonNode t : c.get("tests")) {
                assertEquals(2, t.get("difference").get("per_seed").size());
                assertTrue(VERDICTS.contains(t.get("verdict").asText()));
                // the difference is the mean of the per-seed differences
                double mean = (t.get("difference").get("per_seed").get(0).asDouble()
                        + t.get("difference").get("per_seed").get(1).asDouble()) / 2;
                assertEquals(mean, t.get("difference").get("mean").asDouble(), 1e-12);
            }
        }
        assertEquals(List.of(1, 5, 7), ids);
        // the numbers come from the runs: the reward models' accuracies are those their training wrote
        JsonNode c7 = res.get("claims").get(2);
        JsonNode acc = c7.get("measurements").get("held-out accuracy, 120 comparisons");
        JsonNode trained = JSON.readTree(out.resolve("seed-1/rm/n120/train_results.json").toFile());
        assertEquals(trained.get("eval_accuracy").asDouble(), acc.get("per_seed").get(1).asDouble(), 1e-12);
        assertTrue(res.get("stage_seconds").has("seed-0") && res.get("stage_seconds").has("seed-1"));
        // the curves of claim 1's runs, one value per PPO step (3 in a quick run)
        JsonNode gold = res.get("curves").get("seed-1").get("gold/base-b0.05");
        assertEquals("[1,2,3]", gold.get("steps").toString());
        assertEquals(3, gold.get("values").size());
        assertTrue(stdout.contains("report: " + out.resolve("report.md")), stdout);
        assertTrue(stdout.matches("(?s).*; \\d+ s in all\\s*"), stdout);
    }

    @Test
    void plotsAreValidPngImagesAndTheHtmlEmbedsThemAndEscapesItsText() throws IOException {
        assertEquals(0, code, stderr);
        JsonNode res = JSON.readTree(out.resolve("results.json").toFile());
        List<String> plots = new ArrayList<>();
        res.get("claims").forEach(c -> c.get("plots").forEach(p -> plots.add(p.asText())));
        assertTrue(plots.size() >= 3, plots.toString());
        String md = Files.readString(out.resolve("report.md"));
        for (String p : plots) {
            BufferedImage img = ImageIO.read(out.resolve(p).toFile());
            assertNotNull(img, p + " is not an image");
            assertEquals(PngCharts.WIDTH, img.getWidth());
            assertTrue(md.contains("](" + p + ")"), p);
        }
        String html = Files.readString(out.resolve("report.html"));
        Matcher imgs = Pattern.compile("<img alt=\"[^\"]*\" src=\"data:image/png;base64,([A-Za-z0-9+/=]+)\">")
                .matcher(html);
        int n = 0;
        while (imgs.find()) {
            byte[] png = java.util.Base64.getDecoder().decode(imgs.group(1));
            assertNotNull(ImageIO.read(new java.io.ByteArrayInputStream(png)));
            n++;
        }
        assertEquals(plots.size(), n, "every plot inlined, and nothing else loaded");
        assertFalse(html.contains("src=\"plots/"));
        // and every stage's training curves, as `rlhf4j report` draws them
        String curves = Files.readString(out.resolve("curves.html"));
        assertTrue(curves.contains("seed-1/ppo/") && curves.contains("objective/kl"), "curves.html");
        assertTrue(stdout.contains("training curves: " + out.resolve("curves.html")), stdout);
        // every '<' opens one of the report's own tags: no text went in unescaped
        Matcher tags = Pattern.compile("<(/?)([^\\s>]*)").matcher(html.replaceAll("base64,[A-Za-z0-9+/=]+", ""));
        while (tags.find()) {
            assertTrue(TAGS.contains(tags.group(2)), "unexpected markup <" + tags.group(1) + tags.group(2));
        }
    }

    @Test
    void theHtmlEscapesTextThatLooksLikeMarkup() throws IOException {
        ClaimsAnalysis.Claim c = new ClaimsAnalysis.Claim(9, "<script>alert('x')</script> & co", "a \"claim\"",
                List.of(new ClaimsAnalysis.Measure("x < y", new double[] {1, 2})), List.of(), Verdict.INCONCLUSIVE,
                "<b>bold</b>", List.of());
        Map<Long, Map<String, Double>> secs = new LinkedHashMap<>();
        secs.put(0L, Map.of("<stage>", 1.0));
        String html = ClaimsReport.html(new ClaimsReport.Run(List.of(0L), true, Map.of(), secs, 1, Map.of()),
                List.of(c), tmp);
        assertFalse(html.contains("<script>"));
        assertFalse(html.contains("<b>bold"));
        assertTrue(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co"));
        assertTrue(html.contains("x &lt; y"));
        assertTrue(html.contains("&lt;stage&gt; 1"));
    }

    @Test
    void resumeKeepsEveryFinishedStage() throws IOException {
        assertEquals(0, code, stderr);
        String before = Files.readString(out.resolve("results.json"));
        String[] r = run("claims", "--quick", "--seeds", "2", "--only", "1,5,7", "--out", out.toString(),
                "--resume");
        assertEquals("0", r[0], r[2]);
        assertTrue(r[2].contains("== pretrain (seed 1): kept"), r[2]);
        assertFalse(r[2].contains("rlhf4j pretrain"), r[2]);
        JsonNode a = JSON.readTree(before), b = JSON.readTree(out.resolve("results.json").toFile());
        assertEquals(a.get("claims"), b.get("claims"), "the same runs give the same numbers");
        // the stages' times are those of the session that ran them
        assertEquals(a.get("stage_seconds").get("seed-1").get("pretrain"),
                b.get("stage_seconds").get("seed-1").get("pretrain"));
    }

    @Test
    void claimSixComparesThreeRoundsOfTheLoopWithOneRoundOfTheSameLabels() throws IOException {
        Path dir = tmp.resolve("loop");
        String[] r = run("claims", "--quick", "--seeds", "1", "--only", "6", "--out", dir.toString());
        assertEquals("0", r[0], r[2]);
        Path seed = dir.resolve("seed-0");
        assertTrue(ClaimsSeed.finished(seed.resolve("loop-3")) && ClaimsSeed.finished(seed.resolve("loop-1")));
        assertTrue(Files.isDirectory(seed.resolve("loop-3/round-3/ppo")));
        assertFalse(Files.exists(seed.resolve("loop-1/round-2")), "the one-round arm ran one round");
        JsonNode c = JSON.readTree(dir.resolve("results.json").toFile()).get("claims").get(0);
        assertEquals(6, c.get("id").asInt());
        JsonNode eval3 = JSON.readTree(seed.resolve("eval/loop-3.json").toFile());
        assertEquals(eval3.get("gold").asDouble(), c.get("measurements").get("gold: loop, 3 rounds").get("per_seed")
                .get(0).asDouble(), 1e-12);
        // one seed cannot decide a claim
        assertEquals("inconclusive", c.get("verdict").asText());
    }

    @Test
    void badOptionsAreOneLineErrors() throws IOException {
        String[] r = run("claims", "--only", "1,8", "--out", tmp.resolve("x").toString());
        assertEquals("2", r[0]);
        assertEquals("rlhf4j: --only: there is no claim 8 (the claims are 1 to 7)", r[2].lines().findFirst()
                .orElseThrow());
        r = run("claims", "--only", "one", "--out", tmp.resolve("x").toString());
        assertEquals("2", r[0]);
        assertTrue(r[2].startsWith("rlhf4j: --only takes claim numbers 1 to 7"), r[2]);
        r = run("claims", "--seeds", "0", "--out", tmp.resolve("x").toString());
        assertEquals("1", r[0]);
        assertEquals("rlhf4j: --seeds must be positive, got 0", r[2].strip());
        assertFalse(Files.exists(tmp.resolve("x")), "nothing is written before the options are checked");
        Path busy = Files.createDirectories(tmp.resolve("busy"));
        Files.writeString(busy.resolve("notes.txt"), "mine");
        r = run("claims", "--quick", "--out", busy.toString());
        assertEquals("1", r[0]);
        assertEquals(1, r[2].strip().lines().count(), r[2]);
        assertTrue(r[2].startsWith("rlhf4j: " + busy), r[2]);
    }
}
