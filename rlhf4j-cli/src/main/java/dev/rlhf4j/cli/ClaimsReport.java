package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.train.claims.SeedStats;
import dev.rlhf4j.train.claims.TrainingCurve;
import dev.rlhf4j.train.claims.Verdict;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/**
 * The claims' report in three forms: results.json (every number per seed, mean ± std, tests and verdicts),
 * report.md (tables and the PNG plots beside it) and report.html (the same, self-contained: plots as data: URIs,
 * every text escaped).
 */
final class ClaimsReport {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What the run was: seeds, sizes, times. */
    record Run(List<Long> seeds, boolean quick, Map<String, Object> sizes, Map<Long, Map<String, Double>> seconds,
               double totalSeconds, Map<Long, Map<String, TrainingCurve>> curves) {
    }

    private ClaimsReport() {
    }

    static ObjectNode json(Run run, List<ClaimsAnalysis.Claim> claims) {
        ObjectNode o = JSON.createObjectNode();
        ArrayNode seeds = o.putArray("seeds");
        run.seeds().forEach(seeds::add);
        o.put("quick", run.quick());
        o.putPOJO("sizes", run.sizes());
        o.put("verdict_rule", Verdict.RULE);
        o.put("cost_model", ClaimsAnalysis.COST_MODEL);
        o.put("curve_smoothing_steps", ClaimsAnalysis.SMOOTHING);
        ArrayNode cs = o.putArray("claims");
        for (ClaimsAnalysis.Claim c : claims) {
            ObjectNode n = cs.addObject();
            n.put("id", c.id());
            n.put("title", c.title());
            n.put("claim", c.statement());
            n.put("verdict", c.verdict().label());
            n.put("finding", c.finding());
            ObjectNode ms = n.putObject("measurements");
            for (ClaimsAnalysis.Measure m : c.measures()) {
                stats(ms.putObject(m.name()), m.perSeed());
            }
            ArrayNode ts = n.putArray("tests");
            for (ClaimsAnalysis.Test t : c.tests()) {
                ObjectNode tn = ts.addObject();
                tn.put("test", t.name());
                stats(tn.putObject("difference"), t.difference());
                tn.put("verdict", t.verdict().label());
            }
            ArrayNode ps = n.putArray("plots");
            c.plots().forEach(ps::add);
        }
        ObjectNode st = o.putObject("stage_seconds");
        run.seconds().forEach((seed, m) -> {
            ObjectNode s = st.putObject("seed-" + seed);
            m.forEach(s::put);
        });
        o.put("total_seconds", run.totalSeconds());
        // the PPO runs' curves per step, unsmoothed: gold of the rollouts, reward-model score, KL to the reference
        ObjectNode cv = o.putObject("curves");
        run.curves().forEach((seed, m) -> {
            ObjectNode s = cv.putObject("seed-" + seed);
            m.forEach((k, c) -> {
                ObjectNode n = s.putObject(k);
                ArrayNode steps = n.putArray("steps"), values = n.putArray("values");
                for (int i = 0; i < c.steps().length; i++) {
                    steps.add(c.steps()[i]);
                    if (Double.isFinite(c.values()[i])) {
                        values.add(c.values()[i]);
                    } else {
                        values.addNull();
                    }
                }
            });
        });
        return o;
    }

    private static void stats(ObjectNode n, double[] perSeed) {
        ArrayNode a = n.putArray("per_seed");
        for (double v : perSeed) {
            if (Double.isFinite(v)) {
                a.add(v);
            } else {
                a.addNull();
            }
        }
        SeedStats s = SeedStats.of(ClaimsAnalysis.finiteOrAll(perSeed));
        number(n, "mean", s.mean());
        number(n, "std", s.std());
        n.put("seeds_measured", (int) java.util.Arrays.stream(perSeed).filter(Double::isFinite).count());
    }

    /** JSON has no NaN: a number that could not be measured is null. */
    private static void number(ObjectNode n, String key, double v) {
        if (Double.isFinite(v)) {
            n.put(key, v);
        } else {
            n.putNull(key);
        }
    }

