package dev.rlhf4j.train.report;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.WireFormat;
import dev.rlhf4j.tensor.UserError;

import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * TensorBoard event files ({@code events.out.tfevents.<secs>.<host>}): what {@code tensorboard --logdir} reads.
 * A file is a sequence of TFRecords, each an {@code Event} protocol buffer (tensorflow/core/util/event.proto):
 * {@code wall_time = 1} (double, seconds), {@code step = 2} (int64), {@code file_version = 3} (the first record,
 * "brain.Event:2"), {@code summary = 5} ({@code Summary{ repeated Value value = 1 }}, {@code Value{ string tag = 1;
 * float simple_value = 2 }}) and {@code session_log = 7} ({@code SessionLog{ status = 1 }}, START = 1). The messages
 * are encoded with protobuf-java's coded streams field by field, so no generated classes are needed.
 *
 * <p>TFRecord framing (tensorflow/core/lib/io/record_writer.cc): the data length as a little-endian uint64, the
 * masked CRC-32C of those 8 bytes, the data, the masked CRC-32C of the data, both little-endian uint32.
 */
public final class TensorBoardEvents implements Closeable {
    /** The first record of every event file; TensorBoard skips files whose first event does not say this. */
    public static final String FILE_VERSION = "brain.Event:2";
    private static final int SESSION_LOG_START = 1;

    /** One scalar as TensorBoard shows it: the tag (metric name), the step and the value (a float on disk). */
    public record Scalar(String tag, long step, float value) {
    }

    /** One event read back: its wall time, step, and the scalars of its summary (empty for the other events). */
    public record Event(double wallTime, long step, String fileVersion, boolean sessionStart,
                        Map<String, Float> scalars) {
    }

    private final Path file;
    private final OutputStream out;

