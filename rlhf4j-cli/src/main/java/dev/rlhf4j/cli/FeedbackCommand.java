package dev.rlhf4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code rlhf4j feedback}: the feedback store from the command line. */
@Command(name = "feedback", mixinStandardHelpOptions = true,
        description = "Import items into, export labels from, and report on the feedback store.",
        subcommands = {CommandLine.HelpCommand.class})
public final class FeedbackCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "name a subcommand: import, export or stats");
    }
}
