package dev.rlhf4j.tensor;

import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The real files of {@code ../shared/data} (beside the project root; see its README), which are not part of the
 * project: found by walking up from the working directory (Maven runs tests in the module directory), and a test
 * that needs one is skipped, with a message, where it is absent.
 */
public final class SharedData {
    private SharedData() {
    }

    /** {@code shared/data/<relative>}; skips the calling test when it is not there. */
    public static Path require(String relative) {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path data = dir.resolve("shared").resolve("data");
            if (Files.isDirectory(data)) {
                Path p = data.resolve(relative);
                Assumptions.assumeTrue(Files.exists(p), "shared data file " + p + " is absent; test skipped");
                return p;
            }
        }
        return Assumptions.abort("no shared/data above " + Path.of("").toAbsolutePath() + "; skipping a test that "
                + "needs " + relative);
    }
}
