package dev.rlhf4j.train.report;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * {@code rlhf4j report}: the {@code metrics.jsonl} of one or more runs (sft, pretrain, reward train, ppo, the demo's
 * stages) as one self-contained HTML page: a chart per metric with the runs overlaid, a smoothing slider (TensorBoard's
 * debiased exponential moving average) and, for PPO, the sample completions of {@code samples.jsonl}. The charts are
 * drawn by uPlot, whose script and stylesheet come from its WebJar and are inlined, so the file opens offline.
 *
 * <p>The data goes into the page as JSON in a {@code <script type="application/json">} element with every {@code <}
 * written as {@code \u003c}, so no metric name or sample text can end the element; the page's script shows every
 * text through {@code textContent}.
 */
public final class MetricsReport {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String UPLOT = "META-INF/resources/webjars/uplot/1.6.30/dist/";
    /** The most samples shown per run (the latest), so a long PPO run's page stays small. */
    static final int MAX_SAMPLES = 400;

    /**
     * The sections of the page, in order, each with the words that put a metric in it (the first section that matches
     * wins); a metric that matches none goes under "Other".
     */
    private static final List<Map.Entry<String, List<String>>> SECTIONS = List.of(
            Map.entry("Loss", List.of("loss")),
            Map.entry("Reward", List.of("score", "reward", "accuracy", "margin", "chosen", "rejected")),
            Map.entry("KL", List.of("kl")),
            Map.entry("Entropy", List.of("entropy")),
            Map.entry("Clipping", List.of("clipfrac", "ratio")),
            Map.entry("Optimisation", List.of("learning_rate", "lr", "grad_norm", "epoch", "skipped", "ppo_epochs")),
            Map.entry("Responses", List.of("response_length", "eos", "length")),
            Map.entry("Throughput", List.of("tokens_per_s", "time/", "_s")));

    private MetricsReport() {
    }

    /** One run: its name in the legend, its directory, its metrics (one record per step) and PPO's samples. */
    public record Run(String name, Path dir, List<JsonNode> records, List<JsonNode> samples) {
    }

    /**
     * The runs under the given directories: a directory with a {@code metrics.jsonl} (or, without one, TensorBoard
     * event files) is a run, and so is each such directory below it (as {@code rlhf4j demo} and {@code rlhf4j loop}
     * write them; {@code checkpoint-N/} skipped), named by its path below it. A directory with no run is a
     * {@link UserError}.
     */
    public static List<Run> load(List<Path> dirs) throws IOException {
        List<Run> runs = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (Path dir : dirs) {
            if (!Files.isDirectory(dir)) {
                throw new UserError(dir + ": no such directory");
            }
            List<Path> found = runDirectories(dir);
            if (found.isEmpty()) {
                throw new UserError(dir + ": no metrics.jsonl (or TensorBoard event file) in it or its "
                        + "subdirectories; was the run made with --report-to none?");
            }
            String base = name(dir);
            for (Path r : found) {
                String name = r.equals(dir) ? base : base + "/" + dir.relativize(r).toString().replace('\\', '/');
                String unique = name;
                for (int i = 2; !names.add(unique); i++) {
                    unique = name + " (" + i + ")";
                }
                runs.add(new Run(unique, r, records(r), samples(r)));
            }
        }
        return runs;
    }

    /** Writes the page for the runs in {@code dirs} to {@code out} and returns it. */
    public static Path write(List<Path> dirs, Path out) throws IOException {
        String page = html(load(dirs));
        Path parent = out.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(out, page, StandardCharsets.UTF_8);
        return out;
    }

