package dev.rlhf4j.cli;

import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.RunFingerprint;
import dev.rlhf4j.train.claims.TrainingCurve;
import dev.rlhf4j.train.report.MetricsReport;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/** {@code rlhf4j claims}: the recipe's claims measured on the lab world over several seeds. */
@Command(name = "claims", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Measure the recipe's claims on the built-in lab world, over several seeds, against its gold "
                + "reward: 1 SFT is the right warm start for PPO; 2 RLHF beats more demonstrations at equal human "
                + "cost; 3 the KL penalty prevents reward hacking (over-optimisation curves, β from 0 to 0.2, unbiased "
                + "and length-biased reward models); 4 KL and PPO-ptx limit forgetting (perplexity on held-out "
                + "pretraining text); 5 safety (compliance with harmful requests; annotators who ignore harm); 6 fresh "
                + "comparisons help (3 rounds of rlhf4j loop vs 1 with the same labels); 7 reward-model accuracy "
                + "against the number of comparisons and the noise ceiling.",
                "Each seed shares its world, base model, SFT model, sampled pairs and reward models among the claims' "
                        + "arms; every stage is the command a user would run, in its own directory under "
                        + "--out/seed-S/. Writes report.md, report.html (self-contained), results.json (every number "
                        + "per seed, mean ± std, a verdict per claim: supported, contradicted or inconclusive), "
                        + "plots/*.png and curves.html (every stage's training curves, as rlhf4j report draws them).",
                "Time on 2 otherwise idle cores: about 20 minutes a seed for all claims (about an hour for the "
                        + "default 3 seeds); --quick under a minute a seed. The path of the report and the total time "
                        + "are printed at the end."})
public final class ClaimsCommand implements java.util.concurrent.Callable<Integer> {
    static final RunDirectory.Kind KIND = new RunDirectory.Kind("claims", true, List.of("seed-*", "plots",
            "report.md", "report.html", "results.json", "curves.html"));

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--out", defaultValue = "claims", paramLabel = "DIR",
            description = "Output directory, new or empty unless --resume (default: ${DEFAULT-VALUE}).")
    Path out;
    @Option(names = "--seeds", defaultValue = "3", paramLabel = "N",
            description = "Seeds 0..N-1: each is a world with its own models (default: ${DEFAULT-VALUE}).")
    int seeds;
    @Option(names = "--quick", description = "A smoke run (tiny data, a few steps): checks the pipeline, its numbers "
            + "mean little.")
    boolean quick;
    @Option(names = "--only", paramLabel = "1,3,...", split = ",",
            description = "Run only these claims (1 to 7; default: all).")
    List<String> only;
    @Option(names = "--resume", description = "Continue a run in --out: stages whose directory holds a finished run "
            + "are kept, an unfinished one continues from its checkpoint (or starts again); the seeds and --quick "
            + "must be the run's. Other claims can be added with --only.")
    boolean resume;
    @CommandLine.Mixin
    ThreadsOption threads = new ThreadsOption();

    @Override
    public Integer call() throws IOException {
        threads.apply();
        Checks.positive("--seeds", seeds);
        TreeSet<Integer> claims = parseOnly(spec, only);
        Checks.outputDirectory("--out", out);
        PrintWriter err = spec.commandLine().getErr();
        ClaimsSeed.Sizes sizes = quick ? ClaimsSeed.Sizes.QUICK : ClaimsSeed.Sizes.FULL;
        long start = System.nanoTime();
        try (RunDirectory run = RunDirectory.open(out, KIND, resume ? RunDirectory.Start.RESUME
                : RunDirectory.Start.NEW, err)) {
            // --only may change between a run and its resumption: claims can be added to a finished run
            run.verify(new RunFingerprint().put("seeds", seeds).put("quick", quick), false);
            run.markRunning(0);
            List<ClaimsSeed.Result> results = new ArrayList<>();
            Map<Long, Map<String, Double>> seconds = new LinkedHashMap<>();
            Map<Long, Map<String, TrainingCurve>> curves = new LinkedHashMap<>();
            for (long seed = 0; seed < seeds; seed++) {
                ClaimsSeed.Result r = new ClaimsSeed(seed, out.resolve("seed-" + seed), sizes, claims, resume, err)
                        .run();
                results.add(r);
                seconds.put(seed, r.seconds());
                curves.put(seed, r.curves());
            }
            List<ClaimsAnalysis.Claim> judged = new ClaimsAnalysis(results, sizes, out).judge(claims);
            double total = (System.nanoTime() - start) / 1e9;
            List<Long> seedList = new ArrayList<>();
            for (long s = 0; s < seeds; s++) {
                seedList.add(s);
            }
            ClaimsReport.Run info = new ClaimsReport.Run(seedList, quick, sizes.describe(), seconds, total,
                    curves);
            ClaimsSeed.writeAtomically(out.resolve("results.json"), ClaimsSeed.json(ClaimsReport.json(info, judged)));
            ClaimsSeed.writeAtomically(out.resolve("report.md"), ClaimsReport.markdown(info, judged));
            ClaimsSeed.writeAtomically(out.resolve("report.html"), ClaimsReport.html(info, judged, out));
            // the training curves of every stage of every seed, as `rlhf4j report` draws them
            Path curvesPage = MetricsReport.write(List.of(out), out.resolve("curves.html"));
            run.markFinished(0);
            PrintWriter o = spec.commandLine().getOut();
            o.printf("%n%-44s %s%n", "claim", "verdict");
            for (ClaimsAnalysis.Claim c : judged) {
                o.printf("%-44s %s%n", c.id() + ". " + c.title(), c.verdict().label());
            }
            o.printf("%ntraining curves: %s%n", curvesPage);
            o.printf("report: %s (and %s, %s, plots in %s); %.0f s in all%n", out.resolve("report.md"),
                    out.resolve("report.html"), out.resolve("results.json"), out.resolve("plots"), total);
            o.flush();
        }
        return 0;
    }

    /** The claims named by --only (all when absent); anything but the numbers 1 to 7 is a usage error. */
    static TreeSet<Integer> parseOnly(CommandLine.Model.CommandSpec spec, List<String> only) {
        TreeSet<Integer> claims = new TreeSet<>();
        if (only == null || only.isEmpty()) {
            for (int c = 1; c <= 7; c++) {
                claims.add(c);
            }
            return claims;
        }
        for (String s : only) {
            int c;
            try {
                c = Integer.parseInt(s.strip());
            } catch (NumberFormatException e) {
                throw Checks.usage(spec, "--only takes claim numbers 1 to 7 separated by commas, got '" + s + "'");
            }
            if (c < 1 || c > 7) {
                throw Checks.usage(spec, "--only: there is no claim " + c + " (the claims are 1 to 7)");
            }
            claims.add(c);
        }
        return claims;
    }
}