    static String markdown(Run run, List<ClaimsAnalysis.Claim> claims) {
        StringBuilder b = new StringBuilder();
        b.append("# rlhf4j claims\n\n");
        b.append(String.format("Seeds %s%s; this session took %.0f s (the stages' own times, from every session, "
                + "are at the end). Each number is the mean ± standard deviation over seeds; per-seed values are in "
                + "results.json.%n%n", run.seeds(), run.quick()
                ? " (--quick: a smoke run, the numbers mean little)" : "", run.totalSeconds()));
        b.append("| claim | verdict | finding |\n|---|---|---|\n");
        for (ClaimsAnalysis.Claim c : claims) {
            b.append("| ").append(c.id()).append(". ").append(cell(c.title())).append(" | **")
                    .append(c.verdict().label()).append("** | ").append(cell(c.finding())).append(" |\n");
        }
        b.append("\n**Verdict rule.** ").append(Verdict.RULE).append("\n\n");
        b.append("**Cost model (claim 2).** ").append(ClaimsAnalysis.COST_MODEL).append(".\n\n");
        for (ClaimsAnalysis.Claim c : claims) {
            b.append("## ").append(c.id()).append(". ").append(c.title()).append("\n\n");
            b.append("*Claim:* ").append(c.statement()).append("\n\n");
            b.append("*Verdict:* **").append(c.verdict().label()).append("**. ").append(c.finding()).append("\n\n");
            b.append("| test | difference per seed | mean ± std | verdict |\n|---|---|---|---|\n");
            for (ClaimsAnalysis.Test t : c.tests()) {
                b.append("| ").append(cell(t.name())).append(" | ").append(perSeed(t.difference())).append(" | ")
                        .append(fmt(t.difference())).append(" | ").append(t.verdict().label()).append(" |\n");
            }
            b.append("\n| measurement | per seed | mean ± std |\n|---|---|---|\n");
            for (ClaimsAnalysis.Measure m : c.measures()) {
                b.append("| ").append(cell(m.name())).append(" | ").append(perSeed(m.perSeed())).append(" | ")
                        .append(fmt(m.perSeed())).append(" |\n");
            }
            b.append('\n');
            for (String p : c.plots()) {
                b.append("![").append(p).append("](").append(p).append(")\n\n");
            }
        }
        b.append("## Time per stage (seconds)\n\n");
        run.seconds().forEach((seed, m) -> {
            b.append("Seed ").append(seed).append(": ");
            StringBuilder line = new StringBuilder();
            m.forEach((k, v) -> line.append(line.isEmpty() ? "" : ", ").append(k).append(' ')
                    .append(String.format("%.0f", v)));
            b.append(line.isEmpty() ? "every stage kept from an earlier run" : line).append(".\n\n");
        });
        return b.toString();
    }

    private static String cell(String s) {
        return s.replace("|", "\\|").replace("\n", " ");
    }

    private static String perSeed(double[] v) {
        StringBuilder b = new StringBuilder();
        for (double x : v) {
            b.append(b.isEmpty() ? "" : ", ").append(Double.isFinite(x) ? String.format("%.4g", x) : "n/a");
        }
        return b.toString();
    }

    private static String fmt(double[] v) {
        SeedStats s = SeedStats.of(ClaimsAnalysis.finiteOrAll(v));
        return Double.isFinite(s.mean()) ? String.format("%.4g ± %.2g", s.mean(), s.std()) : "n/a";
    }

