package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.train.lab.LabWorld;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What {@code rlhf4j compare-methods} reports: per method the mean over seeds of each seed's figure with its standard
 * error across seeds, the per-seed figures, whether DPO (and each method) beats SFT's gold reward by the paired rule
 * the claims use (the mean per-seed difference is more than two standard errors from zero), a gold-vs-KL scatter and
 * a bar chart of gold reward.
 */
final class MethodsReport {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Map<Long, Map<String, ObjectNode>> results;
    private final MethodsSeed.Sizes sizes;
    private final double seconds;
    private final List<String> methods = new ArrayList<>();

    MethodsReport(Map<Long, Map<String, ObjectNode>> results, MethodsSeed.Sizes sizes, double seconds) {
        this.results = results;
        this.sizes = sizes;
        this.seconds = seconds;
        for (Map<String, ObjectNode> seed : results.values()) {
            for (String m : seed.keySet()) {
                if (!methods.contains(m)) {
                    methods.add(m);
                }
            }
        }
    }

    /** A figure of every seed that has the method. */
    double[] perSeed(String method, String field) {
        List<Double> v = new ArrayList<>();
        for (Map<String, ObjectNode> seed : results.values()) {
            ObjectNode o = seed.get(method);
            if (o != null) {
                v.add(field.startsWith("part:") ? o.path("gold_parts").path(field.substring(5)).asDouble(Double.NaN)
                        : o.path(field).asDouble(Double.NaN));
            }
        }
        return v.stream().mapToDouble(Double::doubleValue).toArray();
    }

    static double mean(double[] x) {
        double s = 0;
        for (double v : x) {
            s += v;
        }
        return x.length == 0 ? Double.NaN : s / x.length;
    }

    /** The standard error of the mean across seeds (sample standard deviation / √n); NaN for fewer than 2. */
    static double stderr(double[] x) {
        if (x.length < 2) {
            return Double.NaN;
        }
        double m = mean(x), q = 0;
        for (double v : x) {
            q += (v - m) * (v - m);
        }
        return Math.sqrt(q / (x.length - 1)) / Math.sqrt(x.length);
    }

    /** Per-seed differences of {@code method}'s gold reward from SFT's. */
    double[] goldGain(String method) {
        double[] a = perSeed(method, "gold"), b = perSeed("sft", "gold");
        double[] d = new double[Math.min(a.length, b.length)];
        for (int i = 0; i < d.length; i++) {
            d[i] = a[i] - b[i];
        }
        return d;
    }

    /** "better", "worse" or "no clear difference" than SFT by the paired rule; "one seed" without a spread. */
    String verdict(String method) {
        double[] d = goldGain(method);
        double m = mean(d), se = stderr(d);
        if (Double.isNaN(se)) {
            return "one seed";
        }
        return m - 2 * se > 0 ? "better" : m + 2 * se < 0 ? "worse" : "no clear difference";
    }

    ObjectNode json() {
        ObjectNode root = JSON.createObjectNode();
        root.put("seeds", results.size());
        root.put("pairs", sizes.pairs());
        root.put("steps", sizes.steps());
        root.put("eval_prompts", sizes.evalPrompts());
        root.put("quick", sizes.quick());
        root.put("total_seconds", seconds);
        ObjectNode ms = root.putObject("methods");
        for (String m : methods) {
            ObjectNode n = ms.putObject(m);
            n.put("description", firstOf(m).path("description").asText());
            for (String f : fields()) {
                double[] v = perSeed(m, f);
                ObjectNode s = n.putObject(f.replace("part:", "gold_part/"));
                s.put("mean", mean(v));
                s.put("stderr", stderr(v));
                com.fasterxml.jackson.databind.node.ArrayNode a = s.putArray("per_seed");
                for (double x : v) {
                    a.add(x);
                }
            }
            if (!m.equals("sft")) {
                double[] g = goldGain(m);
                ObjectNode s = n.putObject("gold_gain_over_sft");
                s.put("mean", mean(g));
                s.put("stderr", stderr(g));
                s.put("verdict", verdict(m));
            }
        }
        return root;
    }

    private ObjectNode firstOf(String method) {
        for (Map<String, ObjectNode> seed : results.values()) {
            if (seed.containsKey(method)) {
                return seed.get(method);
            }
        }
        throw new IllegalStateException("no seed has " + method);
    }

    private static List<String> fields() {
        List<String> f = new ArrayList<>(List.of("gold"));
        for (String p : LabWorld.PARTS) {
            f.add("part:" + p);
        }
        f.addAll(List.of("reward_model", "kl_to_sft", "win_rate_vs_sft", "response_tokens", "generated_tokens",
                "seconds", "peak_heap_mib", "model_state_mib"));
        return f;
    }

    /** Gold vs KL (one point per method and seed) and gold by method (mean ± standard error over seeds). */
    void plots(Path dir) throws IOException {
        Map<String, double[][]> points = new LinkedHashMap<>();
        Map<String, PngCharts.Bar> bars = new LinkedHashMap<>();
        for (String m : methods) {
            double[] g = perSeed(m, "gold"), kl = perSeed(m, "kl_to_sft");
            double[][] p = new double[g.length][];
            for (int i = 0; i < g.length; i++) {
                p[i] = new double[] {kl[i], g[i]};
            }
            points.put(m + (firstOf(m).path("kl_is_bound").asBoolean() ? " (KL bound)" : ""), p);
            double se = stderr(g);
            bars.put(m, new PngCharts.Bar(mean(g), Double.isNaN(se) ? 0 : se));
        }
        PngCharts.scatter(dir.resolve("gold-vs-kl.png"), "Held-out gold reward against KL to the SFT model",
                "KL to SFT (nats per response)", "gold reward", points);
        PngCharts.bars(dir.resolve("gold-by-method.png"), "Held-out gold reward (mean ± s.e. over seeds)",
                "gold reward", Map.of("gold", bars));
    }

