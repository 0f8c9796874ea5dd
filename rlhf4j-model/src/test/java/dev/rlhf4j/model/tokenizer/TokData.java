package dev.rlhf4j.model.tokenizer;

import dev.rlhf4j.tensor.SharedData;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The shared real data the tokenizer tests read (see {@link SharedData}). */
final class TokData {

    private TokData() {
    }

    /** The path of {@code relative} under shared/data; skips the calling test when it does not exist. */
    static Path require(String relative) {
        return SharedData.require(relative);
    }

    /** The TinyStories validation sample (794 KB). */
    static String tinyStories() {
        try {
            return Files.readString(require("text/tinystories-valid-sample.txt"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Tokenizer load(String relative) {
        try {
            return Tokenizers.load(require(relative));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