    /** The report as one HTML file: the markdown's content, escaped, with every PNG inlined. */
    static String html(Run run, List<ClaimsAnalysis.Claim> claims, Path out) throws IOException {
        StringBuilder b = new StringBuilder();
        b.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>rlhf4j claims</title>\n")
                .append("<style>body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}"
                        + "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
                        + "text-align:left;vertical-align:top}.supported{color:#070}.contradicted{color:#a00}"
                        + ".inconclusive{color:#a60}img{max-width:100%}</style></head><body>\n");
        b.append("<h1>rlhf4j claims</h1>\n<p>").append(esc(String.format("Seeds %s%s; this session took %.0f s "
                + "(the stages' own times, from every session, are at the end). Each number is the mean ± standard "
                + "deviation over seeds; per-seed values are in results.json.",
                run.seeds(), run.quick() ? " (--quick: a smoke run, the numbers mean little)" : "",
                run.totalSeconds()))).append("</p>\n");
        b.append("<table><tr><th>claim</th><th>verdict</th><th>finding</th></tr>\n");
        for (ClaimsAnalysis.Claim c : claims) {
            b.append("<tr><td>").append(c.id()).append(". ").append(esc(c.title())).append("</td>")
                    .append(verdict(c.verdict())).append("<td>").append(esc(c.finding())).append("</td></tr>\n");
        }
        b.append("</table>\n<p><b>Verdict rule.</b> ").append(esc(Verdict.RULE)).append("</p>\n");
        b.append("<p><b>Cost model (claim 2).</b> ").append(esc(ClaimsAnalysis.COST_MODEL)).append(".</p>\n");
        for (ClaimsAnalysis.Claim c : claims) {
            b.append("<h2>").append(c.id()).append(". ").append(esc(c.title())).append("</h2>\n");
            b.append("<p><i>Claim:</i> ").append(esc(c.statement())).append("</p>\n");
            b.append("<p><i>Verdict:</i> <b class=\"").append(c.verdict().label()).append("\">")
                    .append(c.verdict().label()).append("</b>. ").append(esc(c.finding())).append("</p>\n");
            b.append("<table><tr><th>test</th><th>difference per seed</th><th>mean ± std</th><th>verdict</th></tr>\n");
            for (ClaimsAnalysis.Test t : c.tests()) {
                b.append("<tr><td>").append(esc(t.name())).append("</td><td>").append(esc(perSeed(t.difference())))
                        .append("</td><td>").append(esc(fmt(t.difference()))).append("</td>")
                        .append(verdict(t.verdict())).append("</tr>\n");
            }
            b.append("</table>\n<table><tr><th>measurement</th><th>per seed</th><th>mean ± std</th></tr>\n");
            for (ClaimsAnalysis.Measure m : c.measures()) {
                b.append("<tr><td>").append(esc(m.name())).append("</td><td>").append(esc(perSeed(m.perSeed())))
                        .append("</td><td>").append(esc(fmt(m.perSeed()))).append("</td></tr>\n");
            }
            b.append("</table>\n");
            for (String p : c.plots()) {
                byte[] png = Files.readAllBytes(out.resolve(p));
                b.append("<p><img alt=\"").append(esc(p)).append("\" src=\"data:image/png;base64,")
                        .append(Base64.getEncoder().encodeToString(png)).append("\"></p>\n");
            }
        }
        b.append("<h2>Time per stage (seconds)</h2>\n<table><tr><th>seed</th><th>stages</th></tr>\n");
        run.seconds().forEach((seed, m) -> {
            StringBuilder line = new StringBuilder();
            m.forEach((k, v) -> line.append(line.isEmpty() ? "" : ", ").append(k).append(' ')
                    .append(String.format("%.0f", v)));
            b.append("<tr><td>").append(seed).append("</td><td>").append(esc(line.toString())).append("</td></tr>\n");
        });
        b.append("</table>\n</body></html>\n");
        return b.toString();
    }

    private static String verdict(Verdict v) {
        return "<td class=\"" + v.label() + "\">" + v.label() + "</td>";
    }

    /** Text as HTML: the five characters that could start markup or end an attribute are escaped. */
    static String esc(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '&' -> b.append("&amp;");
                case '<' -> b.append("&lt;");
                case '>' -> b.append("&gt;");
                case '"' -> b.append("&quot;");
                case '\'' -> b.append("&#39;");
                default -> b.append(c);
            }
        }
        return b.toString();
    }
}
