package dev.rlhf4j.train.data;
import dev.rlhf4j.tensor.UserError;

import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * The lines of a UTF-8 data file, one at a time, as every reader of datasets, preferences and prompts takes them:
 * <ul>
 *   <li>a name ending in {@code .gz} is gunzipped;</li>
 *   <li>a byte-order mark at the start of the file is skipped (some editors write one);</li>
 *   <li>lines end at {@code \n}, and a {@code \r} before it is dropped;</li>
 *   <li>each line is decoded on its own, reporting malformed UTF-8 (never replacing it), so the error names the
 *       line and the byte where it is;</li>
 *   <li>a line longer than {@link #MAX_LINE_BYTES} is an error saying how long it is, found without holding it.</li>
 * </ul>
 * Errors are {@link IllegalArgumentException}s of one line starting {@code FILE:LINE:} (or {@code FILE:} for the
 * file as a whole).
 */
public final class TextLines implements Closeable {
    /**
     * Longest line (record) read, in bytes. Far above any real record (64 MiB is some 16 million tokens) and low
     * enough that a file without line breaks fails with a message instead of exhausting the heap.
     */
    public static final int MAX_LINE_BYTES = 64 << 20;

    private static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};

    private final Path file;
    private final InputStream in;
    private final int maxLineBytes;
    private final CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder()
            .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
    private final byte[] buffer = new byte[1 << 16];
    private int pos, limit;
    private byte[] line = new byte[1 << 12];
    private int number;
    private boolean eof;

    private TextLines(Path file, InputStream in, int maxLineBytes) {
        this.file = file;
        this.in = in;
        this.maxLineBytes = maxLineBytes;
    }

    /** Opens {@code file} (gunzipped when its name ends in {@code .gz}); a missing file or a directory is named. */
    public static TextLines open(Path file) throws IOException {
        return open(file, MAX_LINE_BYTES);
    }

    static TextLines open(Path file, int maxLineBytes) throws IOException {
        return new TextLines(file, openBytes(file), maxLineBytes);
    }

    /** The lines of an uploaded stream (not gunzipped); {@code source} names it in messages. */
    public static TextLines open(InputStream in, String source) {
        return new TextLines(Path.of(source), in, MAX_LINE_BYTES);
    }

    /**
     * The bytes of a data file, gunzipped when its name ends in {@code .gz}, with one-line errors for a missing
     * file, a directory and an unreadable file; a broken gzip stream is reported while reading.
     */
    public static InputStream openBytes(Path file) throws IOException {
        if (Files.isDirectory(file)) {
            throw new UserError(file + ": is a directory, not a data file");
        }
        InputStream raw;
        try {
            raw = Files.newInputStream(file);
        } catch (NoSuchFileException e) {
            throw new UserError(file + ": no such file");
        } catch (AccessDeniedException e) {
            throw new UserError(file + ": permission denied");
        }
        if (!isGzip(file)) {
            return raw;
        }
        try {
            return new GZIPInputStream(raw, 1 << 16);
        } catch (ZipException | EOFException e) {
            raw.close();
            throw notGzip(file, e);
        }
    }

    /** Whether {@code file} is read gunzipped: its name ends in {@code .gz}. */
    public static boolean isGzip(Path file) {
        return name(file).endsWith(".gz");
    }

    /** The file's name in lower case without a {@code .gz} suffix: what says its format ({@code x.jsonl}). */
    public static String formatName(Path file) {
        String name = name(file);
        return name.endsWith(".gz") ? name.substring(0, name.length() - ".gz".length()) : name;
    }

    private static String name(Path file) {
        Path name = file.getFileName();
        return name == null ? "" : name.toString().toLowerCase(Locale.ROOT);
    }

    /** The error for a stream that is not gzip or ends early; only a gzip stream throws these. */
    public static IllegalArgumentException notGzip(Path file, IOException e) {
        return new UserError(file + ": not a complete gzip file (" + e.getMessage() + ")");
    }

    /** The next line without its line break, or null at the end of the file. */
    public String next() throws IOException {
        if (eof) {
            return null;
        }
        int length = 0;
        long total = 0;
        boolean any = false;
        while (true) {
            if (pos == limit && !fill()) {
                eof = true;
                if (!any) {
                    return null;
                }
                break;
            }
            any = true;
            int end = pos;
            while (end < limit && buffer[end] != '\n') {
                end++;
            }
            int n = end - pos;
            if (total + n <= maxLineBytes) {
                if (length + n > line.length) {
                    line = Arrays.copyOf(line, (int) Math.min(maxLineBytes, Math.max(2L * line.length, length + n)));
                }
                System.arraycopy(buffer, pos, line, length, n);
                length += n;
            }
            total += n;
            boolean newline = end < limit;
            pos = newline ? end + 1 : end;
            if (newline) {
                break;
            }
        }
        number++;
        if (total > maxLineBytes) {
            throw new UserError(where() + ": the line is " + String.format(Locale.ROOT, "%,d", total)
                    + " bytes, over the limit of " + String.format(Locale.ROOT, "%,d", maxLineBytes) + " bytes"
                    + (maxLineBytes % (1 << 20) == 0 ? " (" + (maxLineBytes >> 20) + " MiB)" : "") + " for one record");
        }
        int start = 0;
        if (number == 1 && length >= 3 && line[0] == BOM[0] && line[1] == BOM[1] && line[2] == BOM[2]) {
            start = 3;
        }
        if (length > start && line[length - 1] == '\r') {
            length--;
        }
        return decode(start, length);
    }

    private String decode(int start, int end) {
        ByteBuffer bytes = ByteBuffer.wrap(line, start, end - start);
        try {
            utf8.reset();
            CharBuffer chars = utf8.decode(bytes);
            return chars.toString();
        } catch (CharacterCodingException e) {
            // decode leaves the buffer at the first byte it could not decode
            throw new UserError(where() + ": not valid UTF-8 (byte 0x"
                    + String.format(Locale.ROOT, "%02X", line[bytes.position()] & 0xFF) + " at byte "
                    + (bytes.position() + 1) + " of the line)");
        }
    }

    private boolean fill() throws IOException {
        int n;
        try {
            n = in.read(buffer, 0, buffer.length);
        } catch (ZipException | EOFException e) {
            throw notGzip(file, e);
        }
        if (n <= 0) {
            return false;
        }
        pos = 0;
        limit = n;
        return true;
    }

    /** {@code FILE:LINE} of the line {@link #next()} returned last, for messages. */
    public String where() {
        return file + ":" + number;
    }

    @Override
    public void close() throws IOException {
        in.close();
    }
}