    /** The table as text, for the console. */
    String table() {
        StringBuilder b = new StringBuilder(String.format("%n%-12s %15s %8s %8s %8s %8s %10s %10s %8s%n", "method",
                "gold ± se", "RM", "KL", "win", "vs SFT", "gen tok", "time s", "heap MiB"));
        for (String m : methods) {
            b.append(String.format("%-12s %15s %8.3f %8.3f %7.1f%% %8s %10.0f %10.1f %8s%n", m,
                    pm(perSeed(m, "gold")), mean(perSeed(m, "reward_model")), mean(perSeed(m, "kl_to_sft")),
                    100 * mean(perSeed(m, "win_rate_vs_sft")), m.equals("sft") ? "-" : shortVerdict(m),
                    mean(perSeed(m, "generated_tokens")), mean(perSeed(m, "seconds")),
                    orDash(mean(perSeed(m, "peak_heap_mib")))));
        }
        return b.toString();
    }

    private String shortVerdict(String m) {
        return switch (verdict(m)) {
            case "better" -> "better";
            case "worse" -> "worse";
            case "one seed" -> "1 seed";
            default -> "≈";
        };
    }

    private static String orDash(double v) {
        return Double.isFinite(v) ? String.format("%.0f", v) : "-";
    }

    private static String pm(double[] v) {
        double se = stderr(v);
        return Double.isNaN(se) ? String.format("%.3f", mean(v)) : String.format("%.3f ± %.3f", mean(v), se);
    }

    /** report.md: the setup, the table, the gains over SFT, the per-seed gold and the plots. */
    String markdown(String plotDir) {
        StringBuilder b = new StringBuilder("# Alignment methods compared on the lab world\n\n");
        b.append(String.format("%d seed%s%s; per seed %,d labelled pairs (the reward model's and DPO's data), %d steps "
                + "of 64 generated responses for the online methods, %d held-out prompts (one response each at "
                + "temperature 1, at most 48 tokens); %.0f s in all. Figures are means over seeds ± the standard error "
                + "across seeds.%n%n", results.size(), results.size() == 1 ? "" : "s",
                sizes.quick() ? " (--quick: the numbers mean little)" : "", sizes.pairs(), sizes.steps(),
                sizes.evalPrompts(), seconds));
        b.append("| method | gold | ");
        for (String p : LabWorld.PARTS) {
            b.append(p).append(" | ");
        }
        b.append("RM score | KL to SFT | win vs SFT | gain over SFT | response tokens generated in training | "
                + "wall time (s) | peak heap after GC (MiB) | model state (MiB) |\n|---|---|");
        b.append("---|".repeat(LabWorld.PARTS.size() + 8)).append('\n');
        for (String m : methods) {
            b.append("| ").append(m).append(" | ").append(pm(perSeed(m, "gold"))).append(" | ");
            for (String p : LabWorld.PARTS) {
                b.append(String.format("%.3f | ", mean(perSeed(m, "part:" + p))));
            }
            boolean bound = firstOf(m).path("kl_is_bound").asBoolean();
            boolean sft = m.equals("sft");
            b.append(String.format("%.3f | %s%s | %.1f%% | %s | %,.0f | %s | %s | %.1f |%n",
                    mean(perSeed(m, "reward_model")), pm(perSeed(m, "kl_to_sft")), bound ? " (bound)" : "",
                    100 * mean(perSeed(m, "win_rate_vs_sft")), sft ? "-" : pm(goldGain(m)) + " (" + verdict(m) + ")",
                    mean(perSeed(m, "generated_tokens")), sft ? "-" : String.format("%.0f", mean(perSeed(m,
                            "seconds"))), orDash(mean(perSeed(m, "peak_heap_mib"))),
                    mean(perSeed(m, "model_state_mib"))));
        }
        b.append("\nWhat each row is:\n\n");
        for (String m : methods) {
            b.append("- **").append(m).append("**: ").append(firstOf(m).path("description").asText()).append('\n');
        }
        b.append("\n\"gain over SFT\" is the mean per-seed difference of gold reward from the SFT model's; \"better\" "
                + "or \"worse\" when it is more than two standard errors from zero. Best-of-n's KL is the bound "
                + "log n − (n − 1)/n of the KL of its output distribution to the SFT model's. Peak heap after GC is "
                + "the most heap in use right after any garbage collection during the method's stage (in one JVM): "
                + "an upper bound of what the stage kept alive, since garbage already in the old generation is "
                + "counted until a full collection, so it moves with the collector's timing; model state is exact: "
                + "the weights of every model a method holds and the gradients and two AdamW moments of each trained "
                + "one, in float32.\n\n");
        b.append("## Gold reward per seed\n\n| method |");
        for (Long s : results.keySet()) {
            b.append(" seed ").append(s).append(" |");
        }
        b.append("\n|---|").append("---|".repeat(results.size())).append('\n');
        for (String m : methods) {
            b.append("| ").append(m).append(" |");
            for (Map<String, ObjectNode> seed : results.values()) {
                ObjectNode o = seed.get(m);
                b.append(o == null ? " - |" : String.format(" %.3f |", o.path("gold").asDouble()));
            }
            b.append('\n');
        }
        b.append("\n![gold vs KL](").append(plotDir).append("/gold-vs-kl.png)\n\n![gold by method](").append(plotDir)
                .append("/gold-by-method.png)\n");
        return b.toString();
    }
}