    /** The page for {@code runs}: uPlot inlined, the data as JSON, the script that draws it. */
    public static String html(List<Run> runs) {
        String template = resource("dev/rlhf4j/train/report/report.html");
        String css = resource(UPLOT + "uPlot.min.css");
        // a script element ends at the first "</script"; uPlot's minified code has none, but stay safe
        String js = resource(UPLOT + "uPlot.iife.min.js").replace("</", "<\\/");
        String data;
        try {
            data = JSON.writeValueAsString(data(runs)).replace("<", "\\u003c");
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
        // the data goes in last, so nothing in it is taken for a placeholder
        return template.replace("/*@UPLOT_CSS@*/", css).replace("/*@UPLOT_JS@*/", js).replace("/*@DATA@*/", data);
    }

    /**
     * The page's data: {@code runs} (name, dir), {@code sections} (title, charts: metric and one series per run that
     * has it, steps and values, null for a value that is not finite) and {@code samples} (run, step, score, prompt,
     * response).
     */
    static ObjectNode data(List<Run> runs) {
        ObjectNode root = JSON.createObjectNode();
        ArrayNode runList = root.putArray("runs");
        // metric -> run index -> (steps, values), metrics in the order they first appear
        Map<String, Map<Integer, double[][]>> metrics = new LinkedHashMap<>();
        for (int i = 0; i < runs.size(); i++) {
            Run run = runs.get(i);
            runList.addObject().put("name", run.name()).put("dir", run.dir().toString());
            Map<String, List<double[]>> points = new LinkedHashMap<>();
            for (JsonNode r : run.records()) {
                double step = r.get("step").asDouble();
                for (Map.Entry<String, JsonNode> e : r.properties()) {
                    String key = e.getKey();
                    JsonNode v = e.getValue();
                    if (key.equals("step")) {
                        continue;
                    }
                    Double value = v.isNumber() ? Double.valueOf(v.asDouble()) : v.isBoolean() ? (v.asBoolean() ? 1.0
                            : 0.0) : v.isTextual() && isNonFinite(v.asText()) ? Double.valueOf(Double.NaN) : null;
                    if (value != null) {
                        points.computeIfAbsent(key, k -> new ArrayList<>()).add(new double[] {step, value});
                    }
                }
            }
            for (Map.Entry<String, List<double[]>> e : points.entrySet()) {
                List<double[]> p = e.getValue();
                double[][] xy = new double[2][p.size()];
                for (int j = 0; j < p.size(); j++) {
                    xy[0][j] = p.get(j)[0];
                    xy[1][j] = p.get(j)[1];
                }
                metrics.computeIfAbsent(e.getKey(), k -> new TreeMap<>()).put(i, xy);
            }
        }
        Map<String, ArrayNode> sections = new LinkedHashMap<>();
        for (Map.Entry<String, List<String>> s : SECTIONS) {
            sections.put(s.getKey(), JSON.createArrayNode());
        }
        sections.put("Other", JSON.createArrayNode());
        for (Map.Entry<String, Map<Integer, double[][]>> m : metrics.entrySet()) {
            ObjectNode chart = sections.get(section(m.getKey())).addObject();
            chart.put("metric", m.getKey());
            ArrayNode series = chart.putArray("series");
            m.getValue().forEach((run, xy) -> {
                ObjectNode s = series.addObject();
                s.put("run", run);
                ArrayNode x = s.putArray("x"), y = s.putArray("y");
                for (int j = 0; j < xy[0].length; j++) {
                    x.add(xy[0][j] == Math.rint(xy[0][j]) ? JSON.getNodeFactory().numberNode((long) xy[0][j])
                            : JSON.getNodeFactory().numberNode(xy[0][j]));
                    if (Double.isFinite(xy[1][j])) {
                        y.add(xy[1][j]);
                    } else {
                        y.addNull();
                    }
                }
            });
        }
        ArrayNode sectionList = root.putArray("sections");
        sections.forEach((title, charts) -> {
            if (!charts.isEmpty()) {
                sectionList.addObject().put("title", title).set("charts", charts);
            }
        });
        root.put("samplesPerRun", MAX_SAMPLES);
        ArrayNode samples = root.putArray("samples");
        for (int i = 0; i < runs.size(); i++) {
            List<JsonNode> s = runs.get(i).samples();
            for (JsonNode sample : s.subList(Math.max(0, s.size() - MAX_SAMPLES), s.size())) {
                ObjectNode row = samples.addObject();
                row.put("run", i);
                row.set("step", sample.path("step"));
                row.set("score", sample.path("score"));
                row.put("prompt", sample.path("prompt").asText(""));
                row.put("response", sample.path("response").asText(""));
            }
        }
        return root;
    }

    /** The page section of a metric: the first whose words it contains. */
    static String section(String metric) {
        String m = metric.toLowerCase(Locale.ROOT);
        for (Map.Entry<String, List<String>> s : SECTIONS) {
            for (String word : s.getValue()) {
                boolean match = word.equals("lr") ? m.equals("lr") || m.endsWith("/lr")
                        : word.equals("_s") ? m.endsWith("_s") : m.contains(word);
                if (match) {
                    return s.getKey();
                }
            }
        }
        return "Other";
    }

    private static boolean isNonFinite(String s) {
        return s.equals("NaN") || s.equals("Infinity") || s.equals("-Infinity");
    }

    private static List<Path> runDirectories(Path dir) throws IOException {
        // the directory itself and the runs below it (rlhf4j loop keeps its per-round metrics beside its rounds' runs);
        // checkpoints are snapshots of their run, not runs
        try (Stream<Path> s = Files.walk(dir, 4)) {
            return s.filter(Files::isDirectory)
                    .filter(d -> d.equals(dir) || !dir.relativize(d).toString().replace('\\', '/')
                            .matches("(.*/)?checkpoint-[^/]*(/.*)?"))
                    .filter(d -> {
                        try {
                            return isRun(d);
                        } catch (IOException e) {
                            throw new UncheckedIOException(e);
                        }
                    }).sorted().toList();
        }
    }

    private static boolean isRun(Path dir) throws IOException {
        return Files.isRegularFile(dir.resolve("metrics.jsonl")) || !TensorBoardEvents.files(dir).isEmpty();
    }

    private static String name(Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        return abs.getFileName() == null ? abs.toString() : abs.getFileName().toString();
    }

    /** A run's records: metrics.jsonl, or its TensorBoard event files when it has no metrics.jsonl. */
    private static List<JsonNode> records(Path dir) throws IOException {
        Path f = dir.resolve("metrics.jsonl");
        if (!Files.isRegularFile(f)) {
            Map<Long, ObjectNode> bySteps = new TreeMap<>();
            for (Path events : TensorBoardEvents.files(dir)) {
                for (TensorBoardEvents.Event e : TensorBoardEvents.read(events)) {
                    if (e.sessionStart()) { // a resumed run: TensorBoard drops the steps from here on
                        bySteps.keySet().removeIf(s -> s >= e.step());
                    }
                    if (!e.scalars().isEmpty()) {
                        ObjectNode r = bySteps.computeIfAbsent(e.step(), s -> JSON.createObjectNode().put("step", s));
                        e.scalars().forEach((k, v) -> r.put(k, v.doubleValue()));
                    }
                }
            }
            return List.copyOf(bySteps.values());
        }
        List<JsonNode> records = jsonLines(f);
        for (int i = 0; i < records.size(); i++) {
            if (!records.get(i).path("step").isNumber()) {
                ((ObjectNode) records.get(i)).put("step", i + 1); // a record without a step: its position
            }
        }
        return records;
    }

    private static List<JsonNode> samples(Path dir) throws IOException {
        Path f = dir.resolve("samples.jsonl");
        return Files.isRegularFile(f) ? jsonLines(f) : List.of();
    }

    /** The JSON objects of a JSONL file (blank lines skipped); anything else is a UserError naming FILE:LINE. */
    private static List<JsonNode> jsonLines(Path f) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        List<String> lines = Files.readAllLines(f, StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) {
                continue;
            }
            JsonNode n;
            try {
                n = JSON.readTree(line);
            } catch (JsonProcessingException e) {
                throw new UserError(f + ":" + (i + 1) + ": not valid JSON: " + e.getOriginalMessage(), e);
            }
            if (!n.isObject()) {
                throw new UserError(f + ":" + (i + 1) + ": expected a JSON object, got " + n.getNodeType()
                        .toString().toLowerCase(Locale.ROOT));
            }
            out.add(n);
        }
        return out;
    }

    private static String resource(String name) {
        try (InputStream in = MetricsReport.class.getClassLoader().getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException(name + " is not on the class path");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
