package dev.rlhf4j.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code rlhf4j sft}: supervised fine-tuning on prompt/completion pairs or conversations. */
@Command(name = "sft", mixinStandardHelpOptions = true, sortOptions = false,
        defaultValueProvider = RecordDefaults.Training.class,
        description = {"Supervised fine-tuning (TRL's SFTTrainer): next-token loss on the completions of "
                + "{\"prompt\",\"completion\"} records or the last assistant turn of {\"messages\"} (rendered with the "
                + "chat template), or on all tokens with --no-completion-only-loss.",
                "Checkpoints go to OUT/checkpoint-N, metrics to OUT/metrics.jsonl, the final model to OUT as an HF "
                        + "directory."})
public final class SftCommand extends LmTrainCommand {
    @Option(names = "--completion-only-loss", negatable = true, fallbackValue = "true",
            description = "Loss on completion tokens only (default: ${DEFAULT-VALUE}).")
    boolean completionOnlyLoss;
    @Option(names = "--packing", negatable = true, fallbackValue = "true",
            description = "Pack several examples into each row of --max-length tokens, without attention across "
                    + "them (default: ${DEFAULT-VALUE}).")
    boolean pack;

    @Override
    boolean completionOnly() {
        return completionOnlyLoss;
    }

    @Override
    boolean packing() {
        return pack;
    }
}
