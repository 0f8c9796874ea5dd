package dev.rlhf4j.cli;

import dev.rlhf4j.train.report.MetricsReport;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

/** {@code rlhf4j report}: runs' metrics as one self-contained HTML page of charts. */
@Command(name = "report", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Render the metrics.jsonl of one or more runs (pretrain, sft, reward train, ppo) as one "
                + "self-contained HTML page: a chart per metric (loss, learning rate, grad norm, reward, KL, entropy, "
                + "clip fractions, response length, throughput, ...) with the runs overlaid and a smoothing slider, "
                + "and PPO's sampled completions (samples.jsonl) in a table. It opens offline in any browser.",
                "The runs in a directory's subdirectories are drawn too (e.g. runs/demo, or a loop's rounds); a run "
                        + "with only TensorBoard event files is read from them."})
public final class ReportCommand implements Callable<Integer> {
    @Parameters(arity = "1..*", paramLabel = "RUN_DIR", description = "Run directories, or directories of runs.")
    List<Path> runs;
    @Option(names = "--out", paramLabel = "FILE.html",
            description = "Where to write the page (default: report.html in the first RUN_DIR).")
    Path out;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        Path file = out != null ? out : runs.getFirst().resolve("report.html");
        MetricsReport.write(runs, file);
        PrintWriter w = spec.commandLine().getOut();
        w.println(file);
        w.flush();
        return 0;
    }
}
