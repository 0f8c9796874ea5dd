package dev.rlhf4j.model.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The safetensors format (huggingface/safetensors, "Format" in its README): an 8-byte little-endian header length
 * N, N bytes of UTF-8 JSON mapping each tensor name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (plus
 * an optional {@code "__metadata__"} map of strings), then the data, with offsets relative to its start. Tensors are
 * row-major and little-endian.
 *
 * <p>Files are memory-mapped; reading a tensor converts it to float32 from F32, F16 or BF16. A sharded checkpoint is
 * read through its {@code model.safetensors.index.json}, whose {@code weight_map} names the file of each tensor.
 * Everything wrong with a file raises an {@link IOException} of one line naming the file (and the tensor).
 */
public final class Safetensors implements AutoCloseable {

    /** The element types of the format, with their sizes; only F32, F16 and BF16 are converted to float. */
    public enum DType {
        BOOL(1), U8(1), I8(1), F8_E5M2(1), F8_E4M3(1), I16(2), U16(2), F16(2), BF16(2), I32(4), U32(4), F32(4),
        F64(8), I64(8), U64(8);

        public final int bytes;

        DType(int bytes) {
            this.bytes = bytes;
        }
    }

    /** Where one tensor lives: {@code file} and the absolute byte range {@code [start, start + byteSize)}. */
    public record TensorInfo(String name, DType dtype, int[] shape, Path file, long start, long byteSize) {
        public long elements() {
            long n = 1;
            for (int d : shape) {
                n *= d;
            }
            return n;
        }

        public String shapeString() {
            return Arrays.toString(shape);
        }
    }

    /** A tensor to write: its name, shape, and its float32 values produced when its turn comes. */
    public record Entry(String name, int[] shape, Supplier<Tensor> values) {}

    public static final String INDEX_FILE = "model.safetensors.index.json";
    public static final String SINGLE_FILE = "model.safetensors";

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ValueLayout.OfFloat F32_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16_LE =
            ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64_LE = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Arena arena;
    private final Map<String, TensorInfo> tensors;
    private final Map<Path, MemorySegment> mapped;
    private final Map<String, String> metadata;

