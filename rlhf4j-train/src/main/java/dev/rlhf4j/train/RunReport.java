package dev.rlhf4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where {@link TrainingRun} sends each step's metrics and the run's summary ({@code --report-to}, HF Trainer's
 * {@code report_to}). A record is one flat map in the order the trainer wrote it, under TRL's names.
 */
public interface RunReport extends Closeable {

    /** {@code metrics.jsonl} in the output directory: one JSON object per step (the default). */
    String JSONL = "jsonl";
    /** Nothing per step (the progress line and train_results.json are still written). */
    String NONE = "none";
    /** The values {@code --report-to} takes. */
    List<String> NAMES = List.of(JSONL, NONE);

    /** Receives the record of a finished step. */
    void step(Map<String, Object> record) throws IOException;

    /** Receives the run's summary (what train_results.json holds), once, at the end. */
    default void summary(Map<String, Object> summary) throws IOException {
    }

    @Override
    default void close() throws IOException {
    }

    /** A valid {@code report_to} value (lower case), else an error naming the choices. */
    static String check(String name) {
        String n = name == null ? JSONL : name.toLowerCase(Locale.ROOT);
        if (!NAMES.contains(n)) {
            throw new IllegalArgumentException("report_to must be " + String.join(" or ", NAMES) + ", got '" + name
                    + "'");
        }
        return n;
    }

    /**
     * Opens the report named {@code name} for the run in {@code outputDir}; {@link TrainingRun} has already trimmed
     * metrics.jsonl to the checkpoint it continues from (or deleted it for a run from step 0).
     */
    static RunReport open(String name, Path outputDir) throws IOException {
        return switch (check(name)) {
            case JSONL -> new Jsonl(outputDir.resolve("metrics.jsonl"));
            default -> record -> {
            };
        };
    }

    /** {@code metrics.jsonl}: appended and flushed after every step, so a killed run loses at most its last step. */
    final class Jsonl implements RunReport {
        private static final ObjectMapper JSON = new ObjectMapper();
        private final BufferedWriter out;

        Jsonl(Path file) throws IOException {
            out = Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
        }

        @Override
        public void step(Map<String, Object> record) throws IOException {
            out.write(JSON.writeValueAsString(record));
            out.newLine();
            out.flush();
        }

        @Override
        public void close() throws IOException {
            out.close();
        }
    }
}
