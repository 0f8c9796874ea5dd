package dev.rlhf4j.cli;

import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.tensor.UserError;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;

/** {@code --model} and {@code --tokenizer}, shared by the commands that open a checkpoint. */
final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "PATH",
            description = "HF model directory, llama2.c .bin checkpoint (tokenizer.bin beside it) or .gguf file.")
    Path model;

    @Option(names = "--tokenizer", paramLabel = "PATH",
            description = "Tokenizer to use instead of the model's: HF directory, tokenizer.json or llama2.c "
                    + "tokenizer.bin.")
    Path tokenizer;

    /** Checks that {@code --model} and {@code --tokenizer} (when given) exist, before anything is read. */
    void checkPaths() {
        Checks.inputPath("--model", model);
        Checks.inputPath("--tokenizer", tokenizer);
    }

    Pretrained open() throws IOException {
        return Pretrained.open(model, tokenizer);
    }

    /** A model with a scalar head; a language model is refused (its reward head would be random). */
    Pretrained openRewardModel() throws IOException {
        Pretrained pm = open();
        if (!pm.model().heads().scalar()) {
            throw new UserError(model + ": not a reward model (it has no score head); train one "
                    + "with `rlhf4j reward train`");
        }
        return pm;
    }

    /**
     * The {@code --max-length} of a scoring command for the opened model: -1 means 1024, or the model's maximum if
     * smaller; anything else must fit the model.
     */
    static int maxLength(int requested, Pretrained pm) {
        int modelMax = pm.model().config().maxSeqLen();
        if (requested == -1) {
            return Math.min(1024, modelMax);
        }
        if (requested <= 0 || requested > modelMax) {
            throw new UserError("--max-length must be in [1, " + modelMax + "], got " + requested);
        }
        return requested;
    }
}
