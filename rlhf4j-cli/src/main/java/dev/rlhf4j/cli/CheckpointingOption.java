package dev.rlhf4j.cli;

import dev.rlhf4j.model.Transformer;
import picocli.CommandLine.Option;

/**
 * {@code --gradient-checkpointing}, shared by the training commands: each block's activations are recomputed in the
 * backward from its input instead of kept, so long sequences fit (about a fifth more time; results are bit-identical,
 * so a run may switch it on or off when resumed).
 */
final class CheckpointingOption {
    @Option(names = "--gradient-checkpointing",
            description = "Keep only each block's input and recompute its activations in the backward: less memory "
                    + "for long sequences, about a fifth more time, the same results.")
    boolean on;

    /** Applies the setting to the trained models. */
    void apply(Transformer... trained) {
        for (Transformer t : trained) {
            t.gradientCheckpointing(on);
        }
    }
}
