package dev.rlhf4j.train;

import dev.rlhf4j.model.Transformer;

import java.io.IOException;
import java.nio.file.Path;

/** Writes a trained model for use elsewhere (the CLI writes an HF directory with the tokenizer). */
@FunctionalInterface
public interface ModelWriter {
    void write(Transformer model, Path dir) throws IOException;
}
