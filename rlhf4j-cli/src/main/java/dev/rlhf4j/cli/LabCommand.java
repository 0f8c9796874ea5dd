package dev.rlhf4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code rlhf4j lab generate|score}. */
@Command(name = "lab", mixinStandardHelpOptions = true,
        description = "The built-in lab world: its datasets and its gold reward.",
        subcommands = {LabGenerateCommand.class, LabScoreCommand.class})
public final class LabCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
