package dev.rlhf4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code rlhf4j reward train|eval|score}. */
@Command(name = "reward", mixinStandardHelpOptions = true,
        description = "Bradley–Terry reward models: train on preference pairs, evaluate, score responses.",
        subcommands = {RewardTrainCommand.class, RewardEvalCommand.class, RewardScoreCommand.class})
public final class RewardCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
