package dev.rlhf4j.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code rlhf4j pretrain}: next-token training on every token of a corpus. */
@Command(name = "pretrain", mixinStandardHelpOptions = true, sortOptions = false,
        defaultValueProvider = RecordDefaults.Pretraining.class,
        description = {"Causal language-model training on every token of a corpus ({\"text\"} JSONL or plain text "
                + "with documents separated by blank lines), from a checkpoint or from scratch (--model CONFIG.yaml "
                + "--tokenizer PATH).",
                "Checkpoints go to OUT/checkpoint-N, metrics to OUT/metrics.jsonl, the final model to OUT as an HF "
                        + "directory."})
public final class PretrainCommand extends LmTrainCommand {
    @Option(names = "--packing", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Pack documents into full rows of --max-length tokens, without attention across them "
                    + "(default: ${DEFAULT-VALUE}).")
    boolean pack;

    @Override
    boolean completionOnly() {
        return false;
    }

    @Override
    boolean packing() {
        return pack;
    }
}
