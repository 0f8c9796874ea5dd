package dev.rlhf4j.cli;

import dev.rlhf4j.train.claims.Perplexity;
import dev.rlhf4j.train.claims.SeedStats;
import dev.rlhf4j.train.claims.TrainingCurve;
import dev.rlhf4j.train.claims.Verdict;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.ToDoubleFunction;

import static dev.rlhf4j.cli.ClaimsSeed.MAIN_BETA;
import static dev.rlhf4j.cli.ClaimsSeed.arm;

/**
 * The claims judged from every seed's measurements: per claim the numbers (per seed, mean ± std), the tests with
 * their verdicts ({@link Verdict#decide}) and a finding in words, and the plots.
 */
final class ClaimsAnalysis {
    /**
     * What a comparison costs in units of one written demonstration. InstructGPT does not publish a price per label;
     * its labelers wrote a demonstration per prompt but ranked K = 4 to 9 responses per prompt (Ouyang et al. 2022,
     * section 3.4 and appendix B), which yields up to C(K, 2) comparisons each, and a comparison only asks to read
     * two responses. One comparison as a quarter of a demonstration is our assumption, stated so it can be changed;
     * the report also gives the break-even price.
     */
    static final double COMPARISON_COST = 0.25;
    static final String COST_MODEL = "one written demonstration = 1 unit of human cost, one comparison = "
            + COMPARISON_COST + " unit (an assumption: InstructGPT's labelers wrote one demonstration per prompt but "
            + "ranked K = 4 to 9 responses per prompt, up to C(K,2) comparisons each, and a comparison only asks to "
            + "read two answers; the paper gives no price per label)";
    /** Steps over which the training curves are averaged (one step's rollouts are a noisy estimate). */
    static final int SMOOTHING = 5;

    /** One measured quantity: its value on each seed. */
    record Measure(String name, double[] perSeed) {
        SeedStats stats() {
            return SeedStats.of(finiteOrAll(perSeed));
        }
    }

    /** One test of a claim: the per-seed difference (favoured − other) and its verdict. */
    record Test(String name, double[] difference, Verdict verdict) {
    }

    /** One claim, judged. */
    record Claim(int id, String title, String statement, List<Measure> measures, List<Test> tests, Verdict verdict,
                 String finding, List<String> plots) {
    }

    private final List<ClaimsSeed.Result> seeds;
    private final ClaimsSeed.Sizes z;
    private final Path out;

    ClaimsAnalysis(List<ClaimsSeed.Result> seeds, ClaimsSeed.Sizes sizes, Path out) {
        this.seeds = seeds;
        this.z = sizes;
        this.out = out;
    }

    List<Claim> judge(Set<Integer> only) throws IOException {
        List<Claim> claims = new ArrayList<>();
        for (int c : only.stream().sorted().toList()) {
            claims.add(switch (c) {
                case 1 -> claim1();
                case 2 -> claim2();
                case 3 -> claim3();
                case 4 -> claim4();
                case 5 -> claim5();
                case 6 -> claim6();
                case 7 -> claim7();
                default -> throw new IllegalArgumentException("no claim " + c);
            });
        }
        return claims;
    }

    // ---------------------------------------------------------------------------------------------- helpers

    private double[] each(ToDoubleFunction<ClaimsSeed.Result> f) {
        return seeds.stream().mapToDouble(f).toArray();
    }

    private double[] scalar(String key) {
        return each(r -> r.get(key));
    }

    private Measure measure(String name, String key) {
        return new Measure(name, scalar(key));
    }

