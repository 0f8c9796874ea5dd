package dev.rlhf4j.model.tokenizer;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The shared real data ({@code ../shared/data} beside the project root, see its README): found by walking up from
 * the working directory (Maven runs tests in the module directory); tests that need a file skip where it is absent.
 */
final class TokData {

    private TokData() {
    }

    /** The path of {@code relative} under shared/data; skips the calling test when it does not exist. */
    static Path require(String relative) {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("shared").resolve("data").resolve(relative);
            if (Files.exists(candidate)) {
                return candidate;
            }
        }
        Assumptions.assumeTrue(false, "shared/data/" + relative + " is not available; test skipped");
        throw new AssertionError("unreachable");
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
