package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.RunFingerprint;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/** {@code rlhf4j compare-methods}: PPO, DPO, IPO, online DPO, GRPO, RLOO and best-of-n on the lab's gold reward. */
@Command(name = "compare-methods", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Compare the alignment methods on the built-in lab world, over several seeds, by its hidden "
                + "gold reward. Per seed: the demo's recipe (world, base model, SFT model, 12,000 labelled pairs, "
                + "reward model); then from the same SFT model and the same labels: PPO, DPO (sigmoid) and IPO on "
                + "the labels, online DPO, GRPO and RLOO against the reward model (64 responses a step for --steps "
                + "steps each), and best-of-4 and best-of-16 sampling from the SFT model. Every policy is scored on "
                + "the same held-out prompts: gold reward (total and parts), reward-model score, KL to the SFT "
                + "model, win rate over SFT, response tokens generated in training, wall time, peak heap and "
                + "model state.",
                "Writes report.md, results.json (every number per seed), plots/gold-vs-kl.png and "
                        + "plots/gold-by-method.png; each stage runs the command a user would, in its own directory "
                        + "under --out/seed-S/. About 15 minutes a seed on 2 idle cores; --quick about a minute."})
public final class CompareMethodsCommand implements Callable<Integer> {
    static final RunDirectory.Kind KIND = new RunDirectory.Kind("compare-methods", true, List.of("seed-*", "plots",
            "report.md", "results.json"));

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--out", defaultValue = "compare", paramLabel = "DIR",
            description = "Output directory, new or empty unless --resume (default: ${DEFAULT-VALUE}).")
    Path out;
    @Option(names = "--seeds", defaultValue = "3", paramLabel = "N",
            description = "Seeds 0..N-1: each is a world with its own models (default: ${DEFAULT-VALUE}).")
    int seeds;
    @Option(names = "--steps", defaultValue = "50", paramLabel = "N",
            description = "Steps of 64 generated responses for PPO, online DPO, GRPO and RLOO (default: "
                    + "${DEFAULT-VALUE}).")
    int steps;
    @Option(names = "--pairs", defaultValue = "12000", paramLabel = "N",
            description = "Labelled pairs per seed: the reward model's and DPO's data (default: ${DEFAULT-VALUE}).")
    int pairs;
    @Option(names = "--eval-prompts", defaultValue = "300", paramLabel = "N",
            description = "Held-out prompts each policy is scored on (default: ${DEFAULT-VALUE}).")
    int evalPrompts;
    @Option(names = "--only", paramLabel = "METHOD,...", split = ",",
            description = "Run only these methods: ppo, dpo, ipo, online-dpo, grpo, rloo, best-of-4, best-of-16 "
                    + "(default: all).")
    List<String> only;
    @Option(names = "--quick", description = "A smoke run (the demo's --quick sizes, 3 steps, 40 prompts): checks the "
            + "pipeline, its numbers mean little.")
    boolean quick;
    @Option(names = "--resume", description = "Continue a run in --out: finished stages are kept, an unfinished one "
            + "continues from its checkpoint; the sizes must be the run's. Methods can be added with --only.")
    boolean resume;
    @CommandLine.Mixin
    ThreadsOption threads = new ThreadsOption();

    @Override
    public Integer call() throws IOException {
        threads.apply();
        Checks.positive("--seeds", seeds);
        Checks.positive("--steps", steps);
        Checks.positive("--pairs", pairs);
        Checks.positive("--eval-prompts", evalPrompts);
        Set<String> methods = new LinkedHashSet<>();
        if (only != null) {
            for (String m : only) {
                String name = m.strip();
                if (!MethodsSeed.names().contains(name)) {
                    throw Checks.usage(spec, "--only: there is no method '" + name + "' (the methods are "
                            + String.join(", ", MethodsSeed.names()) + ")");
                }
                methods.add(name);
            }
        }
        Checks.outputDirectory("--out", out);
        PrintWriter err = spec.commandLine().getErr();
        MethodsSeed.Sizes sizes = quick ? new MethodsSeed.Sizes(300, 3, 40, true)
                : new MethodsSeed.Sizes(pairs, steps, evalPrompts, false);
        long start = System.nanoTime();
        try (RunDirectory run = RunDirectory.open(out, KIND, resume ? RunDirectory.Start.RESUME
                : RunDirectory.Start.NEW, err)) {
            run.verify(new RunFingerprint().put("seeds", seeds).put("quick", quick).put("steps", sizes.steps())
                    .put("pairs", sizes.pairs()).put("eval_prompts", sizes.evalPrompts()), false);
            run.markRunning(0);
            Map<Long, Map<String, ObjectNode>> results = new LinkedHashMap<>();
            for (long seed = 0; seed < seeds; seed++) {
                results.put(seed, new MethodsSeed(seed, out.resolve("seed-" + seed), sizes, methods, resume, err)
                        .run());
            }
            double total = (System.nanoTime() - start) / 1e9;
            MethodsReport report = new MethodsReport(results, sizes, total);
            ClaimsSeed.writeAtomically(out.resolve("results.json"), ClaimsSeed.json(report.json()));
            report.plots(out.resolve("plots"));
            ClaimsSeed.writeAtomically(out.resolve("report.md"), report.markdown("plots"));
            run.markFinished(0);
            PrintWriter o = spec.commandLine().getOut();
            o.print(report.table());
            o.printf("%nreport: %s (and %s, plots in %s); %.0f s in all%n", out.resolve("report.md"),
                    out.resolve("results.json"), out.resolve("plots"), total);
            o.flush();
        }
        return 0;
    }
}
