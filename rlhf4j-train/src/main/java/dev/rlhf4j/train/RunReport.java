package dev.rlhf4j.train;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.train.report.TensorBoardEvents;

import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Where {@link TrainingRun} sends each step's metrics and the run's summary ({@code --report-to}, HF Trainer's
 * {@code report_to}). A record is one flat map in the order the trainer wrote it, under TRL's names.
 */
public interface RunReport extends Closeable {

    /** {@code metrics.jsonl} in the output directory: one JSON object per step (the default). */
    String JSONL = "jsonl";
    /** TensorBoard event files in the output directory ({@code tensorboard --logdir}), one scalar per metric. */
    String TENSORBOARD = "tensorboard";
    /** Nothing per step (the progress line and train_results.json are still written). */
    String NONE = "none";
    /** The values {@code --report-to} takes; several are given comma-separated ({@code jsonl,tensorboard}). */
    List<String> NAMES = List.of(JSONL, TENSORBOARD, NONE);

    /** Receives the record of a finished step. */
    void step(Map<String, Object> record) throws IOException;

    /** Receives the run's summary (what train_results.json holds), once, at the end. */
    default void summary(Map<String, Object> summary) throws IOException {
    }

    @Override
    default void close() throws IOException {
    }

    /**
     * A valid {@code report_to} value: one of {@link #NAMES} or several joined by commas (as HF's {@code report_to}
     * list), in lower case without repeats; {@code none} stands alone. Anything else is an error naming the choices.
     */
    static String check(String name) {
        if (name == null) {
            return JSONL;
        }
        Set<String> names = new LinkedHashSet<>();
        for (String part : name.toLowerCase(Locale.ROOT).split(",", -1)) {
            String n = part.strip();
            if (!NAMES.contains(n)) {
                throw new IllegalArgumentException("'" + part.strip() + "' is not one of " + String.join(", ", NAMES));
            }
            names.add(n);
        }
        if (names.size() > 1 && names.contains(NONE)) {
            throw new IllegalArgumentException("'none' cannot be combined with other report targets, got '" + name
                    + "'");
        }
        return String.join(",", names);
    }

    /**
     * Opens the report named {@code name} for the run in {@code outputDir}; {@link TrainingRun} has already trimmed
     * metrics.jsonl to the checkpoint it continues from (or deleted it for a run from step 0).
     */
    static RunReport open(String name, Path outputDir) throws IOException {
        return open(name, outputDir, 0);
    }

    /** As {@link #open(String, Path)} for a run continuing from a checkpoint at {@code startStep} (0: a new run). */
    static RunReport open(String name, Path outputDir, long startStep) throws IOException {
        List<RunReport> reports = new ArrayList<>();
        try {
            for (String n : check(name).split(",")) {
                switch (n) {
                    case JSONL -> reports.add(new Jsonl(outputDir.resolve("metrics.jsonl")));
                    case TENSORBOARD -> reports.add(new TensorBoard(outputDir, startStep));
                    default -> {
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            for (RunReport r : reports) {
                r.close();
            }
            throw e;
        }
        return reports.size() == 1 ? reports.getFirst() : new All(reports);
    }

    /** Several targets ({@code jsonl,tensorboard}): each record goes to each, in the order given. */
    record All(List<RunReport> reports) implements RunReport {
        @Override
        public void step(Map<String, Object> record) throws IOException {
            for (RunReport r : reports) {
                r.step(record);
            }
        }

        @Override
        public void summary(Map<String, Object> summary) throws IOException {
            for (RunReport r : reports) {
                r.summary(summary);
            }
        }

        @Override
        public void close() throws IOException {
            IOException first = null;
            for (RunReport r : reports) {
                try {
                    r.close();
                } catch (IOException e) {
                    first = first == null ? e : first;
                }
            }
            if (first != null) {
                throw first;
            }
        }
    }

    /**
     * TensorBoard event files: each numeric entry of a record (booleans as 0/1) is a scalar under the record's key
     * at the record's {@code step}. A resumed run writes a new file that starts with a session start after its
     * checkpoint's step, so TensorBoard drops the killed run's steps past the checkpoint, as metrics.jsonl is trimmed.
     */
    final class TensorBoard implements RunReport {
        private final TensorBoardEvents events;

        TensorBoard(Path outputDir, long startStep) throws IOException {
            boolean earlier = !TensorBoardEvents.files(outputDir).isEmpty();
            events = TensorBoardEvents.create(outputDir);
            if (earlier) {
                events.sessionStart(startStep + 1);
            }
        }

        @Override
        public void step(Map<String, Object> record) throws IOException {
            long step = ((Number) record.get("step")).longValue();
            Map<String, Float> scalars = new LinkedHashMap<>();
            record.forEach((k, v) -> {
                if (k.equals("step")) {
                    return;
                }
                if (v instanceof Number n) {
                    scalars.put(k, n.floatValue());
                } else if (v instanceof Boolean b) {
                    scalars.put(k, b ? 1f : 0f);
                }
            });
            events.scalars(step, scalars);
        }

        @Override
        public void close() throws IOException {
            events.close();
        }
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
