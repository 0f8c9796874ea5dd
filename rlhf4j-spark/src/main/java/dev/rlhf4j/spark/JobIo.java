package dev.rlhf4j.spark;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.data.JsonlReader;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.storage.StorageLevel;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/**
 * Input and output of the batch jobs. Input is read by the driver, in file order, and every record is checked there
 * (so a malformed line fails before any task starts, naming FILE:LINE): JSON Lines as the single-process commands
 * read them, or a Parquet file or directory (name ending in {@code .parquet}) through Spark SQL, one JSON record per
 * row. Output is JSON Lines in input order, written by the driver as one file (atomically: a temporary file moved
 * into place) as the tasks' results stream back, or Parquet through Spark SQL when the name ends in
 * {@code .parquet} (the schema inferred from the JSON records).
 */
public final class JobIo {

    /**
     * One input record.
     *
     * @param index its 0-based position in the input
     * @param where FILE:LINE (or FILE row N), for errors
     * @param json  the record as JSON text
     */
    public record Line(long index, String where, String json) implements Serializable {
        /** The record parsed again (on an executor). */
        public JsonNode node() {
            try {
                return JsonlReader.parse(json, where);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** Checks one record on the driver; throws a {@link UserError} naming {@code where}. */
    @FunctionalInterface
    public interface RecordCheck {
        void check(JsonNode node, String where);
    }

    private static final String FILE = "__rlhf4j_file", ROW = "__rlhf4j_row";

    private JobIo() {
    }

    /** Whether {@code path} names a Parquet file or directory. */
    public static boolean parquet(Path path) {
        return path.getFileName() != null
                && path.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".parquet");
    }

    /** The records of {@code input} (the value of {@code option}), each checked; at least one. */
    public static List<Line> read(SparkSession spark, String option, Path input, RecordCheck check)
            throws IOException {
        if (!Files.exists(input)) {
            throw new UserError(option + " " + input + ": no such file");
        }
        List<Line> out = new ArrayList<>();
        if (parquet(input)) {
            // in the order written: by part file (Spark names them in partition order), then row within the file
            Dataset<Row> rows = spark.read().parquet(input.toString());
            List<String> json = rows.select(rows.col("*"), rows.col("_metadata.file_name").as(FILE),
                            rows.col("_metadata.row_index").as(ROW)).orderBy(FILE, ROW).drop(FILE, ROW).toJSON()
                    .collectAsList();
            for (String j : json) {
                String where = input + " row " + (out.size() + 1);
                JsonNode n = JsonlReader.parse(j, where);
                check.check(n, where);
                out.add(new Line(out.size(), where, j));
            }
        } else {
            if (Files.isDirectory(input)) {
                throw new UserError(option + " " + input + ": is a directory, not a file (a Parquet directory's "
                        + "name ends in .parquet)");
            }
            JsonlReader.read(input, (n, where) -> {
                check.check(n, where);
                out.add(new Line(out.size(), where, JsonlReader.JSON.writeValueAsString(n)));
            });
        }
        if (out.isEmpty()) {
            throw new UserError(input + ": no records");
        }
        return out;
    }

    /** Consecutive records in groups of {@code batchSize}: batch b holds records b * batchSize onwards. */
    public static List<List<Line>> batches(List<Line> lines, int batchSize) {
        List<List<Line>> out = new ArrayList<>();
        for (int from = 0; from < lines.size(); from += batchSize) {
            out.add(new ArrayList<>(lines.subList(from, Math.min(lines.size(), from + batchSize))));
        }
        return out;
    }

    /**
     * Writes {@code lines} (JSON records, in the RDD's order) to {@code out}: JSON Lines, or Parquet for a
     * {@code .parquet} name. The RDD is computed once, all partitions in parallel, before it is written; returns how
     * many records were written.
     */
    public static long write(SparkSession spark, JavaRDD<String> lines, Path out) throws IOException {
        if (Files.isDirectory(out) && !parquet(out)) {
            throw new UserError("--out " + out + ": is a directory, not a file");
        }
        lines.persist(StorageLevel.MEMORY_AND_DISK());
        Path tmp = null;
        try {
            // every partition in parallel first; toLocalIterator alone would compute them one after another
            long count = run(lines::count);
            if (parquet(out)) {
                Dataset<String> json = spark.createDataset(lines.rdd(), Encoders.STRING());
                run(() -> {
                    spark.read().json(json).write().mode("errorifexists").parquet(out.toString());
                    return null;
                });
                return count;
            }
            Path parent = out.toAbsolutePath().getParent();
            Files.createDirectories(parent);
            tmp = parent.resolve("." + out.getFileName() + ".tmp");
            try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
                Iterator<String> it = run(lines::toLocalIterator);
                while (it.hasNext()) {
                    w.write(it.next());
                    w.newLine();
                }
            } catch (IOException e) {
                throw new IOException("cannot write " + tmp + ": " + e.getMessage(), e);
            }
            Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return count;
        } finally {
            lines.unpersist(false);
            if (tmp != null) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    /**
     * Runs a Spark action; a task that failed on a user's error (a prompt too long for the model, a model that cannot
     * be read) fails with that error, as it would in one process, rather than Spark's report of the stage.
     */
    public static <T> T run(Callable<T> action) throws IOException {
        try {
            return action.call();
        } catch (IOException | RuntimeException e) {
            throw userCause(e);
        } catch (Exception e) {
            throw userCause(e instanceof SparkException s ? s : new IllegalStateException(e));
        }
    }

    private static RuntimeException userCause(Exception e) throws IOException {
        for (Throwable c = e; c != null; c = c.getCause() == c ? null : c.getCause()) {
            if (c instanceof UserError u) {
                throw u;
            }
            if (c instanceof UncheckedIOException u && u.getCause() != null) {
                throw u.getCause();
            }
            if (c instanceof IOException io && c != e) {
                throw io;
            }
        }
        if (e instanceof IOException io) {
            throw io;
        }
        throw e instanceof RuntimeException r ? r : new IllegalStateException(e.getMessage(), e);
    }
}
