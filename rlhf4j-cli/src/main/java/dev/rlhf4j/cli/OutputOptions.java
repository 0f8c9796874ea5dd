package dev.rlhf4j.cli;

import dev.rlhf4j.train.RunDirectory;
import picocli.CommandLine;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * {@code --overwrite}, shared by every command that writes an output directory; the contract itself (lock, refusal
 * of non-empty directories, what is deleted) is {@link RunDirectory}'s.
 */
class OutputOptions {
    static final String OVERWRITE_HELP = "Replace an earlier rlhf4j run in the output directory: first delete the "
            + "outputs it recorded in rlhf4j_run.json (checkpoints, metrics, results, model and data files it wrote); "
            + "other files stay. In a non-empty directory that is not an rlhf4j run, write into it: files with the "
            + "names this command writes are replaced, nothing is deleted.";

    @CommandLine.Spec(CommandLine.Spec.Target.MIXEE)
    CommandLine.Model.CommandSpec mixee;

    @Option(names = "--overwrite", description = OVERWRITE_HELP)
    boolean overwrite;

    /** What to do with what the directory already holds. */
    RunDirectory.Start start() {
        return overwrite ? RunDirectory.Start.OVERWRITE : RunDirectory.Start.NEW;
    }

    /** Opens (creates, locks, checks) the output directory of the command. */
    RunDirectory open(Path out, RunDirectory.Kind kind) throws IOException {
        RunDirectory.Start start = start();
        PrintWriter err = mixee.commandLine().getErr();
        return RunDirectory.open(out, kind, start, err);
    }

    /** The command's name under {@code rlhf4j} ({@code sft}, {@code reward train}, ...): the run's kind. */
    String commandName() {
        String q = mixee.qualifiedName(" ");
        int space = q.indexOf(' ');
        return space < 0 ? q : q.substring(space + 1);
    }
}