    private Safetensors(Arena arena, Map<String, TensorInfo> tensors, Map<Path, MemorySegment> mapped,
                        Map<String, String> metadata) {
        this.arena = arena;
        this.tensors = Collections.unmodifiableMap(tensors);
        this.mapped = mapped;
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    // ------------------------------------------------------------------ reading

    /** Opens one {@code .safetensors} file, or a sharded checkpoint through its {@code .index.json}. */
    public static Safetensors open(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no such safetensors file");
        }
        Arena arena = Arena.ofShared();
        try {
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            Map<Path, MemorySegment> mapped = new LinkedHashMap<>();
            Map<String, String> metadata = new LinkedHashMap<>();
            if (file.getFileName().toString().endsWith(".json")) {
                readIndex(file, arena, tensors, mapped, metadata);
            } else {
                mapFile(file, arena, tensors, mapped, metadata);
            }
            return new Safetensors(arena, tensors, mapped, metadata);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Opens the weights of an HF model directory: {@code model.safetensors}, else the sharded index. */
    public static Safetensors openDirectory(Path dir) throws IOException {
        if (Files.isRegularFile(dir.resolve(SINGLE_FILE))) {
            return open(dir.resolve(SINGLE_FILE));
        }
        if (Files.isRegularFile(dir.resolve(INDEX_FILE))) {
            return open(dir.resolve(INDEX_FILE));
        }
        String hint = Files.exists(dir.resolve("pytorch_model.bin"))
                ? " (pytorch_model.bin is a pickle, which rlhf4j does not read: save the model with safetensors)" : "";
        throw new NoSuchFileException(dir.toString(), null, "no " + SINGLE_FILE + " or " + INDEX_FILE + hint);
    }

    private static void readIndex(Path index, Arena arena, Map<String, TensorInfo> tensors,
                                  Map<Path, MemorySegment> mapped, Map<String, String> metadata) throws IOException {
        JsonNode weightMap;
        try {
            weightMap = JSON.readTree(index.toFile()).get("weight_map");
        } catch (IOException e) {
            throw new IOException(index + ": not valid JSON (" + oneLine(e) + ")");
        }
        if (weightMap == null || !weightMap.isObject()) {
            throw new IOException(index + ": no \"weight_map\" object");
        }
        Map<String, TensorInfo> all = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : weightMap.properties()) {
            Path shard = index.resolveSibling(e.getValue().asText());
            if (!mapped.containsKey(shard)) {
                if (!Files.isRegularFile(shard)) {
                    throw new IOException(index + ": tensor '" + e.getKey() + "' is in " + shard.getFileName()
                            + ", which does not exist");
                }
                mapFile(shard, arena, all, mapped, metadata);
            }
            TensorInfo info = all.get(e.getKey());
            if (info == null || !info.file().equals(shard)) {
                throw new IOException(index + ": tensor '" + e.getKey() + "' is not in " + shard.getFileName());
            }
            tensors.put(e.getKey(), info);
        }
    }

    private static void mapFile(Path file, Arena arena, Map<String, TensorInfo> tensors,
                                Map<Path, MemorySegment> mapped, Map<String, String> metadata) throws IOException {
        MemorySegment seg;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        }
        long size = seg.byteSize();
        if (size < 8) {
            throw new IOException(file + ": truncated safetensors file (" + size + " bytes, the header length alone "
                    + "takes 8)");
        }
        long headerLen = seg.get(I64_LE, 0);
        if (headerLen < 2 || headerLen > size - 8) {
            throw new IOException(file + ": header length " + Long.toUnsignedString(headerLen) + " does not fit in the "
                    + size + "-byte file (truncated, or not a safetensors file)");
        }
        byte[] headerBytes = seg.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
        JsonNode header;
        try {
            header = JSON.readTree(headerBytes);
        } catch (IOException e) {
            throw new IOException(file + ": header is not valid JSON (" + oneLine(e) + ")");
        }
        if (header == null || !header.isObject()) {
            throw new IOException(file + ": header is not a JSON object");
        }
        long dataStart = 8 + headerLen, dataSize = size - dataStart;
        List<TensorInfo> infos = new ArrayList<>();
        for (Map.Entry<String, JsonNode> e : header.properties()) {
            String name = e.getKey();
            if (name.equals("__metadata__")) {
                e.getValue().properties().forEach(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            TensorInfo info = tensorInfo(file, name, e.getValue(), dataStart, dataSize);
            infos.add(info);
            if (tensors.putIfAbsent(name, info) != null) {
                throw new IOException(file + ": tensor '" + name + "' appears in more than one shard");
            }
        }
        requireDisjoint(file, infos, dataStart);
        mapped.put(file, seg);
    }

    /**
     * Refuses a file whose tensors share bytes: writing one would change another, and a header that points two
     * tensors at one range is corrupt or crafted (the safetensors library refuses it too).
     */
    /** A class rather than a lambda: the first lambda a loader runs costs a cold JVM tens of milliseconds. */
    private static final Comparator<TensorInfo> BY_START = new Comparator<>() {
        @Override
        public int compare(TensorInfo a, TensorInfo b) {
            return Long.compare(a.start(), b.start());
        }
    };

    private static void requireDisjoint(Path file, List<TensorInfo> infos, long dataStart) throws IOException {
        TensorInfo[] sorted = new TensorInfo[infos.size()];
        int count = 0;
        for (TensorInfo t : infos) {
            if (t.byteSize() > 0) {
                sorted[count++] = t;
            }
        }
        Arrays.sort(sorted, 0, count, BY_START);
        for (int i = 1; i < count; i++) {
            TensorInfo a = sorted[i - 1], b = sorted[i];
            if (b.start() < a.start() + a.byteSize()) {
                throw new IOException(file + ": tensors '" + a.name() + "' (data_offsets [" + (a.start() - dataStart)
                        + ", " + (a.start() - dataStart + a.byteSize()) + "]) and '" + b.name() + "' (data_offsets ["
                        + (b.start() - dataStart) + ", " + (b.start() - dataStart + b.byteSize()) + "]) overlap; "
                        + "the header is corrupt");
            }
        }
    }

    private static TensorInfo tensorInfo(Path file, String name, JsonNode node, long dataStart, long dataSize)
            throws IOException {
        String where = file + ": tensor '" + name + "'";
        JsonNode dtypeNode = node.get("dtype"), shapeNode = node.get("shape"), offsets = node.get("data_offsets");
        if (dtypeNode == null || !dtypeNode.isTextual() || shapeNode == null || !shapeNode.isArray()
                || offsets == null || !offsets.isArray() || offsets.size() != 2) {
            throw new IOException(where + " needs \"dtype\", \"shape\" and two \"data_offsets\"");
        }
        DType dtype;
        try {
            dtype = DType.valueOf(dtypeNode.asText());
        } catch (IllegalArgumentException e) {
            throw new IOException(where + " has unknown dtype '" + dtypeNode.asText() + "'");
        }
        int[] shape = new int[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.canConvertToInt() || d.asInt() < 0) {
                throw new IOException(where + " has an invalid dimension " + d + " in shape " + shapeNode);
            }
            shape[i] = d.asInt();
            if (shape[i] > 0 && elements > (Long.MAX_VALUE / 16) / shape[i]) {
                throw new IOException(where + " has an impossibly large shape " + shapeNode);
            }
            elements *= shape[i];
        }
        long begin = offsets.get(0).asLong(-1), end = offsets.get(1).asLong(-1);
        if (!offsets.get(0).canConvertToLong() || !offsets.get(1).canConvertToLong() || begin < 0 || end < begin) {
            throw new IOException(where + " has invalid data_offsets " + offsets);
        }
        if (end > dataSize) {
            throw new IOException(where + " has data_offsets [" + begin + ", " + end + "] past the end of the "
                    + dataSize + " data bytes (truncated file?)");
        }
        long expected = elements * dtype.bytes;
        if (end - begin != expected) {
            throw new IOException(where + ": shape " + Arrays.toString(shape) + " of " + dtype + " needs " + expected
                    + " bytes but data_offsets [" + begin + ", " + end + "] hold " + (end - begin));
        }
        return new TensorInfo(name, dtype, shape, file, dataStart + begin, expected);
    }

    /** Tensors by name, in header order. */
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    public boolean has(String name) {
        return tensors.containsKey(name);
    }

    public TensorInfo info(String name) throws IOException {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new IOException(describeSource() + ": no tensor named '" + name + "'");
        }
        return info;
    }

