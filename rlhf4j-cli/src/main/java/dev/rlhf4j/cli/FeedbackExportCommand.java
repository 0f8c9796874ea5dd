package dev.rlhf4j.cli;

import dev.rlhf4j.feedback.export.Exporter;
import dev.rlhf4j.feedback.store.Database;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.tensor.UserError;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code rlhf4j feedback export}: a project's labels as training data. */
@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Write a project's labels as training data in TRL's formats, which `reward train --data` and "
                + "`sft --data` read as they are: comparisons as {\"prompt\", \"chosen\", \"rejected\"} (with "
                + "\"margin\" 1/3, 2/3 or 1 when a strength was given; conversations as message lists), rankings as "
                + "{\"prompt\", \"responses\", \"ranking\"} (indices, best first), demonstrations as {\"prompt\", "
                + "\"completion\"} or {\"messages\"}. Every record also names its \"annotator\", \"item_id\" and "
                + "\"label_id\" (and \"flags\" when any).",
                "Ties and both-bad verdicts carry no preference: they go to a side file, NAME.set_aside.jsonl beside "
                        + "the output. Both files are replaced atomically."})
public final class FeedbackExportCommand implements Callable<Integer> {
    @CommandLine.Mixin
    StoreOptions storeOptions = new StoreOptions();

    @Option(names = "--project", required = true, paramLabel = "NAME", description = "The project's name.")
    String project;
    @Option(names = "--out", required = true, paramLabel = "FILE.jsonl", description = "The file to write.")
    Path out;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        if (Files.isDirectory(out)) {
            throw new UserError("--out " + out + ": is a directory, not a file");
        }
        try (Database db = storeOptions.open()) {
            FeedbackStore store = new FeedbackStore(db);
            Project p = FeedbackCommand.project(store, project);
            Exporter.Summary s = Exporter.write(store, p.id(), out);
            store.audit(null, "export", "project \"" + p.name() + "\" to " + out.toAbsolutePath() + ": "
                    + s.records() + " records, " + s.setAsideRecords() + " set aside");
            PrintWriter w = spec.commandLine().getOut();
            w.println("wrote " + s.records() + " " + p.taskType().wireName() + " records of project \"" + p.name()
                    + "\" to " + s.out());
            w.println("set aside " + s.setAsideRecords() + " ties and both-bad verdicts in " + s.setAside());
            if (s.records() == 0) {
                w.println("the project has no labels to train on yet");
            }
            w.flush();
        }
        return 0;
    }
}
