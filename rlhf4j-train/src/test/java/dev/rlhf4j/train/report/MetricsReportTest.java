package dev.rlhf4j.train.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.tensor.UserError;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code rlhf4j report}'s page: which runs it finds, the data it charts, what it refuses. */
class MetricsReportTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static Path run(Path dir, String... lines) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("metrics.jsonl"), String.join("\n", lines) + "\n");
        return dir;
    }

    /** The JSON in the page's data element, as the page's script reads it. */
    static JsonNode pageData(String html) throws IOException {
        String open = "<script type=\"application/json\" id=\"report-data\">";
        int from = html.indexOf(open) + open.length();
        return JSON.readTree(html.substring(from, html.indexOf("</script>", from)));
    }

    @Test
    void eachMetricIsAChartInItsSectionWithOneSeriesPerRunThatHasIt(@TempDir Path tmp) throws IOException {
        Path a = run(tmp.resolve("a"), "{\"step\":1,\"loss\":2.5,\"learning_rate\":0.001,\"skipped\":false}",
                "{\"step\":2,\"loss\":\"NaN\",\"learning_rate\":0.0005,\"skipped\":true}");
        Path b = run(tmp.resolve("b"), "{\"step\":1,\"objective/kl\":0.1,\"loss/policy_avg\":-0.2,\"lr\":3e-5,"
                + "\"policy/clipfrac_avg\":0.05,\"response_length\":11.5,\"tokens_per_s\":900,"
                + "\"val/var_explained\":0.3}");
        JsonNode data = pageData(MetricsReport.html(MetricsReport.load(List.of(a, b))));
        assertEquals("a", data.at("/runs/0/name").asText());
        assertEquals("b", data.at("/runs/1/name").asText());
        List<String> sections = new ArrayList<>();
        data.get("sections").forEach(s -> sections.add(s.get("title").asText() + ":" + metrics(s)));
        assertEquals(List.of("Loss:[loss, loss/policy_avg]", "KL:[objective/kl]", "Clipping:[policy/clipfrac_avg]",
                "Optimisation:[learning_rate, skipped, lr]", "Responses:[response_length]",
                "Throughput:[tokens_per_s]", "Other:[val/var_explained]"), sections);
        JsonNode loss = data.at("/sections/0/charts/0/series/0");
        assertEquals(0, loss.get("run").asInt());
        assertEquals("[1,2]", loss.get("x").toString());
        assertEquals("[2.5,null]", loss.get("y").toString()); // a NaN is a gap
        assertEquals("[0.0,1.0]", data.at("/sections/3/charts/1/series/0/y").toString());
        assertEquals(1, data.at("/sections/1/charts/0/series/0/run").asInt());
        assertEquals(0, data.get("samples").size());
    }

    @Test
    void aDirectoryOfRunsIsEveryRunBelowItAndCheckpointsAreSkipped(@TempDir Path tmp) throws IOException {
        Path demo = tmp.resolve("demo");
        run(demo.resolve("sft"), "{\"step\":1,\"loss\":1}");
        run(demo.resolve("sft/checkpoint-1"), "{\"step\":1,\"loss\":1}");
        run(demo.resolve("rlhf"), "{\"step\":1,\"objective/scores\":0.5}");
        Files.writeString(demo.resolve("rlhf/samples.jsonl"),
                "{\"step\":1,\"prompt\":\"p\",\"response\":\"r\",\"score\":0.5}\n");
        Files.createDirectories(demo.resolve("eval"));
        List<MetricsReport.Run> runs = MetricsReport.load(List.of(demo, demo.resolve("sft")));
        assertEquals(List.of("demo/rlhf", "demo/sft", "sft"), runs.stream().map(MetricsReport.Run::name).toList());
        JsonNode data = MetricsReport.data(runs);
        assertEquals("{\"run\":0,\"step\":1,\"score\":0.5,\"prompt\":\"p\",\"response\":\"r\"}",
                data.at("/samples/0").toString());
    }

    @Test
    void aRunWithRunsBelowItIsDrawnWithThem(@TempDir Path tmp) throws IOException {
        // rlhf4j loop: its per-round metrics beside each round's reward model and PPO runs
        Path loop = tmp.resolve("loop");
        run(loop, "{\"step\":0,\"eval/gold\":1.0}\n{\"step\":1,\"eval/gold\":1.4}");
        run(loop.resolve("round-1/reward-model"), "{\"step\":1,\"loss\":0.6}");
        run(loop.resolve("round-1/ppo"), "{\"step\":1,\"objective/kl\":0.1}");
        run(loop.resolve("round-1/ppo/checkpoint-1"), "{\"step\":1,\"objective/kl\":0.1}");
        Files.createDirectories(loop.resolve("round-0"));
        List<MetricsReport.Run> runs = MetricsReport.load(List.of(loop));
        assertEquals(List.of("loop", "loop/round-1/ppo", "loop/round-1/reward-model"),
                runs.stream().map(MetricsReport.Run::name).toList());
        assertEquals(2, runs.get(0).records().size());
    }

    @Test
    void aRunWithOnlyTensorBoardEventsIsReadFromThem(@TempDir Path tmp) throws IOException {
        try (TensorBoardEvents ev = TensorBoardEvents.create(tmp)) {
            ev.scalars(1, Map.of("loss", 2f));
            ev.scalars(2, Map.of("loss", 1.5f));
        }
        JsonNode data = MetricsReport.data(MetricsReport.load(List.of(tmp)));
        assertEquals("loss", data.at("/sections/0/charts/0/metric").asText());
        assertEquals("[2.0,1.5]", data.at("/sections/0/charts/0/series/0/y").toString());
    }

    @Test
    void noTextFromTheRunsCanEndTheDataElement(@TempDir Path tmp) throws IOException {
        String evil = "</script><script>window.pwned=1</script><!--";
        Path r = run(tmp.resolve("r"), "{\"step\":1," + JSON.writeValueAsString(evil) + ":1}");
        Files.writeString(r.resolve("samples.jsonl"), JSON.writeValueAsString(Map.of("step", 1, "prompt", evil,
                "response", evil, "score", 1)) + "\n");
        String html = MetricsReport.html(MetricsReport.load(List.of(r)));
        String plain = MetricsReport.html(MetricsReport.load(List.of(run(tmp.resolve("plain"), "{\"step\":1}"))));
        // the page's own script elements and no more
        assertEquals(plain.split("</script", -1).length, html.split("</script", -1).length);
        assertFalse(html.contains("<!--"));
        JsonNode data = pageData(html);
        assertEquals(evil, data.at("/sections/0/charts/0/metric").asText());
        assertEquals(evil, data.at("/samples/0/response").asText());
        // self-contained: uPlot inlined, nothing fetched
        assertTrue(html.contains("uPlot"));
        assertFalse(html.contains("src=\"http") || html.contains("href=\"http"), "an external resource");
    }

    @Test
    void badInputIsOneLineNamingTheFileAndLine(@TempDir Path tmp) throws IOException {
        Path missing = tmp.resolve("missing");
        assertEquals(missing + ": no such directory", assertThrows(UserError.class,
                () -> MetricsReport.load(List.of(missing))).getMessage());
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        assertTrue(assertThrows(UserError.class, () -> MetricsReport.load(List.of(empty))).getMessage()
                .startsWith(empty + ": no metrics.jsonl"));
        Path bad = run(tmp.resolve("bad"), "{\"step\":1,\"loss\":1}", "", "{\"step\":2,\"loss\":");
        String m = assertThrows(UserError.class, () -> MetricsReport.load(List.of(bad))).getMessage();
        assertTrue(m.startsWith(bad.resolve("metrics.jsonl") + ":3: not valid JSON: "), m);
        assertFalse(m.contains("\n"), m);
        Path array = run(tmp.resolve("array"), "[1,2]");
        assertEquals(array.resolve("metrics.jsonl") + ":1: expected a JSON object, got array",
                assertThrows(UserError.class, () -> MetricsReport.load(List.of(array))).getMessage());
    }

    private static List<String> metrics(JsonNode section) {
        List<String> m = new ArrayList<>();
        section.get("charts").forEach(c -> m.add(c.get("metric").asText()));
        return m;
    }
}
