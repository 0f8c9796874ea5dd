package dev.rlhf4j.train.report;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.RunReport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** TensorBoard event files: written as TFRecords of Event protos, read back with both CRCs checked. */
class TensorBoardEventsTest {

    @Test
    void everyScalarWrittenIsReadBackExactly(@TempDir Path dir) throws IOException {
        Random rnd = new Random(7);
        List<TensorBoardEvents.Scalar> written = new ArrayList<>();
        Path file;
        try (TensorBoardEvents ev = TensorBoardEvents.create(dir)) {
            file = ev.file();
            for (long step = 1; step <= 50; step++) {
                Map<String, Float> values = new LinkedHashMap<>();
                values.put("loss", (float) rnd.nextGaussian());
                values.put("objective/kl", Float.MIN_VALUE * step);
                values.put("learning_rate", 3e-5f / step);
                values.put("métrique ünicode", -Float.MAX_VALUE);
                if (step == 7) {
                    values.put("nan", Float.NaN);
                    values.put("inf", Float.POSITIVE_INFINITY);
                }
                for (Map.Entry<String, Float> v : values.entrySet()) {
                    written.add(new TensorBoardEvents.Scalar(v.getKey(), step, v.getValue()));
                }
                ev.scalars(step, values);
            }
        }
        assertTrue(file.getFileName().toString().startsWith("events.out.tfevents."), file.toString());
        assertEquals(List.of(file), TensorBoardEvents.files(dir));
        // records compare floats bit for bit (Float.equals), NaN included
        assertEquals(written, TensorBoardEvents.readScalars(file));
        List<TensorBoardEvents.Event> events = TensorBoardEvents.read(file);
        assertEquals(TensorBoardEvents.FILE_VERSION, events.getFirst().fileVersion());
        assertEquals(51, events.size());
        assertTrue(events.get(1).wallTime() > 1.7e9, "wall time in seconds since the epoch");
    }

    @Test
    void aFileWrittenByTensorBoardIsReadAndEachEventEncodesToTheSameBytes() throws Exception {
        // written by TensorBoard's own Event protos and RecordWriter: tools/fixtures/make_tensorboard_fixture.py
        Path file = Path.of(TensorBoardEventsTest.class.getResource("/fixtures/events.out.tfevents.reference").toURI());
        List<TensorBoardEvents.Event> events = TensorBoardEvents.read(file);
        assertEquals(List.of(
                new TensorBoardEvents.Event(1700000000.25, 0, "brain.Event:2", false, Map.of()),
                new TensorBoardEvents.Event(1700000001.5, 1, null, false, Map.of("loss", 2.5f, "objective/kl", 0.125f)),
                new TensorBoardEvents.Event(1700000002.5, 2, null, false, Map.of("loss", 1.75f,
                        "objective/kl", -0.0625f)),
                new TensorBoardEvents.Event(1700000003.0, 2, null, true, Map.of()),
                new TensorBoardEvents.Event(1700000004.0, 2, null, false, Map.of("loss", 1.5f))), events);
        // the Event messages as TensorBoard serialised them, field for field (the field numbers of event.proto)
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(Files.readAllBytes(file))
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (TensorBoardEvents.Event e : events) {
            byte[] data = new byte[(int) b.getLong()];
            b.getInt();
            b.get(data);
            b.getInt();
            assertArrayEquals(data, TensorBoardEvents.encode(e), e.toString());
        }
    }

