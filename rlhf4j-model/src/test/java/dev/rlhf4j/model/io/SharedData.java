package dev.rlhf4j.model.io;

import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The real model files of {@code ../shared/data} (relative to the project root), which are not part of the project:
 * found by walking up from the working directory, and a test that needs one is skipped where it is absent.
 */
final class SharedData {
    private SharedData() {
    }

    /** {@code <root>/../shared/data/<relative>}; skips the calling test when it is not there. */
    static Path require(String relative) {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null && dir.getParent() != null; dir = dir.getParent()) {
            Path data = dir.getParent().resolve("shared").resolve("data");
            if (Files.isDirectory(data)) {
                Path p = data.resolve(relative);
                Assumptions.assumeTrue(Files.exists(p), "shared data file " + p + " is absent");
                return p;
            }
        }
        return Assumptions.abort("no ../shared/data above " + Path.of("").toAbsolutePath() + "; skipping " + relative);
    }
}
