package dev.rlhf4j.cli;

import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.tensor.UserError;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code rlhf4j feedback}: the feedback store from the command line. */
@Command(name = "feedback", mixinStandardHelpOptions = true,
        description = {"Import items into, export labels from, and report on the feedback store;",
                "load-test the app."},
        subcommands = {FeedbackImportCommand.class, FeedbackExportCommand.class, FeedbackStatsCommand.class,
                FeedbackLoadCommand.class, CommandLine.HelpCommand.class})
public final class FeedbackCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(),
                "name a subcommand: import, export, stats or load");
    }

    /** The project named {@code name}, or a one-line error naming the store and how to make it. */
    static Project project(FeedbackStore store, String name) {
        return store.projectByName(name).orElseThrow(() -> new UserError("--project " + name + ": no such project in "
                + store.database().description() + " (create it with `rlhf4j feedback import --create TASK_TYPE` or "
                + "in the app)"));
    }
}