    private TensorBoardEvents(Path file) throws IOException {
        this.file = file;
        this.out = Files.newOutputStream(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
        Event first = new Event(now(), 0, FILE_VERSION, false, Map.of());
        writeRecord(encode(first));
    }

    /**
     * A new event file in {@code dir}, named as TensorFlow's writer names it; a resumed run gets a file of its own
     * (TensorBoard reads every event file of a directory, in name order), so a file already there is never touched.
     */
    public static TensorBoardEvents create(Path dir) throws IOException {
        String base = "events.out.tfevents." + System.currentTimeMillis() / 1000 + "." + host();
        Path f = dir.resolve(base);
        for (int i = 1; Files.exists(f); i++) {
            f = dir.resolve(base + "." + i); // two runs within one second (a quick resume)
        }
        return new TensorBoardEvents(f);
    }

    /** The file being written. */
    public Path file() {
        return file;
    }

    /**
     * Marks a run continued from a checkpoint at {@code step}: TensorBoard drops the steps at and after it that an
     * earlier file holds (a killed run's steps past its last checkpoint), as it does for TensorFlow's restarts.
     */
    public void sessionStart(long step) throws IOException {
        writeRecord(encode(new Event(now(), step, null, true, Map.of())));
        out.flush();
    }

    /** Writes one step's scalars (name to value, in order) as one event, flushed so a killed run keeps it. */
    public void scalars(long step, Map<String, Float> values) throws IOException {
        writeRecord(encode(new Event(now(), step, null, false, values)));
        out.flush();
    }

    @Override
    public void close() throws IOException {
        out.close();
    }

    /** Every scalar in an event file, in the order written; both CRCs of every record are checked. */
    public static List<Scalar> readScalars(Path file) throws IOException {
        List<Scalar> all = new ArrayList<>();
        for (Event e : read(file)) {
            e.scalars().forEach((tag, v) -> all.add(new Scalar(tag, e.step(), v)));
        }
        return all;
    }

    /**
     * Every event of an event file. A record whose length or data does not match its CRC, or that ends early, is a
     * {@link UserError} naming the file and the record's byte offset.
     */
    public static List<Event> read(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        List<Event> events = new ArrayList<>();
        while (buf.hasRemaining()) {
            int at = buf.position();
            if (buf.remaining() < 12) {
                throw new UserError(file + ": record at byte " + at + " is cut short (a truncated event file)");
            }
            long length = buf.getLong();
            int lengthCrc = buf.getInt();
            if (lengthCrc != maskedCrc(bytes, at, 8)) {
                throw new UserError(file + ": record at byte " + at + " has a bad length CRC (a corrupt event file)");
            }
            if (length < 0 || length > buf.remaining() - 4) {
                throw new UserError(file + ": record at byte " + at + " is cut short (a truncated event file)");
            }
            int dataAt = buf.position();
            buf.position(dataAt + (int) length);
            int dataCrc = buf.getInt();
            if (dataCrc != maskedCrc(bytes, dataAt, (int) length)) {
                throw new UserError(file + ": record at byte " + at + " has a bad data CRC (a corrupt event file)");
            }
            try {
                events.add(decode(CodedInputStream.newInstance(bytes, dataAt, (int) length)));
            } catch (IOException e) {
                throw new UserError(file + ": record at byte " + at + " is not an Event: " + e.getMessage(), e);
            }
        }
        return events;
    }

    /** The event files of a directory (not its subdirectories), in name order: the order TensorBoard reads them. */
    public static List<Path> files(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().contains("tfevents")).sorted().toList();
        }
    }

    /** The Event's bytes as protobuf writes them: fields in number order, a proto3 zero left out. */
    static byte[] encode(Event e) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        CodedOutputStream c = CodedOutputStream.newInstance(bytes);
        if (e.wallTime() != 0) {
            c.writeDouble(1, e.wallTime());
        }
        if (e.step() != 0) {
            c.writeInt64(2, e.step());
        }
        if (e.fileVersion() != null) {
            c.writeString(3, e.fileVersion());
        }
        if (!e.scalars().isEmpty()) {
            ByteArrayOutputStream summary = new ByteArrayOutputStream();
            CodedOutputStream s = CodedOutputStream.newInstance(summary);
            for (Map.Entry<String, Float> v : e.scalars().entrySet()) {
                ByteArrayOutputStream value = new ByteArrayOutputStream();
                CodedOutputStream vc = CodedOutputStream.newInstance(value);
                vc.writeString(1, v.getKey());
                vc.writeFloat(2, v.getValue());
                vc.flush();
                s.writeByteArray(1, value.toByteArray());
            }
            s.flush();
            c.writeByteArray(5, summary.toByteArray());
        }
        if (e.sessionStart()) {
            ByteArrayOutputStream log = new ByteArrayOutputStream();
            CodedOutputStream l = CodedOutputStream.newInstance(log);
            l.writeEnum(1, SESSION_LOG_START);
            l.flush();
            c.writeByteArray(7, log.toByteArray());
        }
        c.flush();
        return bytes.toByteArray();
    }

    private static Event decode(CodedInputStream in) throws IOException {
        double wallTime = 0;
        long step = 0;
        String fileVersion = null;
        boolean start = false;
        Map<String, Float> scalars = new LinkedHashMap<>();
        for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
            switch (WireFormat.getTagFieldNumber(tag)) {
                case 1 -> wallTime = in.readDouble();
                case 2 -> step = in.readInt64();
                case 3 -> fileVersion = in.readString();
                case 5 -> readSummary(CodedInputStream.newInstance(in.readByteArray()), scalars);
                case 7 -> start = readSessionStart(CodedInputStream.newInstance(in.readByteArray()));
                default -> in.skipField(tag);
            }
        }
        return new Event(wallTime, step, fileVersion, start, scalars);
    }

    private static void readSummary(CodedInputStream in, Map<String, Float> into) throws IOException {
        for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
            if (WireFormat.getTagFieldNumber(tag) != 1) {
                in.skipField(tag);
                continue;
            }
            CodedInputStream v = CodedInputStream.newInstance(in.readByteArray());
            String name = null;
            Float value = null;
            for (int t = v.readTag(); t != 0; t = v.readTag()) {
                switch (WireFormat.getTagFieldNumber(t)) {
                    case 1 -> name = v.readString();
                    case 2 -> value = v.readFloat();
                    default -> v.skipField(t);
                }
            }
            if (name != null && value != null) { // a Value without simple_value is an image, histogram, ...
                into.put(name, value);
            }
        }
    }

    private static boolean readSessionStart(CodedInputStream in) throws IOException {
        boolean start = false;
        for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
            if (WireFormat.getTagFieldNumber(tag) == 1) {
                start = in.readEnum() == SESSION_LOG_START;
            } else {
                in.skipField(tag);
            }
        }
        return start;
    }

    private void writeRecord(byte[] data) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        header.putLong(data.length);
        header.putInt(maskedCrc(header.array(), 0, 8));
        ByteBuffer footer = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN);
        footer.putInt(maskedCrc(data, 0, data.length));
        out.write(header.array());
        out.write(data);
        out.write(footer.array());
    }

    /** TFRecord's masked CRC-32C (tensorflow/core/lib/hash/crc32c.h: rotate right by 15, add a constant). */
    static int maskedCrc(byte[] bytes, int offset, int length) {
        CRC32C crc = new CRC32C();
        crc.update(bytes, offset, length);
        int c = (int) crc.getValue();
        return ((c >>> 15) | (c << 17)) + 0xa282ead8;
    }

    private static double now() {
        return System.currentTimeMillis() / 1000.0;
    }

    private static String host() {
        String h = System.getenv("HOSTNAME");
        if (h == null || h.isBlank()) {
            try {
                h = InetAddress.getLocalHost().getHostName();
            } catch (IOException e) {
                h = "localhost";
            }
        }
        return h.replaceAll("[^A-Za-z0-9._-]", "_");
    }
}
