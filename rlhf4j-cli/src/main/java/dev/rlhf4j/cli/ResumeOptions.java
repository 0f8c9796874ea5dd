package dev.rlhf4j.cli;

import dev.rlhf4j.train.RunDirectory;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/** {@code --resume}, {@code --allow-changes} and {@code --overwrite}: the training commands' and ppo's. */
final class ResumeOptions extends OutputOptions {
    @Option(names = "--resume", description = "Continue the run in the output directory from its newest checkpoint; "
            + "its settings, model and data must be the run's (see --allow-changes). A finished run is left as it is; "
            + "in an empty or new directory a new run starts.")
    boolean resume;
    @Option(names = "--allow-changes", description = "With --resume: continue even though settings, model or data "
            + "differ from the run's (each change is printed and recorded in rlhf4j_run.json).")
    boolean allowChanges;

    @Override
    RunDirectory.Start start() {
        if (resume && overwrite) {
            throw new CommandLine.ParameterException(mixee.commandLine(),
                    "--resume and --overwrite exclude each other: continue the run, or replace it");
        }
        if (allowChanges && !resume) {
            throw new CommandLine.ParameterException(mixee.commandLine(), "--allow-changes goes with --resume");
        }
        return resume ? RunDirectory.Start.RESUME : super.start();
    }
}