    @Test
    void theFramingIsTfRecords(@TempDir Path dir) throws IOException {
        Path file;
        try (TensorBoardEvents ev = TensorBoardEvents.create(dir)) {
            file = ev.file();
        }
        byte[] b = Files.readAllBytes(file);
        // uint64 length, masked CRC of the length, the Event, masked CRC of the Event
        long length = java.nio.ByteBuffer.wrap(b, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(b.length, 8 + 4 + length + 4);
        String data = new String(b, 12, (int) length, StandardCharsets.ISO_8859_1);
        assertTrue(data.contains(TensorBoardEvents.FILE_VERSION), data);
        // TensorFlow's crc32c.h: Mask(crc32c("")) = 0xa282ead8 (the CRC of no bytes is 0)
        assertEquals(0xa282ead8, TensorBoardEvents.maskedCrc(new byte[0], 0, 0));
    }

    @Test
    void aCorruptCrcOrATruncatedFileIsDetected(@TempDir Path dir) throws IOException {
        Path file;
        try (TensorBoardEvents ev = TensorBoardEvents.create(dir)) {
            file = ev.file();
            ev.scalars(1, Map.of("loss", 1.5f));
        }
        byte[] good = Files.readAllBytes(file);
        int second = (int) (8 + 4 + java.nio.ByteBuffer.wrap(good, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .getLong() + 4);

        byte[] data = good.clone();
        data[data.length - 6] ^= 1; // a bit of the second record's data (the float)
        Files.write(file, data);
        UserError e = assertThrows(UserError.class, () -> TensorBoardEvents.read(file));
        assertEquals(file + ": record at byte " + second + " has a bad data CRC (a corrupt event file)",
                e.getMessage());

        byte[] len = good.clone();
        len[second] ^= 2; // the second record's length
        Files.write(file, len);
        e = assertThrows(UserError.class, () -> TensorBoardEvents.read(file));
        assertEquals(file + ": record at byte " + second + " has a bad length CRC (a corrupt event file)",
                e.getMessage());

        Files.write(file, java.util.Arrays.copyOf(good, good.length - 3));
        e = assertThrows(UserError.class, () -> TensorBoardEvents.read(file));
        assertTrue(e.getMessage().contains("cut short"), e.getMessage());

        Files.write(file, good);
        assertEquals(List.of(new TensorBoardEvents.Scalar("loss", 1, 1.5f)), TensorBoardEvents.readScalars(file));
    }

    @Test
    void theRunReportWritesEachNumericEntryAndAResumeStartsANewFile(@TempDir Path dir) throws IOException {
        try (RunReport r = RunReport.open("jsonl,tensorboard", dir, 0)) {
            for (int step = 1; step <= 4; step++) {
                Map<String, Object> rec = new LinkedHashMap<>();
                rec.put("step", step);
                rec.put("loss", 2.0 / step);
                rec.put("skipped", step == 3);
                rec.put("note", "not a number");
                r.step(rec);
            }
        }
        assertEquals(4, Files.readAllLines(dir.resolve("metrics.jsonl")).size());
        List<Path> files = TensorBoardEvents.files(dir);
        assertEquals(1, files.size());
        List<TensorBoardEvents.Scalar> s = TensorBoardEvents.readScalars(files.getFirst());
        assertEquals(8, s.size());
        assertEquals(new TensorBoardEvents.Scalar("loss", 3, (float) (2.0 / 3)), s.get(4));
        assertEquals(new TensorBoardEvents.Scalar("skipped", 3, 1f), s.get(5));

        // resumed from a checkpoint at step 2: a second file, telling TensorBoard to drop steps 3 and 4 of the first
        try (RunReport r = RunReport.open("tensorboard", dir, 2)) {
            r.step(new LinkedHashMap<>(Map.of("step", 3, "loss", 0.25)));
        }
        files = TensorBoardEvents.files(dir);
        assertEquals(2, files.size());
        List<TensorBoardEvents.Event> resumed = TensorBoardEvents.read(files.get(1));
        assertTrue(resumed.get(1).sessionStart());
        assertEquals(3, resumed.get(1).step());
        assertFalse(resumed.get(2).sessionStart());
        assertEquals(Map.of("loss", 0.25f), resumed.get(2).scalars());
        assertArrayEquals(new long[] {3}, TensorBoardEvents.readScalars(files.get(1)).stream()
                .mapToLong(TensorBoardEvents.Scalar::step).toArray());
    }

    @Test
    void reportToTakesSeveralTargetsButNoneAlone() {
        assertEquals("jsonl,tensorboard", RunReport.check("JSONL, tensorboard,jsonl"));
        assertEquals("none", RunReport.check("none"));
        assertEquals("'wandb' is not one of jsonl, tensorboard, none",
                assertThrows(IllegalArgumentException.class, () -> RunReport.check("jsonl,wandb")).getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> RunReport.check("none,jsonl")).getMessage()
                .startsWith("'none' cannot be combined"));
    }
}
