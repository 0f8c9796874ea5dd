package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.train.batch.LabScoring;
import dev.rlhf4j.train.data.JsonlReader;
import dev.rlhf4j.train.lab.LabWorld;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code rlhf4j lab score}: the gold reward of responses. */
@Command(name = "score", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Write each {\"prompt\", \"response\"|\"completion\"} record to standard output with its gold "
                + "reward added (\"gold\" and \"gold_parts\"); {\"prompt\",\"chosen\",\"rejected\"} records get "
                + "\"gold_chosen\" and \"gold_rejected\". The means go to standard error.")
public final class LabScoreCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--data", required = true, paramLabel = "FILE.jsonl", description = "Records to score.")
    Path data;
    @Option(names = "--seed", defaultValue = "0", description = "World seed the data came from (default: "
            + "${DEFAULT-VALUE}).")
    long seed;

    @Override
    public Integer call() throws IOException {
        Checks.inputFile("--data", data);
        LabWorld w = new LabWorld(seed);
        PrintWriter out = spec.commandLine().getOut();
        LabScoring.Means means = new LabScoring.Means();
        JsonlReader.read(data, (node, where) -> {
            LabWorld.Score s = LabScoring.annotate(w, node, where);
            if (s != null) {
                means.add(s);
            }
            out.println(JSON.writeValueAsString(node));
        });
        if (means.count() > 0) {
            spec.commandLine().getErr().println(means.summary());
        }
        out.flush();
        return 0;
    }
}
