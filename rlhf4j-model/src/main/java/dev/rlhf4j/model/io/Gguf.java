package dev.rlhf4j.model.io;

import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.WeightDtype;
import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.Q8Matrix;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.WeightMatrix;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * GGUF files, versions 2 and 3 (ggml's docs/gguf.md): magic "GGUF", uint32 version, uint64 tensor and metadata
 * counts, typed key/value metadata, tensor infos (name, dimensions with {@code ne[0]} innermost, ggml type, offset),
 * then the tensor data aligned to {@code general.alignment} (32 by default). All little-endian.
 *
 * <p>The file is memory-mapped. F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K tensors are read (dequantised) to
 * float32, or, with {@code keepQ8}, Q8_0 matrices are kept quantised ({@link Q8Matrix}) in a packed model; other ggml
 * types are refused by name when the file is opened. The {@code llama} architecture maps onto a
 * Llama-family {@link Transformer} with {@link Rope.Style#INTERLEAVED} RoPE: llama.cpp's converter permutes HF's q
 * and k rows back to Meta's pairing. Errors in a file raise one-line {@link IOException}s naming it.
 */
public final class Gguf implements AutoCloseable {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 =
            ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32

    /** The ggml tensor types rlhf4j reads: id, elements per block and bytes per block (ggml.h, ggml-common.h). */
    public enum TensorType {
        F32(0, 1, 4), F16(1, 1, 2), Q4_0(2, 32, 18), Q8_0(8, 32, 34), Q4_K(12, 256, 144), Q6_K(14, 256, 210),
        BF16(30, 1, 2);

        public final int id, blockSize, blockBytes;

        TensorType(int id, int blockSize, int blockBytes) {
            this.id = id;
            this.blockSize = blockSize;
            this.blockBytes = blockBytes;
        }

        static Optional<TensorType> of(int id) {
            return Arrays.stream(values()).filter(t -> t.id == id).findFirst();
        }
    }

    /** Names of the other ggml types, for the error that refuses them. */
    private static final Map<Integer, String> OTHER_TYPES = Map.ofEntries(Map.entry(3, "Q4_1"), Map.entry(6, "Q5_0"),
            Map.entry(7, "Q5_1"), Map.entry(9, "Q8_1"), Map.entry(10, "Q2_K"), Map.entry(11, "Q3_K"),
            Map.entry(13, "Q5_K"), Map.entry(15, "Q8_K"));

    /**
     * One tensor: {@code dims} as GGUF stores them, {@code ne[0]} (the contiguous one) first, so the row-major shape
     * is {@code dims} reversed; {@code start} is its absolute byte offset in the file.
     */
    public record TensorInfo(String name, long[] dims, TensorType type, long start, long byteSize) {
        public long elements() {
            long n = 1;
            for (long d : dims) {
                n *= d;
            }
            return n;
        }

        /** The row-major shape (dims reversed). */
        public int[] shape() {
            int[] s = new int[dims.length];
            for (int i = 0; i < dims.length; i++) {
                s[i] = (int) dims[dims.length - 1 - i];
            }
            return s;
        }
    }

    private final Path file;
    private final Arena arena;
    private final MemorySegment seg;
    private final int version;
    private final Map<String, Object> metadata;
    private final Map<String, TensorInfo> tensors;

    private Gguf(Path file, Arena arena, MemorySegment seg, int version, Map<String, Object> metadata,
                 Map<String, TensorInfo> tensors) {
        this.file = file;
        this.arena = arena;
        this.seg = seg;
        this.version = version;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.tensors = Collections.unmodifiableMap(tensors);
    }

    /** Maps the file and parses its header, metadata and tensor infos. */
    public static Gguf open(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no such GGUF file");
        }
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            Cursor in = new Cursor(file, seg);
            if (seg.byteSize() < 4 || in.i32("magic") != MAGIC) {
                throw new IOException(file + ": not a GGUF file (no \"GGUF\" magic)");
            }
            int version = in.i32("version");
            if (version == 1) {
                throw new IOException(file + ": GGUF version 1 (32-bit counts) is not supported; convert it to v3");
            }
            if (version != 2 && version != 3) {
                throw new IOException(file + ": unknown GGUF version " + Integer.toUnsignedString(version)
                        + " (rlhf4j reads 2 and 3)");
            }
            long tensorCount = in.i64("tensor count"), kvCount = in.i64("metadata count");
            Map<String, Object> metadata = new LinkedHashMap<>();
            for (long i = 0; i < kvCount; i++) {
                String key = in.string("metadata key " + i);
                String what = "metadata '" + key + "'";
                metadata.put(key, in.value(in.i32(what), what));
            }
            long alignment = metadata.get("general.alignment") instanceof Number n ? n.longValue() : 32;
            if (alignment <= 0 || Long.bitCount(alignment) != 1) {
                throw new IOException(file + ": general.alignment " + alignment + " is not a power of two");
            }
            List<RawInfo> infos = new ArrayList<>();
            for (long i = 0; i < tensorCount; i++) {
                String name = in.string("tensor name " + i);
                int nDims = in.i32("dimension count of " + name);
                if (nDims < 1 || nDims > 4) {
                    throw new IOException(file + ": tensor '" + name + "' has " + nDims
                            + " dimensions (ggml has 1 to 4)");
                }
                long[] dims = new long[nDims];
                for (int d = 0; d < nDims; d++) {
                    dims[d] = in.i64("dimensions of " + name);
                }
                infos.add(new RawInfo(name, dims, in.i32("type of " + name), in.i64("offset of " + name)));
            }
            long dataStart = (in.pos + alignment - 1) / alignment * alignment;
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            for (RawInfo raw : infos) {
                if (tensors.put(raw.name(), tensorInfo(file, raw, dataStart, seg.byteSize())) != null) {
                    throw new IOException(file + ": tensor '" + raw.name() + "' appears twice");
                }
            }
            return new Gguf(file, arena, seg, version, metadata, tensors);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** A tensor info as stored: {@code offset} is relative to the aligned start of the data. */
    private record RawInfo(String name, long[] dims, int typeId, long offset) {
    }

    private static TensorInfo tensorInfo(Path file, RawInfo raw, long dataStart, long fileSize) throws IOException {
        String name = raw.name();
        long[] dims = raw.dims();
        int typeId = raw.typeId();
        long offset = raw.offset();
        String where = file + ": tensor '" + name + "'";
        String other = OTHER_TYPES.get(typeId);
        TensorType type = TensorType.of(typeId).orElseThrow(() -> new IOException(where + " has ggml type " + typeId
                + (other == null ? " (unknown)" : " (" + other + ")")
                + ", which rlhf4j does not read (" + Arrays.toString(TensorType.values()) + ")"));
        long elements = 1;
        for (long d : dims) {
            if (d < 0 || d > Integer.MAX_VALUE || (d > 0 && elements > Integer.MAX_VALUE / d)) {
                throw new IOException(where + " has dimensions " + Arrays.toString(dims) + " too large to read");
            }
            elements *= d;
        }
        if (dims[0] % type.blockSize != 0) {
            throw new IOException(where + ": ne[0] = " + dims[0] + " is not a multiple of the " + type + " block of "
                    + type.blockSize);
        }
        long bytes = elements / type.blockSize * type.blockBytes;
        long start = dataStart + offset;
        if (offset < 0 || start + bytes > fileSize) {
            throw new IOException(where + " data [" + start + ", " + (start + bytes) + ") runs past the end of the "
                    + fileSize + "-byte file (truncated?)");
        }
        return new TensorInfo(name, dims, type, start, bytes);
    }

    public int version() {
        return version;
    }

    /**
     * The metadata in file order. Scalars: (u)int8/16 and int32 as Integer, uint32 and (u)int64 as Long, float32 as
     * Float, float64 as Double, bool as Boolean, string as String. Arrays: int[] / long[] / float[] / double[] /
     * boolean[] by the same rule, List&lt;String&gt; of strings, List&lt;Object&gt; of arrays.
     */
    public Map<String, Object> metadata() {
        return metadata;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    public TensorInfo info(String name) throws IOException {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            throw new IOException(file + ": no tensor named '" + name + "'");
        }
        return t;
    }

    /** The tensor dequantised to float32, in storage order (row-major in {@link TensorInfo#shape()}). */
    public float[] read(String name) throws IOException {
        TensorInfo t = info(name);
        float[] out = new float[(int) t.elements()];
        read(t, out, 0);
        return out;
    }

    /** Dequantises the tensor into {@code dst}, refusing NaN and infinite weights with the tensor named. */
    private void read(TensorInfo t, float[] dst, int offset) throws IOException {
        if (dequantize(t, dst, offset)) {
            FiniteWeights.require(dst, offset, (int) t.elements(), t.shape(), file, t.name());
        }
    }

    /**
     * Dequantises; returns whether a value is NaN or infinite, found from the stored bits of F16 and BF16 as they
     * are converted (all exponent bits set: adding one at the lowest carries out) and by a scan for the others.
     */
    private boolean dequantize(TensorInfo t, float[] dst, int offset) {
        long at = t.start();
        int n = (int) t.elements();
        switch (t.type()) {
            case F32 -> MemorySegment.copy(seg, F32, at, dst, offset, n);
            case F16 -> {
                int special = 0;
                for (int i = 0; i < n; i++) {
                    short h = seg.get(I16, at + 2L * i);
                    dst[offset + i] = Float.float16ToFloat(h);
                    special |= (h & 0x7C00) + 0x0400;
                }
                return (special & 0x8000) != 0;
            }
            case BF16 -> {
                int special = 0;
                for (int i = 0; i < n; i++) {
                    int bits = seg.get(I16, at + 2L * i) << 16;
                    dst[offset + i] = Float.intBitsToFloat(bits);
                    special |= (bits & 0x7F800000) + 0x00800000;
                }
                return special < 0;
            }
            case Q8_0 -> {
                // block_q8_0: f16 scale d, then 32 int8 q; x = d * q
                for (int b = 0; b < n / 32; b++) {
                    long blk = at + 34L * b;
                    float d = Float.float16ToFloat(seg.get(I16, blk));
                    for (int j = 0; j < 32; j++) {
                        dst[offset + 32 * b + j] = d * seg.get(ValueLayout.JAVA_BYTE, blk + 2 + j);
                    }
                }
            }
            case Q4_0 -> {
                // block_q4_0: f16 scale d, then 16 bytes; byte j holds x[j] in its low nibble and x[j + 16] in its
                // high nibble, each as (nibble - 8) * d
                for (int b = 0; b < n / 32; b++) {
                    long blk = at + 18L * b;
                    float d = Float.float16ToFloat(seg.get(I16, blk));
                    for (int j = 0; j < 16; j++) {
                        int q = unsignedByte(blk + 2 + j);
                        dst[offset + 32 * b + j] = ((q & 0x0F) - 8) * d;
                        dst[offset + 32 * b + j + 16] = ((q >>> 4) - 8) * d;
                    }
                }
            }
            case Q4_K -> {
                for (int b = 0; b < n / 256; b++) {
                    dequantizeQ4K(at + 144L * b, dst, offset + 256 * b);
                }
            }
            case Q6_K -> {
                for (int b = 0; b < n / 256; b++) {
                    dequantizeQ6K(at + 210L * b, dst, offset + 256 * b);
                }
            }
        }
        return Tensor.firstNonFinite(dst, offset, n) >= 0;
    }

    /**
     * block_q4_K (ggml-common.h): f16 d, f16 dmin, 12 bytes packing eight 6-bit (scale, min) pairs, 128 bytes of
     * nibbles. Each 64 elements use two pairs: the low nibbles of 32 bytes give the first 32 elements, their high
     * nibbles the next 32, each as {@code d·scale·q − dmin·min}.
     */
    private void dequantizeQ4K(long blk, float[] dst, int out) {
        float d = Float.float16ToFloat(seg.get(I16, blk)), dmin = Float.float16ToFloat(seg.get(I16, blk + 2));
        int[] sc = new int[12];
        for (int i = 0; i < 12; i++) {
            sc[i] = unsignedByte(blk + 4 + i);
        }
        for (int j = 0; j < 4; j++) {
            for (int half = 0; half < 2; half++) {
                // get_scale_min_k4: pairs 0-3 are the low 6 bits of bytes 0-3 (scale) and 4-7 (min); pairs 4-7 take
                // 4 bits from bytes 8-11 and their top 2 bits from the top of bytes 0-3 (scale) and 4-7 (min)
                int k = 2 * j + half;
                int scale = k < 4 ? sc[k] & 63 : (sc[k + 4] & 0xF) | (sc[k - 4] >>> 6) << 4;
                int min = k < 4 ? sc[k + 4] & 63 : (sc[k + 4] >>> 4) | (sc[k] >>> 6) << 4;
                float d1 = d * scale, m1 = dmin * min;
                for (int l = 0; l < 32; l++) {
                    int q = unsignedByte(blk + 16 + 32L * j + l);
                    dst[out + 64 * j + 32 * half + l] = d1 * (half == 0 ? q & 0xF : q >>> 4) - m1;
                }
            }
        }
    }

    /**
     * block_q6_K (ggml-common.h): 128 bytes of low nibbles ql, 64 bytes of 2-bit high parts qh, 16 int8 scales, then
     * f16 d. Each 128 elements use 64 ql bytes, 32 qh bytes and 8 scales: element {@code l + 32·k} (k = 0..3) takes
     * the low or high nibble of ql[l] or ql[l + 32] and bits 2k, 2k+1 of qh[l], minus 32, times d and the scale of its
     * 16 elements.
     */
    private void dequantizeQ6K(long blk, float[] dst, int out) {
        float d = Float.float16ToFloat(seg.get(I16, blk + 208));
        for (int h = 0; h < 2; h++) {
            long ql = blk + 64L * h, qh = blk + 128 + 32L * h, sc = blk + 192 + 8L * h;
            for (int l = 0; l < 32; l++) {
                int lo = unsignedByte(ql + l), hi = unsignedByte(ql + l + 32), top = unsignedByte(qh + l);
                int[] q = {(lo & 0xF) | (top & 3) << 4, (hi & 0xF) | (top >>> 2 & 3) << 4,
                        (lo >>> 4) | (top >>> 4 & 3) << 4, (hi >>> 4) | (top >>> 6 & 3) << 4};
                for (int k = 0; k < 4; k++) {
                    byte scale = seg.get(ValueLayout.JAVA_BYTE, sc + l / 16 + 2 * k);
                    dst[out + 128 * h + 32 * k + l] = d * scale * (q[k] - 32);
                }
            }
        }
    }

    private int unsignedByte(long at) {
        return seg.get(ValueLayout.JAVA_BYTE, at) & 0xFF;
    }

    @Override
    public void close() {
        arena.close();
    }

    // ------------------------------------------------------------------ llama architecture

    /** Loads a GGUF file of the {@code llama} architecture, with its embedded tokenizer and chat template. */
    public static LoadedModel load(Path file) throws IOException {
        return load(file, false);
    }

    /**
     * As {@link #load(Path)}; with {@code keepQ8} the matrices (every block projection, the output head, and the
     * token embedding when tied) must be Q8_0 and are kept so, as a packed model ({@link Transformer#packed}): a
     * little over a quarter of float32's bytes, read as they are by generation.
     */
    public static LoadedModel load(Path file, boolean keepQ8) throws IOException {
        try (Gguf g = open(file)) {
            Transformer model = g.toTransformer(keepQ8);
            Optional<GgufTokenizerSpec> tok = g.tokenizerSpec();
            OptionalInt bos = tok.map(t -> t.bosId() >= 0 ? OptionalInt.of(t.bosId()) : OptionalInt.empty())
                    .orElse(OptionalInt.empty());
            OptionalInt pad = tok.map(t -> t.padId() >= 0 ? OptionalInt.of(t.padId()) : OptionalInt.empty())
                    .orElse(OptionalInt.empty());
            List<Integer> eos = tok.filter(t -> t.eosId() >= 0).map(t -> List.of(t.eosId())).orElse(List.of());
            return new LoadedModel(model, "gguf", g.string("general.architecture"), file, bos, eos, pad,
                    Optional.empty(), tok, g.metadata.get("tokenizer.chat_template") instanceof String t
                            ? Optional.of(t) : Optional.empty());
        }
    }

    /** Builds the Transformer of a {@code llama}-architecture file. */
    public Transformer toTransformer() throws IOException {
        return toTransformer(false);
    }

    /** Builds the Transformer of a {@code llama}-architecture file, packed with its Q8_0 matrices when asked. */
    public Transformer toTransformer(boolean keepQ8) throws IOException {
        String arch = string("general.architecture");
        if (!arch.equals("llama")) {
            throw new IOException(file + ": GGUF architecture '" + arch + "' is not supported (llama)");
        }
        int dim = integer("llama.embedding_length"), heads = integer("llama.attention.head_count");
        int kvHeads = metadata.containsKey("llama.attention.head_count_kv")
                ? integer("llama.attention.head_count_kv") : heads;
        // checked here, before the RoPE check below divides by them, so that the message names the key at fault
        if (dim <= 0) {
            throw new IOException(file + ": llama.embedding_length is " + dim + "; it must be positive");
        }
        if (heads <= 0) {
            throw new IOException(file + ": llama.attention.head_count is " + heads + "; a model needs at least one "
                    + "attention head");
        }
        if (dim % heads != 0) {
            throw new IOException(file + ": llama.embedding_length " + dim + " is not divisible by "
                    + "llama.attention.head_count " + heads + " (each head takes embedding_length / head_count "
                    + "dimensions)");
        }
        if (kvHeads <= 0 || heads % kvHeads != 0) {
            throw new IOException(file + ": llama.attention.head_count_kv " + kvHeads + " does not divide "
                    + "llama.attention.head_count " + heads + " (grouped-query attention shares each key/value head "
                    + "among head_count / head_count_kv query heads)");
        }
        boolean partialRope = metadata.containsKey("llama.rope.dimension_count")
                && integer("llama.rope.dimension_count") * heads != dim;
        if (partialRope) {
            throw new IOException(file + ": llama.rope.dimension_count " + integer("llama.rope.dimension_count")
                    + " rotates part of each head; rlhf4j rotates whole heads of " + dim / heads);
        }
        if (tensors.containsKey("rope_freqs.weight")) {
            throw new IOException(file + ": rope_freqs.weight (Llama 3.1 RoPE scaling factors) is not supported");
        }
        TensorInfo embedding = info("token_embd.weight");
        ModelConfig c;
        try {
            c = new ModelConfig(ModelConfig.Family.LLAMA, embedding.shape()[0], dim, integer("llama.block_count"),
                    heads, kvHeads, integer("llama.feed_forward_length"), integer("llama.context_length"),
                    number("llama.attention.layer_norm_rms_epsilon", 1e-5).floatValue(),
                    number("llama.rope.freq_base", 10000.0).doubleValue(), Rope.Style.INTERLEAVED,
                    !tensors.containsKey("output.weight"), false, ropeScaling());
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage());
        }
        Set<String> unused = new LinkedHashSet<>(tensors.keySet());
        int d = c.dim(), f = c.hiddenDim(), q = c.heads() * c.headDim(), kv = c.kvHeads() * c.headDim();
        // with keepQ8 the matrices go, still quantised, into `packed`, and the rest into an arena without them
        Set<String> packedNames = keepQ8 ? Transformer.packedNames(c, OutputHeads.LM) : Set.of();
        Transformer model = keepQ8 ? null : new Transformer(c, OutputHeads.LM);
        ParamArena arena = keepQ8 ? Transformer.restLayout(c, OutputHeads.LM).allocate() : model.params();
        Map<String, List<Q8Matrix>> packed = new LinkedHashMap<>();
        Placer place = (name, param, row0, rows, cols) -> {
            if (packedNames.contains(param)) {
                packed.computeIfAbsent(param, k -> new ArrayList<>()).add(q8(name, rows, cols));
                unused.remove(name);
            } else {
                place(arena, name, param, row0, rows, cols, unused);
            }
        };
        place.at("token_embd.weight", "wte", 0, c.vocabSize(), d);
        for (int i = 0; i < c.layers(); i++) {
            String b = "blk." + i + ".", h = "h." + i + ".";
            place.at(b + "attn_norm.weight", h + "ln1.weight", 0, d, 0);
            place.at(b + "attn_q.weight", h + "attn.qkv.weight", 0, q, d);
            place.at(b + "attn_k.weight", h + "attn.qkv.weight", q, kv, d);
            place.at(b + "attn_v.weight", h + "attn.qkv.weight", q + kv, kv, d);
            place.at(b + "attn_output.weight", h + "attn.proj.weight", 0, d, q);
            place.at(b + "ffn_norm.weight", h + "ln2.weight", 0, d, 0);
            place.at(b + "ffn_gate.weight", h + "mlp.fc.weight", 0, f, d);
            place.at(b + "ffn_up.weight", h + "mlp.fc.weight", f, f, d);
            place.at(b + "ffn_down.weight", h + "mlp.proj.weight", 0, d, f);
        }
        place.at("output_norm.weight", "ln_f.weight", 0, d, 0);
        if (!c.tiedEmbeddings()) {
            place.at("output.weight", "lm_head.weight", 0, c.vocabSize(), d);
        }
        if (!unused.isEmpty()) {
            throw new IOException(file + ": unexpected tensors for a " + c.layers() + "-block llama: "
                    + String.join(", ", unused.stream().limit(4).toList()) + (unused.size() > 4 ? ", ..." : ""));
        }
        if (!keepQ8) {
            return model;
        }
        Map<String, WeightMatrix> matrices = new LinkedHashMap<>();
        packed.forEach((param, parts) -> matrices.put(param, Q8Matrix.stackRows(parts.toArray(Q8Matrix[]::new))));
        return Transformer.packedFrom(c, OutputHeads.LM, arena, WeightDtype.Q8_0, matrices);
    }

    /** Where one GGUF tensor goes: rows {@code [row0, row0 + rows)} of a parameter ({@code cols} 0 for a vector). */
    @FunctionalInterface
    private interface Placer {
        void at(String name, String param, int row0, int rows, int cols) throws IOException;
    }

    /** Reads tensor {@code name}, a {@code [rows, cols]} matrix (a vector when cols is 0), into rows of a parameter. */
    private void place(ParamArena params, String name, String param, int row0, int rows, int cols,
                       Set<String> unused) throws IOException {
        TensorInfo t = checkedInfo(name, rows, cols);
        Tensor p = params.get(param);
        read(t, p.data(), p.offset() + row0 * Math.max(cols, 1));
        unused.remove(name);
    }

    private TensorInfo checkedInfo(String name, int rows, int cols) throws IOException {
        TensorInfo t = info(name);
        int[] expected = cols == 0 ? new int[] {rows} : new int[] {rows, cols};
        if (!Arrays.equals(t.shape(), expected)) {
            throw new IOException(file + ": tensor '" + name + "' has shape " + Arrays.toString(t.shape())
                    + " (ne " + Arrays.toString(t.dims()) + "), the llama.* metadata implies "
                    + Arrays.toString(expected));
        }
        return t;
    }

    /** A Q8_0 matrix tensor kept quantised; its scales must be finite (the int8s always are). */
    private Q8Matrix q8(String name, int rows, int cols) throws IOException {
        TensorInfo t = checkedInfo(name, rows, cols);
        if (t.type() != TensorType.Q8_0) {
            throw new IOException(file + ": tensor '" + name + "' is " + t.type() + "; keeping Q8_0 weights "
                    + "quantised needs every matrix in Q8_0");
        }
        for (long b = 0, blocks = t.elements() / 32; b < blocks; b++) {
            if (((seg.get(I16, t.start() + 34 * b) & 0x7C00) == 0x7C00)) {
                throw new IOException(file + ": tensor '" + name + "' has a NaN or infinite Q8_0 scale in block "
                        + b);
            }
        }
        return Q8Matrix.fromGguf(seg, t.start(), rows, cols);
    }

    private ModelConfig.RopeScaling ropeScaling() throws IOException {
        Object type = metadata.get("llama.rope.scaling.type");
        if (type == null || type.equals("none")) {
            return null;
        }
        if (!type.equals("linear")) {
            throw new IOException(file + ": llama.rope.scaling.type '" + type + "' is not supported (linear)");
        }
        return new ModelConfig.RopeScaling("linear", number("llama.rope.scaling.factor", 0).doubleValue(), 0, 0, 0);
    }

    // ------------------------------------------------------------------ tokenizer

    /** The embedded tokenizer ({@code tokenizer.ggml.*}), if the file has one. */
    public Optional<GgufTokenizerSpec> tokenizerSpec() throws IOException {
        if (!(metadata.get("tokenizer.ggml.model") instanceof String model)) {
            return Optional.empty();
        }
        if (!(metadata.get("tokenizer.ggml.tokens") instanceof List<?> tokens)) {
            throw new IOException(file + ": tokenizer.ggml.tokens is missing or not an array of strings");
        }
        Object merges = metadata.getOrDefault("tokenizer.ggml.merges", List.of());
        Object addBos = metadata.get("tokenizer.ggml.add_bos_token");
        return Optional.of(new GgufTokenizerSpec(model, (String) metadata.get("tokenizer.ggml.pre"),
                strings(tokens, "tokenizer.ggml.tokens"), (float[]) typed("tokenizer.ggml.scores", float[].class),
                intArray("tokenizer.ggml.token_type"), strings((List<?>) merges, "tokenizer.ggml.merges"),
                id("tokenizer.ggml.bos_token_id"), id("tokenizer.ggml.eos_token_id"),
                id("tokenizer.ggml.unknown_token_id"), id("tokenizer.ggml.padding_token_id"),
                addBos instanceof Boolean bool ? bool : model.equals("llama")));
    }

    private List<String> strings(List<?> list, String key) throws IOException {
        List<String> out = new ArrayList<>(list.size());
        for (Object o : list) {
            if (!(o instanceof String s)) {
                throw new IOException(file + ": " + key + " is not an array of strings");
            }
            out.add(s);
        }
        return Collections.unmodifiableList(out);
    }

    private Object typed(String key, Class<?> type) throws IOException {
        Object v = metadata.get(key);
        if (v != null && !type.isInstance(v)) {
            throw new IOException(file + ": " + key + " has the wrong type (" + v.getClass().getSimpleName() + ")");
        }
        return v;
    }

    private int[] intArray(String key) throws IOException {
        Object v = metadata.get(key);
        if (v instanceof long[] longs) {
            return Arrays.stream(longs).mapToInt(Math::toIntExact).toArray();
        }
        return (int[]) typed(key, int[].class);
    }

    private int id(String key) throws IOException {
        return metadata.containsKey(key) ? integer(key) : -1;
    }

    // ------------------------------------------------------------------ metadata access

    private String string(String key) throws IOException {
        if (!(metadata.get(key) instanceof String s)) {
            throw new IOException(file + ": metadata '" + key + "' is missing or not a string");
        }
        return s;
    }

    private int integer(String key) throws IOException {
        if (!(metadata.get(key) instanceof Number n) || n instanceof Float || n instanceof Double
                || n.longValue() != n.intValue()) {
            throw new IOException(file + ": metadata '" + key + "' is missing or not an integer");
        }
        return n.intValue();
    }

    private Number number(String key, double fallback) throws IOException {
        Object v = metadata.get(key);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof Number n)) {
            throw new IOException(file + ": metadata '" + key + "' is not a number");
        }
        return n;
    }

    /** Bounds-checked little-endian reads through the header; running out names the file and what was being read. */
    private static final class Cursor {
        private final Path file;
        private final MemorySegment seg;
        long pos;

        Cursor(Path file, MemorySegment seg) {
            this.file = file;
            this.seg = seg;
        }

        private long take(long n, String what) throws IOException {
            if (n < 0 || pos + n > seg.byteSize() || pos + n < pos) {
                throw new IOException(file + ": truncated GGUF file: it ends while reading " + what + " (offset " + pos
                        + ", " + seg.byteSize() + " bytes)");
            }
            long at = pos;
            pos += n;
            return at;
        }

        int i32(String what) throws IOException {
            return seg.get(I32, take(4, what));
        }

        long i64(String what) throws IOException {
            return seg.get(I64, take(8, what));
        }

        String string(String what) throws IOException {
            long len = i64(what);
            long at = take(len, what);
            if (len > Integer.MAX_VALUE - 8) {
                throw new IOException(file + ": string of " + len + " bytes in " + what);
            }
            return new String(seg.asSlice(at, len).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        }

        /** A metadata value of GGUF type {@code type} (gguf_metadata_value_type); {@code what} names it in errors. */
        Object value(int type, String what) throws IOException {
            return switch (type) {
                case 0 -> seg.get(ValueLayout.JAVA_BYTE, take(1, what)) & 0xFF;           // uint8
                case 1 -> (int) seg.get(ValueLayout.JAVA_BYTE, take(1, what));            // int8
                case 2 -> seg.get(I16, take(2, what)) & 0xFFFF;                           // uint16
                case 3 -> (int) seg.get(I16, take(2, what));                              // int16
                case 4 -> Integer.toUnsignedLong(seg.get(I32, take(4, what)));            // uint32
                case 5 -> seg.get(I32, take(4, what));                                    // int32
                case 6 -> seg.get(F32, take(4, what));                                    // float32
                case 7 -> seg.get(ValueLayout.JAVA_BYTE, take(1, what)) != 0;             // bool
                case 8 -> string(what);                                                   // string
                case 9 -> array(what);                                                    // array
                case 10, 11 -> seg.get(I64, take(8, what));                               // uint64, int64
                case 12 -> seg.get(F64, take(8, what));                                   // float64
                default -> throw new IOException(file + ": " + what + " has unknown value type " + type);
            };
        }

        private Object array(String what) throws IOException {
            int type = i32(what);
            long n = i64(what);
            int minBytes = switch (type) { // per element; a string or nested array has at least its 8-byte length
                case 0, 1, 7 -> 1;
                case 2, 3 -> 2;
                case 4, 5, 6 -> 4;
                default -> 8;
            };
            if (n < 0 || n > (seg.byteSize() - pos) / minBytes || n > Integer.MAX_VALUE - 8) {
                throw new IOException(file + ": truncated GGUF file: " + what + " is an array of " + n
                        + " elements, more than the rest of the file holds");
            }
            int count = (int) n;
            switch (type) {
                case 0, 1, 2, 3, 5 -> {
                    int[] a = new int[count];
                    for (int i = 0; i < count; i++) {
                        a[i] = (Integer) value(type, what);
                    }
                    return a;
                }
                case 4, 10, 11 -> {
                    long[] a = new long[count];
                    for (int i = 0; i < count; i++) {
                        a[i] = (Long) value(type, what);
                    }
                    return a;
                }
                case 6 -> {
                    float[] a = new float[count];
                    MemorySegment.copy(seg, F32, take(4L * count, what), a, 0, count);
                    return a;
                }
                case 12 -> {
                    double[] a = new double[count];
                    MemorySegment.copy(seg, F64, take(8L * count, what), a, 0, count);
                    return a;
                }
                case 7 -> {
                    boolean[] a = new boolean[count];
                    for (int i = 0; i < count; i++) {
                        a[i] = (Boolean) value(type, what);
                    }
                    return a;
                }
                case 8 -> {
                    List<String> a = new ArrayList<>(count);
                    for (int i = 0; i < count; i++) {
                        a.add(string(what));
                    }
                    return Collections.unmodifiableList(a);
                }
                case 9 -> {
                    List<Object> a = new ArrayList<>(count);
                    for (int i = 0; i < count; i++) {
                        a.add(array(what));
                    }
                    return Collections.unmodifiableList(a);
                }
                default -> throw new IOException(file + ": " + what + " is an array of unknown type " + type);
            }
        }
    }
}
