package dev.rlhf4j.train.data;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.tensor.UserError;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.zip.ZipException;

/**
 * JSON Lines, as every command reads them ({@code --data}, {@code --prompts}, preference files): one JSON value per
 * line of a UTF-8 file (gzipped when the name ends in {@code .gz}), blank lines skipped. The lines come from
 * {@link TextLines} (byte-order mark, strict UTF-8, a size limit per record); each holds exactly one JSON value, so
 * {@code {...} x} is refused rather than read as its first object. Every error is one line starting with
 * {@code FILE:LINE:}.
 */
public final class JsonlReader {
    /**
     * The parser of every data file. Jackson's limits (StreamReadConstraints) refuse strings over 20 MB by default;
     * strings may be as long as a whole record here, so a long document is not mistaken for broken JSON.
     */
    public static final ObjectMapper JSON = new ObjectMapper(JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxStringLength(TextLines.MAX_LINE_BYTES).build())
            .build());

    /** What is done with each record; {@code where} is its {@code FILE:LINE} for messages. */
    @FunctionalInterface
    public interface RecordHandler {
        void accept(JsonNode record, String where) throws IOException;
    }

    private JsonlReader() {
    }

    /** Hands each record of {@code file} to {@code handler}, in file order, streamed line by line. */
    public static void read(Path file, RecordHandler handler) throws IOException {
        try (TextLines lines = TextLines.open(file)) {
            read(lines, handler);
        }
    }

    /** Hands each record of an uploaded stream to {@code handler}; {@code source} names it in messages. */
    public static void read(InputStream in, String source, RecordHandler handler) throws IOException {
        try (TextLines lines = TextLines.open(in, source)) {
            read(lines, handler);
        }
    }

    static void read(TextLines lines, RecordHandler handler) throws IOException {
        for (String line; (line = lines.next()) != null; ) {
            if (!line.isBlank()) {
                String where = lines.where();
                handler.accept(parse(line, where), where);
            }
        }
    }

    /**
     * Whether the first character of {@code file} after a byte-order mark and whitespace is {@code [}: a JSON array
     * rather than JSON Lines. Read byte by byte, since such a file may be one line of any length.
     */
    public static boolean startsWithArray(Path file) throws IOException {
        try (InputStream in = new BufferedInputStream(TextLines.openBytes(file))) {
            int first = in.read();
            if (first == 0xEF && in.read() == 0xBB && in.read() == 0xBF) {
                first = in.read();
            }
            for (int b = first; b != -1; b = in.read()) {
                if (b != ' ' && b != '\t' && b != '\r' && b != '\n') {
                    return b == '[';
                }
            }
            return false;
        } catch (ZipException | EOFException e) {
            throw TextLines.notGzip(file, e);
        }
    }

    /** One JSON value; anything after it is an error, so that {@code {...} x} is not read as its first object. */
    public static JsonNode parse(String text, String where) throws IOException {
        JsonNode node;
        long end;
        try (JsonParser parser = JSON.createParser(text)) {
            node = JSON.readTree(parser);
            end = parser.currentLocation().getCharOffset();
        } catch (JsonProcessingException e) {
            throw invalid(e, where);
        }
        for (long i = end; i < text.length(); i++) {
            char c = text.charAt((int) i);
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
                throw new UserError(where + ": not valid JSON (more after the first value, at column "
                        + (i + 1) + ")");
            }
        }
        return node;
    }

    /**
     * The one-line error for a Jackson exception at {@code where}: a value over one of the parser's limits (a string
     * longer than a record may be, nesting deeper than 1000 levels, a number of more than 1000 digits) says so; it
     * is not broken JSON.
     */
    public static IllegalArgumentException invalid(JsonProcessingException e, String where) {
        if (e instanceof StreamConstraintsException) {
            return new UserError(where + ": a value is over a size limit of the JSON reader ("
                    + e.getOriginalMessage().replaceAll(", from `StreamReadConstraints[^`]*`", "") + ")");
        }
        String message = e.getOriginalMessage();
        int nl = message.indexOf('\n');
        message = nl < 0 ? message : message.substring(0, nl);
        // Jackson's byte parser (JSON arrays read as a stream) finds malformed UTF-8 itself
        return new UserError(where + (message.startsWith("Invalid UTF-8") ? ": not valid UTF-8 ("
                : ": not valid JSON (") + message + ")");
    }
}