    /** The {@code __metadata__} strings (of every shard, merged). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The tensor's values converted to float32, row-major. */
    public float[] read(String name) throws IOException {
        TensorInfo info = info(name);
        if (info.elements() > Integer.MAX_VALUE - 8) {
            throw new IOException(info.file() + ": tensor '" + name + "' " + info.shapeString()
                    + " is too large for one array");
        }
        float[] out = new float[(int) info.elements()];
        read(name, out, 0);
        return out;
    }

    /** Converts the tensor into {@code dst} from {@code offset} on. */
    public void read(String name, float[] dst, int offset) throws IOException {
        convert(name, dst, offset, false);
    }

    /**
     * The tensor as weights: converted into {@code dst} from {@code offset} on like
     * {@link #read(String, float[], int)}, and refused, naming it and its first bad element, if it holds a NaN or an
     * infinity. What model and checkpoint loaders use; {@code read} returns the values as stored, whatever they are.
     */
    public void readWeights(String name, float[] dst, int offset) throws IOException {
        if (convert(name, dst, offset, true)) {
            TensorInfo info = info(name);
            FiniteWeights.require(dst, offset, (int) info.elements(), info.shape(), info.file(), name);
        }
    }

    /**
     * Converts the tensor into {@code dst}; returns whether it holds a NaN or an infinity. F16 and BF16 values are
     * checked from their stored bits as they are converted (all exponent bits set: adding one at the lowest carries
     * out), at no measurable cost; F32 values, copied in bulk, are scanned afterwards when {@code check} is set.
     */
    private boolean convert(String name, float[] dst, int offset, boolean check) throws IOException {
        TensorInfo info = info(name);
        long n = info.elements();
        if (offset < 0 || offset + n > dst.length) {
            throw new IllegalArgumentException("tensor '" + name + "' of " + n + " elements does not fit at offset "
                    + offset + " of " + dst.length);
        }
        MemorySegment seg = mapped.get(info.file());
        long at = info.start();
        switch (info.dtype()) {
            case F32 -> {
                MemorySegment.copy(seg, F32_LE, at, dst, offset, (int) n);
                return check && Tensor.firstNonFinite(dst, offset, (int) n) >= 0;
            }
            case F16 -> {
                int special = 0;
                for (int i = 0; i < n; i++) {
                    short h = seg.get(I16_LE, at + 2L * i);
                    dst[offset + i] = Float.float16ToFloat(h);
                    special |= (h & 0x7C00) + 0x0400;
                }
                return (special & 0x8000) != 0;
            }
            case BF16 -> {
                // bfloat16 is the top half of a float32
                int special = 0;
                for (int i = 0; i < n; i++) {
                    int bits = seg.get(I16_LE, at + 2L * i) << 16;
                    dst[offset + i] = Float.intBitsToFloat(bits);
                    special |= (bits & 0x7F800000) + 0x00800000;
                }
                return special < 0;
            }
            default -> throw new IOException(info.file() + ": tensor '" + name + "' has dtype " + info.dtype()
                    + "; rlhf4j reads F32, F16 and BF16");
        }
    }

