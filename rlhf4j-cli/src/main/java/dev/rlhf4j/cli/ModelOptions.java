package dev.rlhf4j.cli;

import dev.rlhf4j.model.io.Pretrained;
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

    Pretrained open() throws IOException {
        return Pretrained.open(model, tokenizer);
    }
}
