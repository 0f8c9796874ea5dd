package dev.rlhf4j.model.io;

import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CkptSafetensorsTest {
    @TempDir
    Path tmp;

    @Test
    void f32RoundTripIsBitExactWithAPaddedHeaderAndMetadata() throws IOException {
        float[] special = {0f, -0f, 1f, Float.MIN_VALUE, -Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NaN, 1e-40f};
        float[] random = randomFloats(35, 1);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        tensors.put("special", Tensor.of(special, 2, 4));
        tensors.put("a.b.weight", Tensor.of(random, 5, 7));
        tensors.put("empty", Tensor.zeros(0, 3));
        Path file = tmp.resolve("x.safetensors");
        Safetensors.write(file, tensors, Safetensors.DType.F32, Map.of("format", "pt"));

        long headerLen = ByteBuffer.wrap(Files.readAllBytes(file), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        assertEquals(0, headerLen % 8, "header padded so the data is 8-byte aligned");
        try (Safetensors st = Safetensors.open(file)) {
            assertEquals(Map.of("format", "pt"), st.metadata());
            assertEquals(List.of("special", "a.b.weight", "empty"), List.copyOf(st.tensors().keySet()));
            assertArrayEquals(new int[] {5, 7}, st.info("a.b.weight").shape());
            assertBitsEqual(special, st.read("special"));
            assertBitsEqual(random, st.read("a.b.weight"));
            assertEquals(0, st.read("empty").length);
        }
    }

    @Test
    void bf16RoundsToNearestEven() throws IOException {
        float tieDown = Float.intBitsToFloat(0x3F808000); // halfway between 1.0 and the next bfloat16: keeps even 1.0
        float tieUp = Float.intBitsToFloat(0x3F818000);   // halfway between 0x3F81 and 0x3F82: goes to even 0x3F82
        float above = Float.intBitsToFloat(0x3F808001);   // just past halfway: rounds up
        float[] values = {tieDown, tieUp, above, -tieUp, Float.MAX_VALUE, Float.NaN, 1f, -0f};
        float[] expected = {1f, Float.intBitsToFloat(0x3F820000), Float.intBitsToFloat(0x3F810000),
                -Float.intBitsToFloat(0x3F820000), Float.POSITIVE_INFINITY, Float.NaN, 1f, -0f};
        Path file = tmp.resolve("bf16.safetensors");
        Safetensors.write(file, Map.of("v", Tensor.of(values, 8)), Safetensors.DType.BF16, Map.of());
        try (Safetensors st = Safetensors.open(file)) {
            assertEquals(Safetensors.DType.BF16, st.info("v").dtype());
            assertEquals(16, st.info("v").byteSize());
            float[] read = st.read("v");
            assertBitsEqual(expected, read);
            for (int i = 0; i < values.length; i++) {
                assertEquals(Float.floatToIntBits(Safetensors.roundToBfloat16(values[i])),
                        Float.floatToIntBits(read[i]));
            }
        }
    }

    @Test
    void f16IsIeeeHalfPrecision() throws IOException {
        float[] values = randomFloats(64, 2);
        Path file = tmp.resolve("f16.safetensors");
        Safetensors.write(file, Map.of("v", Tensor.of(values, 8, 8)), Safetensors.DType.F16, Map.of());
        byte[] bytes = Files.readAllBytes(file);
        ByteBuffer data = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        int dataStart = 8 + (int) data.getLong(0);
        try (Safetensors st = Safetensors.open(file)) {
            float[] read = st.read("v");
            for (int i = 0; i < values.length; i++) {
                short half = data.getShort(dataStart + 2 * i);
                assertEquals(Float.floatToFloat16(values[i]), half);
                assertEquals(Float.float16ToFloat(half), read[i]);
            }
        }
    }

    @Test
    void shardedIndexReadsEachTensorFromItsShard() throws IOException {
        Safetensors.write(tmp.resolve("m-1.safetensors"), Map.of("a", Tensor.of(new float[] {1, 2}, 2)),
                Safetensors.DType.F32, Map.of("format", "pt"));
        Safetensors.write(tmp.resolve("m-2.safetensors"), Map.of("b", Tensor.of(new float[] {3}, 1, 1)),
                Safetensors.DType.BF16, Map.of("format", "pt"));
        Files.writeString(tmp.resolve(Safetensors.INDEX_FILE), """
                {"metadata": {"total_size": 10}, "weight_map": {"a": "m-1.safetensors", "b": "m-2.safetensors"}}""");
        try (Safetensors st = Safetensors.openDirectory(tmp)) {
            assertArrayEquals(new float[] {1, 2}, st.read("a"));
            assertArrayEquals(new float[] {3}, st.read("b"));
            assertEquals(tmp.resolve("m-2.safetensors"), st.info("b").file());
        }
        Files.writeString(tmp.resolve(Safetensors.INDEX_FILE), """
                {"weight_map": {"a": "m-1.safetensors", "c": "m-3.safetensors"}}""");
        assertOneLine(assertThrows(IOException.class, () -> Safetensors.openDirectory(tmp)),
                Safetensors.INDEX_FILE, "'c'", "m-3.safetensors");
        Files.writeString(tmp.resolve(Safetensors.INDEX_FILE), """
                {"weight_map": {"a": "m-1.safetensors", "b": "m-1.safetensors"}}""");
        assertOneLine(assertThrows(IOException.class, () -> Safetensors.openDirectory(tmp)),
                "'b' is not in m-1.safetensors");
    }

    // ------------------------------------------------------------------ corrupt files

    @Test
    void fileShorterThanTheHeaderLength() throws IOException {
        Path file = tmp.resolve("short.safetensors");
        Files.write(file, new byte[] {1, 2, 3, 4, 5});
        assertOneLine(openFails(file), file.toString(), "truncated", "5 bytes");
    }

    @Test
    void headerLengthBeyondTheFile() throws IOException {
        Path file = tmp.resolve("long-header.safetensors");
        Files.write(file, withHeaderLength(1000, "{}"));
        assertOneLine(openFails(file), file.toString(), "header length 1000");
    }

    @Test
    void truncatedDataPutsTheOffsetsOutsideTheData() throws IOException {
        Path file = tmp.resolve("cut.safetensors");
        Safetensors.write(file, Map.of("w", Tensor.zeros(4, 4)), Safetensors.DType.F32, Map.of());
        byte[] bytes = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(bytes, bytes.length - 10));
        assertOneLine(openFails(file), file.toString(), "'w'", "data_offsets [0, 64]", "54 data bytes");
    }

    @Test
    void shapeThatDoesNotMatchTheByteCount() throws IOException {
        Path file = tmp.resolve("shape.safetensors");
        Files.write(file, withData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20));
        assertOneLine(openFails(file), file.toString(), "'w'", "[2, 3] of F32 needs 24 bytes", "hold 20");
    }

    @Test
    void unknownDtype() throws IOException {
        Path file = tmp.resolve("dtype.safetensors");
        Files.write(file, withData("{\"w\":{\"dtype\":\"F7\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2));
        assertOneLine(openFails(file), file.toString(), "'w'", "unknown dtype 'F7'");
    }

    @Test
    void headerThatIsNotJson() throws IOException {
        Path file = tmp.resolve("json.safetensors");
        Files.write(file, withData("{\"w\": [1, 2", 0));
        assertOneLine(openFails(file), file.toString(), "not valid JSON");
    }

    @Test
    void integerTensorsAreListedButNotConverted() throws IOException {
        Path file = tmp.resolve("ints.safetensors");
        Files.write(file, withData("{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16));
        try (Safetensors st = Safetensors.open(file)) {
            assertEquals(Safetensors.DType.I64, st.info("ids").dtype());
            assertOneLine(assertThrows(IOException.class, () -> st.read("ids")), file.toString(), "'ids'", "I64");
        }
    }

    @Test
    void missingFileAndDirectoryWithoutWeights() {
        assertOneLine(openFails(tmp.resolve("nope.safetensors")), "nope.safetensors");
        assertOneLine(assertThrows(IOException.class, () -> Safetensors.openDirectory(tmp)), tmp.toString(),
                "model.safetensors");
    }

    // ------------------------------------------------------------------ helpers

    private static IOException openFails(Path file) {
        return assertThrows(IOException.class, () -> Safetensors.open(file).close());
    }

    static void assertOneLine(Exception e, String... mentions) {
        String m = e.getMessage();
        assertFalse(m.contains("\n"), m);
        for (String s : mentions) {
            assertTrue(m.contains(s), "'" + m + "' should mention " + s);
        }
    }

    private static byte[] withHeaderLength(long length, String json) {
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + header.length).order(ByteOrder.LITTLE_ENDIAN).putLong(length).put(header)
                .array();
    }

    private static byte[] withData(String json, int dataBytes) {
        byte[] header = json.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(header.length).put(header).array();
    }

    private static float[] randomFloats(int n, long seed) {
        Rng rng = new Rng(seed);
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            out[i] = (float) rng.nextGaussian();
        }
        return out;
    }

    private static void assertBitsEqual(float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(actual[i]),
                    "element " + i + ": expected " + expected[i] + " but got " + actual[i]);
        }
    }
}
