package dev.rlhf4j.model.io;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes small GGUF files for the tests, straight from the spec (ggml docs/gguf.md), so that every value type,
 * tensor type, version and alignment can be exercised and corrupted on purpose.
 */
final class GgufWriter {
    /** GGUF metadata value types. */
    static final int U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9,
            U64 = 10, I64 = 11, F64 = 12;

    /** An array value: element type and elements (Numbers, Booleans, Strings or nested {@code Arr}s). */
    record Arr(int type, List<?> values) {
    }

    private record TensorSpec(String name, long[] dims, int type, byte[] data) {
    }

    private final ByteArrayOutputStream kv = new ByteArrayOutputStream();
    private int kvCount;
    private final List<TensorSpec> tensors = new ArrayList<>();

    GgufWriter kv(String key, int type, Object value) {
        string(kv, key);
        kv.writeBytes(le(4).putInt(type).array());
        value(kv, type, value);
        kvCount++;
        return this;
    }

    /** A tensor with dims in GGUF order (ne[0] first) and its raw bytes. */
    GgufWriter tensor(String name, long[] dims, int ggmlType, byte[] data) {
        tensors.add(new TensorSpec(name, dims, ggmlType, data));
        return this;
    }

    /** A float32 tensor of a row-major {@code shape}. */
    GgufWriter f32(String name, float[] values, int... shape) {
        ByteBuffer b = le(4 * values.length);
        for (float v : values) {
            b.putFloat(v);
        }
        long[] dims = new long[shape.length];
        for (int i = 0; i < shape.length; i++) {
            dims[i] = shape[shape.length - 1 - i];
        }
        return tensor(name, dims, 0, b.array());
    }

    byte[] bytes(int version, int alignment) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes("GGUF".getBytes(StandardCharsets.US_ASCII));
        out.writeBytes(le(20).putInt(version).putLong(tensors.size()).putLong(kvCount).array());
        out.writeBytes(kv.toByteArray());
        long offset = 0;
        List<Long> offsets = new ArrayList<>();
        for (TensorSpec t : tensors) {
            string(out, t.name());
            ByteBuffer b = le(4 + 8 * t.dims().length + 4 + 8).putInt(t.dims().length);
            for (long d : t.dims()) {
                b.putLong(d);
            }
            out.writeBytes(b.putInt(t.type()).putLong(offset).array());
            offsets.add(offset);
            offset = align(offset + t.data().length, alignment);
        }
        padTo(out, align(out.size(), alignment));
        long dataStart = out.size();
        for (int i = 0; i < tensors.size(); i++) {
            padTo(out, dataStart + offsets.get(i));
            out.writeBytes(tensors.get(i).data());
        }
        return out.toByteArray();
    }

    private static void value(ByteArrayOutputStream out, int type, Object v) {
        switch (type) {
            case U8, I8 -> out.write(((Number) v).byteValue());
            case BOOL -> out.write((Boolean) v ? 1 : 0);
            case U16, I16 -> out.writeBytes(le(2).putShort(((Number) v).shortValue()).array());
            case U32, I32 -> out.writeBytes(le(4).putInt(((Number) v).intValue()).array());
            case F32 -> out.writeBytes(le(4).putFloat(((Number) v).floatValue()).array());
            case U64, I64 -> out.writeBytes(le(8).putLong(((Number) v).longValue()).array());
            case F64 -> out.writeBytes(le(8).putDouble(((Number) v).doubleValue()).array());
            case STRING -> string(out, (String) v);
            case ARRAY -> {
                Arr a = (Arr) v;
                out.writeBytes(le(12).putInt(a.type()).putLong(a.values().size()).array());
                a.values().forEach(e -> value(out, a.type(), e));
            }
            default -> throw new IllegalArgumentException("value type " + type);
        }
    }

    private static void string(ByteArrayOutputStream out, String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        out.writeBytes(le(8).putLong(b.length).array());
        out.writeBytes(b);
    }

    private static void padTo(ByteArrayOutputStream out, long size) {
        while (out.size() < size) {
            out.write(0);
        }
    }

    private static long align(long x, int alignment) {
        return (x + alignment - 1) / alignment * alignment;
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }
}
