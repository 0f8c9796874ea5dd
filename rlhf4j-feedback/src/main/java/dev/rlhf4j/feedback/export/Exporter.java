package dev.rlhf4j.feedback.export;

import dev.rlhf4j.feedback.store.FeedbackStore;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;

/**
 * Writes a project's labels in TRL's formats: {@code {"prompt","chosen","rejected"[,"margin"]}} for comparisons,
 * {@code {"prompt","responses","ranking"}} for rankings, {@code {"prompt","completion"}} or {@code {"messages"}}
 * for demonstrations; ties and both-bad verdicts go to a side file, never silently dropped.
 */
public final class Exporter {
    /** What an export wrote. */
    public record Summary(Path out, Path setAside, int records, int setAsideRecords) {
    }

    private Exporter() {
    }

    /** Writes {@code out} and its side file {@link #sideFile(Path)}, each atomically. */
    public static Summary write(FeedbackStore store, long projectId, Path out) throws IOException {
        throw new UnsupportedOperationException("not yet written (issue 12)");
    }

    /** Streams the main file's JSON lines (for the web download). */
    public static int writeRecords(FeedbackStore store, long projectId, OutputStream out) throws IOException {
        throw new UnsupportedOperationException("not yet written (issue 12)");
    }

    /** Streams the side file's JSON lines (ties and both-bad verdicts). */
    public static int writeSetAside(FeedbackStore store, long projectId, OutputStream out) throws IOException {
        throw new UnsupportedOperationException("not yet written (issue 12)");
    }

    /** {@code out}'s side file: {@code NAME.set_aside.jsonl} beside {@code NAME.jsonl}. */
    public static Path sideFile(Path out) {
        String name = out.getFileName().toString();
        String stem = name.endsWith(".jsonl") ? name.substring(0, name.length() - ".jsonl".length()) : name;
        return out.resolveSibling(stem + ".set_aside.jsonl");
    }
}