    private static double[] minus(double[] a, double[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i] - b[i];
        }
        return d;
    }

    private static Test test(String name, double[] favoured, double[] other) {
        double[] d = minus(favoured, other);
        return new Test(name, d, Verdict.decide(d));
    }

    /** The finite values, or all of them when none is finite (a mean of NaN then says "not measured"). */
    static double[] finiteOrAll(double[] v) {
        double[] f = java.util.Arrays.stream(v).filter(Double::isFinite).toArray();
        return f.length == 0 ? v : f;
    }

    private static String f(SeedStats s, int digits) {
        return Double.isFinite(s.mean()) ? s.format(digits) : "n/a";
    }

    private String plot(String name) {
        return "plots/" + name + ".png";
    }

    private Path png(String name) {
        return out.resolve(plot(name));
    }

    /** The mean over seeds of a smoothed training curve (the seeds' curves have the same steps). */
    private double[][] meanCurve(String key) {
        List<TrainingCurve> cs = new ArrayList<>();
        for (ClaimsSeed.Result r : seeds) {
            TrainingCurve c = r.curves().get(key);
            if (c != null) {
                cs.add(key.startsWith("gold/") || key.startsWith("proxy/") ? c.smoothed(SMOOTHING) : c);
            }
        }
        if (cs.isEmpty()) {
            return new double[][] {{}, {}};
        }
        int n = cs.stream().mapToInt(c -> c.steps().length).min().orElse(0);
        double[] x = new double[n], y = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = cs.get(0).steps()[i];
            for (TrainingCurve c : cs) {
                y[i] += c.values()[i] / cs.size();
            }
        }
        return new double[][] {x, y};
    }

    private static PngCharts.Line flat(double[] x, double level) {
        double[] y = new double[x.length];
        java.util.Arrays.fill(y, level);
        return new PngCharts.Line(x, y, false);
    }

    private PngCharts.Bar bar(String key) {
        SeedStats s = SeedStats.of(finiteOrAll(scalar(key)));
        return new PngCharts.Bar(s.mean(), s.std());
    }

    // ---------------------------------------------------------------------------------------------- claims

    private Claim claim1() throws IOException {
        String fromSft = arm("u", MAIN_BETA), fromBase = arm("base", MAIN_BETA);
        double[] sftGold = scalar("gold/sft");
        // steps until the smoothed gold of the base-started run's rollouts reaches the SFT model's held-out gold
        double[] steps = new double[seeds.size()];
        for (int i = 0; i < seeds.size(); i++) {
            TrainingCurve c = seeds.get(i).curves().get("gold/" + fromBase);
            int s = c == null ? -1 : c.smoothed(SMOOTHING).firstStepReaching(sftGold[i]);
            steps[i] = s < 0 ? Double.NaN : s;
        }
        List<Measure> m = List.of(measure("gold: base model", "gold/base"), measure("gold: SFT model", "gold/sft"),
                measure("gold: PPO from SFT", "gold/" + fromSft), measure("gold: PPO from base", "gold/" + fromBase),
                measure("KL to SFT: PPO from SFT", "kl/" + fromSft),
                new Measure("steps for PPO from base to reach SFT's gold (NaN: not within " + z.ppoSteps() + ")",
                        steps));
        Test t = test("PPO from SFT − PPO from base (held-out gold, same reward model, " + z.ppoSteps() + " steps)",
                scalar("gold/" + fromSft), scalar("gold/" + fromBase));
        double[][] a = meanCurve("gold/" + fromSft), b = meanCurve("gold/" + fromBase);
        Map<String, PngCharts.Line> lines = new LinkedHashMap<>();
        lines.put("PPO from SFT", PngCharts.Line.of(a[0], a[1]));
        lines.put("PPO from base", PngCharts.Line.of(b[0], b[1]));
        lines.put("SFT model (held-out)", flat(a[0], SeedStats.of(sftGold).mean()));
        PngCharts.lines(png("claim1-gold-vs-step"), "Gold reward along PPO (mean of seeds, " + SMOOTHING
                + "-step mean)", "PPO step", "gold reward of rollouts", lines, false);
        long reached = java.util.Arrays.stream(steps).filter(Double::isFinite).count();
        String finding = String.format("After %d PPO steps, PPO from SFT reaches gold %s, PPO from the base model %s "
                        + "(SFT alone %s, base %s); the base-started run reached SFT's gold on %d of %d seeds%s.",
                z.ppoSteps(), f(m.get(2).stats(), 3), f(m.get(3).stats(), 3), f(m.get(1).stats(), 3),
                f(m.get(0).stats(), 3), reached, seeds.size(), reached > 0 ? " (after " + f(m.get(5).stats(), 0)
                        + " steps)" : "");
        return new Claim(1, "SFT is the right warm start", "PPO from the SFT model reaches a higher gold reward than "
                + "PPO from the pretrained base model with the same reward model and budget.", m, List.of(t),
                t.verdict(), finding, List.of(plot("claim1-gold-vs-step")));
    }

    private Claim claim2() throws IOException {
        String rlhf = arm("u", MAIN_BETA);
        double costSft = z.sft(), costRlhf = z.sft() + COMPARISON_COST * z.rmPairs();
        List<Measure> m = List.of(measure("gold: SFT (" + z.sft() + " demonstrations)", "gold/sft"),
                measure("gold: SFT 2× (" + 2 * z.sft() + ")", "gold/sft-2x"),
                measure("gold: SFT 4× (" + 4 * z.sft() + ")", "gold/sft-4x"),
                measure("gold: SFT + RLHF (" + z.sft() + " demonstrations + " + z.rmPairs() + " comparisons)",
                        "gold/" + rlhf));
        Test t = test(String.format("SFT + RLHF (cost %.0f) − SFT 2× (cost %.0f)", costRlhf, 2 * costSft),
                scalar("gold/" + rlhf), scalar("gold/sft-2x"));
        Test t4 = test(String.format("SFT + RLHF (cost %.0f) − SFT 4× (cost %.0f)", costRlhf, 4 * costSft),
                scalar("gold/" + rlhf), scalar("gold/sft-4x"));
        Map<String, PngCharts.Line> lines = new LinkedHashMap<>();
        lines.put("SFT with more demonstrations", new PngCharts.Line(new double[] {costSft, 2 * costSft,
                4 * costSft}, new double[] {m.get(0).stats().mean(), m.get(1).stats().mean(), m.get(2).stats().mean()},
                true));
        lines.put("SFT + RLHF", new PngCharts.Line(new double[] {costSft, costRlhf},
                new double[] {m.get(0).stats().mean(), m.get(3).stats().mean()}, true));
        PngCharts.lines(png("claim2-gold-vs-cost"), "Gold reward against human cost (mean of seeds)",
                "human cost (demonstration = 1, comparison = " + COMPARISON_COST + ")", "held-out gold reward",
                lines, false);
        // the price of a comparison at which the RLHF arm's gain over SFT would cost as much as 2× demonstrations'
        double gainRlhf = m.get(3).stats().mean() - m.get(0).stats().mean();
        double gain2x = m.get(1).stats().mean() - m.get(0).stats().mean();
        String finding = String.format("SFT + RLHF costs %.0f units (cost model below) and reaches gold %s; SFT "
                        + "with 2× demonstrations costs %.0f and reaches %s, with 4× (cost %.0f) %s. Gain over SFT "
                        + "per unit of added cost: RLHF %.2e, 2× demonstrations %.2e.", costRlhf,
                f(m.get(3).stats(), 3), 2 * costSft, f(m.get(1).stats(), 3), 4 * costSft, f(m.get(2).stats(), 3),
                gainRlhf / (costRlhf - costSft), gain2x / costSft);
        return new Claim(2, "RLHF learns what demonstrations cannot", "At equal or lower human cost, SFT + RLHF "
                + "reaches a higher gold reward than SFT on more demonstrations (2×; 4× is reported, it costs more).",
                m, List.of(t, t4), t.verdict(), finding, List.of(plot("claim2-gold-vs-cost")));
    }

    private Claim claim3() throws IOException {
        List<Measure> m = new ArrayList<>();
        for (String rm : List.of("u", "x")) {
            String who = rm.equals("u") ? "unbiased RM" : "length-biased RM";
            for (double b : ClaimsSeed.BETAS) {
                m.add(measure("gold: " + who + ", β=" + ClaimsSeed.beta(b), "gold/" + arm(rm, b)));
            }
            for (double b : ClaimsSeed.BETAS) {
                m.add(measure("KL to SFT: " + who + ", β=" + ClaimsSeed.beta(b), "kl/" + arm(rm, b)));
            }
            for (double b : ClaimsSeed.BETAS) {
                m.add(measure("response tokens: " + who + ", β=" + ClaimsSeed.beta(b), "tokens/" + arm(rm, b)));
            }
        }
        // where the gold of the β = 0 runs' rollouts peaks along training, and how far it falls from there
        for (String rm : List.of("u", "x")) {
            String key = "gold/" + arm(rm, 0);
            double[] peakStep = new double[seeds.size()], drop = new double[seeds.size()],
                    peakSqrtKl = new double[seeds.size()];
            for (int i = 0; i < seeds.size(); i++) {
                TrainingCurve g = seeds.get(i).curves().get(key);
                TrainingCurve kl = seeds.get(i).curves().get("kl/" + arm(rm, 0));
                if (g == null || g.steps().length == 0) {
                    peakStep[i] = drop[i] = peakSqrtKl[i] = Double.NaN;
                    continue;
                }
                TrainingCurve s = g.smoothed(SMOOTHING);
                int p = s.peakIndex();
                peakStep[i] = s.steps()[p];
                drop[i] = s.values()[p] - s.last();
                peakSqrtKl[i] = Math.sqrt(Math.max(0, kl.values()[p]));
            }
            String who = rm.equals("u") ? "unbiased RM" : "length-biased RM";
            m.add(new Measure("β=0, " + who + ": step where the rollouts' gold peaks", peakStep));
            m.add(new Measure("β=0, " + who + ": √KL at the peak", peakSqrtKl));
            m.add(new Measure("β=0, " + who + ": gold lost from the peak to the last step", drop));
        }
        Test biased = test("length-biased RM: β=" + ClaimsSeed.beta(MAIN_BETA) + " − β=0 (held-out gold)",
                scalar("gold/" + arm("x", MAIN_BETA)), scalar("gold/" + arm("x", 0)));
        Test unbiased = test("unbiased RM: β=" + ClaimsSeed.beta(MAIN_BETA) + " − β=0 (held-out gold)",
                scalar("gold/" + arm("u", MAIN_BETA)), scalar("gold/" + arm("u", 0)));
        List<String> plots = new ArrayList<>();
        for (String rm : List.of("u", "x")) {
            String who = rm.equals("u") ? "unbiased" : "length-biased";
            Map<String, PngCharts.Line> g = new LinkedHashMap<>();
            for (double b : ClaimsSeed.BETAS) {
                double[][] c = meanCurve("gold/" + arm(rm, b));
                g.put("β=" + ClaimsSeed.beta(b), PngCharts.Line.of(c[0], c[1]));
            }
            String name = "claim3-gold-vs-step-" + who;
            PngCharts.lines(png(name), "Gold reward along PPO, " + who + " reward model", "PPO step",
                    "gold reward of rollouts", g, false);
            plots.add(plot(name));
        }
        for (String what : List.of("gold", "proxy")) {
            Map<String, PngCharts.Line> g = new LinkedHashMap<>();
            for (String rm : List.of("u", "x")) {
                for (int k = 0; k < ClaimsSeed.BETAS.length; k++) {
                    double b = ClaimsSeed.BETAS[k];
                    double[][] y = meanCurve(what + "/" + arm(rm, b)), kl = meanCurve("kl/" + arm(rm, b));
                    int n = Math.min(y[0].length, kl[0].length);
                    // one colour per β; the length-biased reward model's lines dashed
                    g.put((rm.equals("u") ? "unbiased" : "biased") + " β=" + ClaimsSeed.beta(b), new PngCharts.Line(
                            TrainingCurve.sqrtKl(java.util.Arrays.copyOf(kl[1], n)),
                            java.util.Arrays.copyOf(y[1], n), false).styled(rm.equals("x"), k));
                }
            }
            String name = "claim3-" + what + "-vs-sqrt-kl";
            PngCharts.lines(png(name), (what.equals("gold") ? "Gold" : "Proxy (reward model)")
                    + " reward against √KL along PPO", "√KL(policy ‖ SFT) per response (nats^½)",
                    what.equals("gold") ? "gold reward of rollouts" : "normalised reward-model score", g, false);
            plots.add(plot(name));
        }
        String finding = String.format("Held-out gold with the length-biased reward model: β=0 %s, β=%s %s (KL %s vs "
                        + "%s nats, %s vs %s tokens); with the unbiased one: β=0 %s, β=%s %s. With β=0 and the biased "
                        + "reward model the rollouts' gold peaks at step %s (√KL %s) and loses %s by the last step.",
                f(stat("gold/" + arm("x", 0)), 3), ClaimsSeed.beta(MAIN_BETA), f(stat("gold/" + arm("x", MAIN_BETA)),
                        3), f(stat("kl/" + arm("x", 0)), 2), f(stat("kl/" + arm("x", MAIN_BETA)), 2),
                f(stat("tokens/" + arm("x", 0)), 1), f(stat("tokens/" + arm("x", MAIN_BETA)), 1),
                f(stat("gold/" + arm("u", 0)), 3), ClaimsSeed.beta(MAIN_BETA), f(stat("gold/" + arm("u", MAIN_BETA)),
                        3), f(m.get(m.size() - 3).stats(), 0), f(m.get(m.size() - 2).stats(), 2),
                f(m.get(m.size() - 1).stats(), 3));
        return new Claim(3, "The KL penalty prevents reward hacking", "Against a reward model with an exploitable "
                + "bias (annotators who like length), PPO with a KL penalty (β=" + ClaimsSeed.beta(MAIN_BETA)
                + ") ends at a higher gold reward than without (β=0); the over-optimisation curves (gold against √KL) "
                + "show where gold peaks and falls.", m, List.of(biased, unbiased), biased.verdict(), finding, plots);
    }

    private SeedStats stat(String key) {
        return SeedStats.of(finiteOrAll(scalar(key)));
    }

    private Claim claim4() throws IOException {
        String ptx0 = arm("u", MAIN_BETA), beta0 = arm("u", 0), ptx = arm("ptx", MAIN_BETA);
        List<Measure> m = List.of(measure("perplexity: base", "perplexity/base"),
                measure("perplexity: SFT (before PPO)", "perplexity/sft"),
                measure("perplexity: PPO β=" + ClaimsSeed.beta(MAIN_BETA) + ", ptx 0", "perplexity/" + ptx0),
                measure("perplexity: PPO β=" + ClaimsSeed.beta(MAIN_BETA) + ", ptx " + ClaimsSeed.PTX_COEF,
                        "perplexity/" + ptx),
                measure("perplexity: PPO β=0, ptx 0", "perplexity/" + beta0),
                forgetting("PPO β=" + ClaimsSeed.beta(MAIN_BETA) + ", ptx 0", ptx0),
                forgetting("PPO β=" + ClaimsSeed.beta(MAIN_BETA) + ", ptx " + ClaimsSeed.PTX_COEF, ptx),
                forgetting("PPO β=0, ptx 0", beta0),
                measure("gold: PPO ptx 0", "gold/" + ptx0), measure("gold: PPO ptx " + ClaimsSeed.PTX_COEF,
                        "gold/" + ptx), measure("gold: PPO β=0", "gold/" + beta0));
        Test kl = test("KL limits forgetting: perplexity(β=0) − perplexity(β=" + ClaimsSeed.beta(MAIN_BETA) + ")",
                scalar("perplexity/" + beta0), scalar("perplexity/" + ptx0));
        Test px = test("ptx limits forgetting: perplexity(ptx 0) − perplexity(ptx " + ClaimsSeed.PTX_COEF + ")",
                scalar("perplexity/" + ptx0), scalar("perplexity/" + ptx));
        Map<String, PngCharts.Bar> bars = new LinkedHashMap<>();
        bars.put("base", bar("perplexity/base"));
        bars.put("SFT", bar("perplexity/sft"));
        bars.put("PPO β=" + ClaimsSeed.beta(MAIN_BETA), bar("perplexity/" + ptx0));
        bars.put("PPO-ptx", bar("perplexity/" + ptx));
        bars.put("PPO β=0", bar("perplexity/" + beta0));
        PngCharts.bars(png("claim4-perplexity"), "Perplexity on held-out pretraining text (mean ± std over seeds)",
                "perplexity", Map.of("perplexity", bars));
        String finding = String.format("Perplexity on held-out pretraining text: SFT %s; after PPO with β=%s %s, with "
                        + "ptx %s, with β=0 %s (base model %s).", f(m.get(1).stats(), 3), ClaimsSeed.beta(MAIN_BETA),
                f(m.get(2).stats(), 3), f(m.get(3).stats(), 3), f(m.get(4).stats(), 3), f(m.get(0).stats(), 3));
        return new Claim(4, "KL and PPO-ptx limit forgetting", "PPO raises the perplexity on held-out pretraining text "
                + "less with the KL penalty than without, and less with PPO-ptx than without.", m, List.of(kl, px),
                Verdict.combine(List.of(kl.verdict(), px.verdict())), finding, List.of(plot("claim4-perplexity")));
    }

    /** The relative increase of perplexity from the SFT model to a PPO arm. */
    private Measure forgetting(String who, String arm) {
        double[] before = scalar("perplexity/sft"), after = scalar("perplexity/" + arm), d = new double[before.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = Perplexity.relativeIncrease(before[i], after[i]);
        }
        return new Measure("perplexity increase over SFT (relative): " + who, d);
    }

    private Claim claim5() throws IOException {
        String rlhf = arm("u", MAIN_BETA), noharm = arm("noharm", MAIN_BETA);
        List<Measure> m = List.of(measure("compliance with harmful requests: base", "compliance/base"),
                measure("compliance: SFT", "compliance/sft"), measure("compliance: RLHF", "compliance/" + rlhf),
                measure("compliance: RLHF against a reward model from annotators who ignore harm",
                        "compliance/" + noharm),
                measure("reward-model accuracy on harm-blind labels", "rm_accuracy/noharm"),
                measure("gold: RLHF", "gold/" + rlhf), measure("gold: RLHF (harm-blind RM)", "gold/" + noharm));
        Test vsBase = test("compliance(base) − compliance(RLHF)", scalar("compliance/base"),
                scalar("compliance/" + rlhf));
        Test vsSft = test("compliance(SFT) − compliance(RLHF)", scalar("compliance/sft"),
                scalar("compliance/" + rlhf));
        Test blind = test("compliance(RLHF, harm-blind RM) − compliance(RLHF)", scalar("compliance/" + noharm),
                scalar("compliance/" + rlhf));
        Map<String, PngCharts.Bar> bars = new LinkedHashMap<>();
        bars.put("base", bar("compliance/base"));
        bars.put("SFT", bar("compliance/sft"));
        bars.put("RLHF", bar("compliance/" + rlhf));
        bars.put("RLHF, harm-blind RM", bar("compliance/" + noharm));
        PngCharts.bars(png("claim5-compliance"), "Share of harmful requests complied with (mean ± std over seeds)",
                "compliance rate", Map.of("compliance", bars));
        String finding = String.format("Compliance with %d held-out harmful requests: base %s, SFT %s, RLHF %s; RLHF "
                        + "against a reward model from annotators who ignore harm: %s.", z.harmfulPrompts(),
                f(m.get(0).stats(), 3), f(m.get(1).stats(), 3), f(m.get(2).stats(), 3), f(m.get(3).stats(), 3));
        return new Claim(5, "Safety", "RLHF complies with fewer harmful requests than the base and SFT models; with "
                + "annotators who ignore harm, RLHF complies with more.", m, List.of(vsBase, vsSft, blind),
                Verdict.combine(List.of(vsBase.verdict(), vsSft.verdict(), blind.verdict())), finding,
                List.of(plot("claim5-compliance")));
    }

    private Claim claim6() throws IOException {
        List<Measure> m = List.of(measure("gold: SFT", "gold/sft"), measure("gold: loop, 3 rounds", "gold/loop-3"),
                measure("gold: 1 round, same labels and PPO steps", "gold/loop-1"),
                measure("KL to SFT: loop, 3 rounds", "kl/loop-3"), measure("KL to SFT: 1 round", "kl/loop-1"));
        Test t = test("3 rounds − 1 round (held-out gold)", scalar("gold/loop-3"), scalar("gold/loop-1"));
        Map<String, PngCharts.Bar> bars = new LinkedHashMap<>();
        bars.put("SFT", bar("gold/sft"));
        bars.put("1 round", bar("gold/loop-1"));
        bars.put("3 rounds", bar("gold/loop-3"));
        PngCharts.bars(png("claim6-rounds"), "Held-out gold: 3 rounds of fresh comparisons vs 1 round",
                "gold reward", Map.of("gold", bars));
        String finding = String.format("Starting from SFT and a reward model trained on %d labels, 3 rounds of %d "
                        + "fresh comparisons and %d PPO steps each reach gold %s; one round of %d comparisons and %d "
                        + "steps reaches %s (SFT %s).", z.loopStart(), z.loopPairs(), z.loopSteps(),
                f(m.get(1).stats(), 3), 3 * z.loopPairs(), 3 * z.loopSteps(), f(m.get(2).stats(), 3),
                f(m.get(0).stats(), 3));
        return new Claim(6, "Fresh comparisons help", "Three rounds of the loop (sample the current policy, label, "
                + "retrain the reward model, PPO) reach a higher gold reward than one round with the same total "
                + "number of labels and PPO steps.", m, List.of(t), t.verdict(), finding,
                List.of(plot("claim6-rounds")));
    }

    private Claim claim7() throws IOException {
        List<Measure> m = new ArrayList<>();
        double[] x = new double[z.curve().length], y = new double[z.curve().length];
        for (int i = 0; i < z.curve().length; i++) {
            Measure a = measure("held-out accuracy, " + z.curve()[i] + " comparisons", "rm_accuracy/n"
                    + z.curve()[i]);
            m.add(a);
            x[i] = z.curve()[i];
            y[i] = a.stats().mean();
        }
        String main = "n" + z.rmPairs();
        Measure ceiling = measure("noise ceiling (best possible accuracy on the held-out labels)",
                "ceiling/annotators");
        Measure noiseless = measure("held-out accuracy, " + z.rmPairs() + " comparisons without label noise "
                + "(on noiseless held-out labels)", "rm_accuracy/noiseless");
        Measure noiselessCeiling = measure("ceiling of noiseless labels (ties are coin flips)", "ceiling/noiseless");
        Measure epochs = measure("held-out accuracy, " + z.rmPairs() + " comparisons, " + z.ablationEpochs()
                + " epochs", "rm_accuracy/" + main + "-e" + z.ablationEpochs());
        double[] gap = minus(scalar("ceiling/annotators"), scalar("rm_accuracy/" + main));
        double[] gapNoiseless = minus(scalar("ceiling/noiseless"), scalar("rm_accuracy/noiseless"));
        double[] epochGain = minus(scalar("rm_accuracy/" + main + "-e" + z.ablationEpochs()),
                scalar("rm_accuracy/" + main));
        m.addAll(List.of(ceiling, measure("annotator agreement", "agreement/annotators"), noiseless, noiselessCeiling,
                epochs, new Measure("gap to the ceiling at " + z.rmPairs() + " comparisons", gap),
                new Measure("gap to the noiseless ceiling at " + z.rmPairs() + " noiseless comparisons", gapNoiseless),
                new Measure("accuracy gained by " + z.ablationEpochs() + " epochs instead of " + z.rmEpochs(),
                        epochGain)));
        int last = z.curve().length - 1;
        Test more = test("accuracy(" + z.curve()[last] + ") − accuracy(" + z.curve()[0] + " comparisons)",
                scalar("rm_accuracy/n" + z.curve()[last]), scalar("rm_accuracy/n" + z.curve()[0]));
        Map<String, PngCharts.Line> lines = new LinkedHashMap<>();
        lines.put("reward model (noisy labels)", new PngCharts.Line(x, y, true));
        lines.put("noise ceiling", flat(x, ceiling.stats().mean()));
        lines.put(String.format("noiseless labels (judged on noiseless labels, ceiling %.2f)",
                noiselessCeiling.stats().mean()), new PngCharts.Line(new double[] {z.rmPairs()},
                new double[] {noiseless.stats().mean()}, true));
        lines.put(z.ablationEpochs() + " epochs", new PngCharts.Line(new double[] {z.rmPairs()},
                new double[] {epochs.stats().mean()}, true));
        PngCharts.lines(png("claim7-accuracy-vs-comparisons"), "Reward-model held-out accuracy (mean of seeds)",
                "training comparisons", "held-out accuracy", lines, true);
        SeedStats g = SeedStats.of(finiteOrAll(gap)), gn = SeedStats.of(finiteOrAll(gapNoiseless)),
                eg = SeedStats.of(finiteOrAll(epochGain));
        String finding = String.format("Accuracy grows from %s at %d comparisons to %s at %d; the noise ceiling is %s. "
                        + "At %d comparisons the gap to the ceiling is %s points; trained and judged on noiseless "
                        + "labels the gap to their ceiling is %s points: the difference, %s points, is what label "
                        + "noise costs beyond the ceiling itself, the rest is data or capacity; %d epochs instead of "
                        + "%d change accuracy by %s points.", f(m.get(0).stats(), 3), z.curve()[0],
                f(m.get(last).stats(), 3), z.curve()[last], f(ceiling.stats(), 3), z.rmPairs(), pts(g), pts(gn),
                String.format("%.1f", 100 * (g.mean() - gn.mean())), z.ablationEpochs(), z.rmEpochs(), pts(eg));
        return new Claim(7, "Reward models: accuracy against comparisons", "Held-out accuracy grows with the number "
                + "of comparisons towards the noise ceiling; the gap that remains is explained by noise, data or "
                + "capacity.", m, List.of(more), more.verdict(), finding, List.of(plot(
                        "claim7-accuracy-vs-comparisons")));
    }

    private static String pts(SeedStats s) {
        return Double.isFinite(s.mean()) ? String.format("%.1f ± %.1f", 100 * s.mean(), 100 * s.std()) : "n/a";
    }
}