    /** {@link #readWeights(String, float[], int)} into a new array. */
    public float[] readWeights(String name) throws IOException {
        TensorInfo info = info(name);
        if (info.elements() > Integer.MAX_VALUE - 8) {
            throw new IOException(info.file() + ": tensor '" + name + "' " + info.shapeString()
                    + " is too large for one array");
        }
        float[] out = new float[(int) info.elements()];
        readWeights(name, out, 0);
        return out;
    }

    private String describeSource() {
        return mapped.size() == 1 ? mapped.keySet().iterator().next().toString() : mapped.keySet().toString();
    }

    /** Unmaps the files; tensors can no longer be read. */
    @Override
    public void close() {
        arena.close();
    }

    // ------------------------------------------------------------------ writing

    /** Writes {@code tensors} in map order as {@code dtype} (F32, F16 or BF16). */
    public static void write(Path file, Map<String, Tensor> tensors, DType dtype, Map<String, String> metadata)
            throws IOException {
        List<Entry> entries = new ArrayList<>();
        tensors.forEach((name, t) -> entries.add(new Entry(name, t.shape(), () -> t)));
        write(file, entries, dtype, metadata);
    }

    /**
     * Writes the entries in order as {@code dtype} (F32, F16 or BF16), each produced only when it is written so that
     * converted copies (transposes) never all exist at once. F16 and BF16 round to nearest even, as PyTorch's
     * {@code .to(torch.bfloat16)} does. The header is padded with spaces to a multiple of 8 bytes so the data is
     * aligned. The file appears whole or not at all: it is written beside and then moved into place.
     */
    public static void write(Path file, List<Entry> entries, DType dtype, Map<String, String> metadata)
            throws IOException {
        if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16) {
            throw new UserError("safetensors: rlhf4j writes F32, F16 or BF16, not " + dtype);
        }
        byte[] header = header(entries, dtype, metadata);
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer buf = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
            buf.putLong(header.length);
            flush(ch, buf);
            writeFully(ch, ByteBuffer.wrap(header));
            for (Entry e : entries) {
                Tensor t = e.values().get();
                if (!Arrays.equals(t.shape(), e.shape())) {
                    throw new IllegalArgumentException("safetensors: tensor '" + e.name() + "' was declared "
                            + Arrays.toString(e.shape()) + " but produced " + t.shapeString());
                }
                encode(ch, buf, t.data(), t.offset(), t.size(), dtype);
            }
        } catch (IOException | RuntimeException ex) {
            Files.deleteIfExists(tmp);
            throw ex;
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static byte[] header(List<Entry> entries, DType dtype, Map<String, String> metadata) {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Entry e : entries) {
            long n = 1;
            for (int d : e.shape()) {
                n *= d;
            }
            ObjectNode t = root.putObject(e.name());
            t.put("dtype", dtype.name());
            t.putArray("shape").addAll(Arrays.stream(e.shape()).mapToObj(JSON.getNodeFactory()::numberNode).toList());
            t.putArray("data_offsets").add(offset).add(offset + n * dtype.bytes);
            offset += n * dtype.bytes;
        }
        byte[] json = root.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        byte[] out = Arrays.copyOf(json, padded);
        Arrays.fill(out, json.length, padded, (byte) ' ');
        return out;
    }

    private static void encode(FileChannel ch, ByteBuffer buf, float[] src, int offset, int n, DType dtype)
            throws IOException {
        for (int i = 0; i < n; i++) {
            if (buf.remaining() < 4) {
                flush(ch, buf);
            }
            float v = src[offset + i];
            switch (dtype) {
                case F32 -> buf.putFloat(v);
                case F16 -> buf.putShort(Float.floatToFloat16(v));
                default -> buf.putShort(toBfloat16(v));
            }
        }
        flush(ch, buf);
    }

    /**
     * float32 to bfloat16 bits, rounding to nearest even (c10::BFloat16's round_to_nearest_even): add 0x7FFF plus the
     * lowest kept bit, then truncate. NaN stays a quiet NaN of the same sign.
     */
    public static short toBfloat16(float v) {
        int bits = Float.floatToRawIntBits(v);
        if (Float.isNaN(v)) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        return (short) ((bits + 0x7FFF + ((bits >>> 16) & 1)) >>> 16);
    }

    /** The float32 that {@code v} becomes after a round trip through bfloat16. */
    public static float roundToBfloat16(float v) {
        return Float.intBitsToFloat(toBfloat16(v) << 16);
    }

    private static void flush(FileChannel ch, ByteBuffer buf) throws IOException {
        buf.flip();
        writeFully(ch, buf);
        buf.clear();
    }

    private static void writeFully(FileChannel ch, ByteBuffer buf) throws IOException {
        while (buf.hasRemaining()) {
            ch.write(buf);
        }
    }

    static String oneLine(Exception e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }
}
