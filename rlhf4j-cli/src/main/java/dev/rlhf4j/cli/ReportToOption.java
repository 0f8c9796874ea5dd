package dev.rlhf4j.cli;

import picocli.CommandLine.Option;

/** {@code --report-to}, shared by the training commands and ppo; its default comes from the config records. */
final class ReportToOption {
    @Option(names = "--report-to", paramLabel = "jsonl|tensorboard|none", converter = Choice.ReportTo.class,
            completionCandidates = Choice.ReportTo.class,
            description = "Where each step's metrics go: jsonl (metrics.jsonl in the output directory), tensorboard "
                    + "(TensorBoard event files beside it, for tensorboard --logdir), both comma-separated "
                    + "(jsonl,tensorboard), or none (default: ${DEFAULT-VALUE}).")
    String value;
}
