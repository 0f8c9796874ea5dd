package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.feedback.quality.Quality;
import dev.rlhf4j.feedback.quality.QualityReport;
import dev.rlhf4j.feedback.store.Database;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Project;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/** {@code rlhf4j feedback stats}: a project's progress and label quality. */
@Command(name = "stats", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Print a project's progress and the quality of its labels: per annotator, labels given and "
                + "seconds per item; on the items labelled by several people, percent agreement and Cohen's kappa "
                + "(comparisons, in the responses' own order, not the screen's) or Kendall's tau (rankings); "
                + "position bias (the share of decisive comparisons won by the response shown on the left; 0.5 is "
                + "unbiased); agreement with the project's reward model when one is set; flag counts.",
                "Project figures pool all pairs of people: agreement over all their common items, kappa as the "
                        + "pairs' mean weighted by their common items, tau as the mean over every pair and item."})
public final class FeedbackStatsCommand implements Callable<Integer> {
    @CommandLine.Mixin
    StoreOptions storeOptions = new StoreOptions();

    @Option(names = "--project", required = true, paramLabel = "NAME", description = "The project's name.")
    String project;
    @Option(names = "--json", description = "Print the report as one JSON object instead of tables.")
    boolean json;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        try (Database db = storeOptions.open()) {
            FeedbackStore store = new FeedbackStore(db);
            Project p = FeedbackCommand.project(store, project);
            QualityReport r = Quality.report(store, p.id());
            PrintWriter out = spec.commandLine().getOut();
            if (json) {
                out.println(new ObjectMapper().writeValueAsString(r.toMap()));
            } else {
                print(out, p, r);
            }
            out.flush();
        }
        return 0;
    }

    private static void print(PrintWriter out, Project p, QualityReport r) {
        out.printf(Locale.ROOT, "project \"%s\" (%s): %d items, %d ready, %d labels, %d items fully labelled%n",
                p.name(), p.taskType().wireName(), r.counts().items(), r.counts().readyItems(), r.counts().labels(),
                r.counts().completeItems());
        out.printf(Locale.ROOT, "overlapped items labelled by 2 or more people: %d%n", r.overlappedItemsLabelled());
        out.printf(Locale.ROOT, "agreement %s, Cohen's kappa %s, Kendall's tau %s, left share %s%n",
                percent(r.percentAgreement()), number(r.cohensKappa()), number(r.kendallTau()),
                percent(r.leftShare()));
        out.printf(Locale.ROOT, "reward model agreement: %s%n", r.rewardModelCompared() == 0 ? "-"
                : percent(r.rewardModelAgreement()) + " of " + r.rewardModelCompared() + " preferences");
        out.println("flags: " + r.flags().entrySet().stream().map(e -> e.getKey().wireName() + " " + e.getValue())
                .collect(Collectors.joining(", ")));
        out.println();
        out.printf(Locale.ROOT, "%-20s %7s %9s %9s %7s %7s %7s %7s %7s%n", "annotator", "labels", "median s",
                "mean s", "left", "agree", "kappa", "tau", "reward");
        for (QualityReport.Annotator a : r.annotators()) {
            out.printf(Locale.ROOT, "%-20s %7d %9.1f %9.1f %7s %7s %7s %7s %7s%n", a.name(), a.labels(),
                    a.medianSeconds(), a.meanSeconds(), percent(a.leftShare()), percent(a.percentAgreement()),
                    number(a.cohensKappa()), number(a.kendallTau()), percent(a.rewardModelAgreement()));
        }
        if (!r.pairs().isEmpty()) {
            out.println();
            out.printf(Locale.ROOT, "%-41s %7s %7s %7s %7s%n", "pair", "items", "agree", "kappa", "tau");
            for (QualityReport.Pair pair : r.pairs()) {
                out.printf(Locale.ROOT, "%-41s %7d %7s %7s %7s%n", pair.first() + " / " + pair.second(),
                        pair.items(), percent(pair.percentAgreement()), number(pair.cohensKappa()),
                        number(pair.kendallTau()));
            }
        }
    }

    private static String percent(Double x) {
        return x == null ? "-" : String.format(Locale.ROOT, "%.1f%%", 100 * x);
    }

    private static String number(Double x) {
        return x == null ? "-" : String.format(Locale.ROOT, "%.3f", x);
    }
}
