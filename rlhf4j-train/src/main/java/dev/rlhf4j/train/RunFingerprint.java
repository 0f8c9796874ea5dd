package dev.rlhf4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * What determines a run's result: the hyper-parameters that change the numbers (not logging, threads, progress or
 * checkpoint cadence) and the identity of every input — model, tokenizer, data — so that {@code --resume} can refuse
 * to continue a run with different settings and say which ones changed.
 *
 * <p>An input's identity is its size and a SHA-256 of its content: of the whole file up to {@value #WHOLE_FILE_BYTES}
 * bytes, and beyond that of its first MiB plus {@value #SAMPLES} blocks of 64 KiB spread evenly over it, so that a
 * multi-GB checkpoint costs a few MiB of reading. A directory (an HF model) is identified by its model files
 * (config, weights, tokenizer), not by run outputs or notes kept beside them. Where an input lives is recorded too,
 * but only its content is compared: a moved data file is still the same data.
 */
public final class RunFingerprint {
    static final long WHOLE_FILE_BYTES = 64L << 20;
    static final int SAMPLES = 32;
    private static final int BLOCK = 64 << 10;
    private static final int HEAD = 1 << 20;
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Files of a model directory that describe the model (weights, config, tokenizer). */
    private static final List<String> MODEL_SUFFIXES = List.of(".safetensors", ".json", ".bin", ".gguf", ".model",
            ".txt", ".jinja");
    /** What runs write beside a model: never part of its identity. */
    private static final Set<String> RUN_OUTPUTS = Set.of(RunDirectory.RECORD, "train_results.json", "summary.json",
            "lab.json", "judge.json");

    private final ObjectNode fields = JsonNodeFactory.instance.objectNode();

    /** A setting ({@code learning_rate}, {@code seed}, ...) under its snake_case name. */
    public RunFingerprint put(String name, Object value) {
        if (value == null) {
            fields.putNull(name);
        } else if (value instanceof Double d && !Double.isFinite(d)) {
            fields.put(name, d.toString()); // JSON has no NaN; "none" settings are often NaN
        } else {
            fields.set(name, JSON.valueToTree(value));
        }
        return this;
    }

    /** An input file or directory (null: not given) by its path and content identity. */
    public RunFingerprint file(String name, Path path) {
        if (path == null) {
            fields.putNull(name);
            return this;
        }
        try {
            fields.set(name, identity(path));
        } catch (IOException e) {
            throw new UserError(path + ": cannot read it to fingerprint the run ("
                    + RunDirectory.reason(e) + ")", e);
        }
        return this;
    }

    /** Adds every field of {@code other}. */
    public RunFingerprint putAll(RunFingerprint other) {
        fields.setAll(other.fields);
        return this;
    }

    /** As stored in {@code rlhf4j_run.json}. */
    public ObjectNode toJson() {
        try {
            // a round trip through text, so that a stored fingerprint and a new one compare alike (int/long, float)
            return (ObjectNode) JSON.readTree(JSON.writeValueAsString(fields));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A stored fingerprint. */
    public static RunFingerprint of(JsonNode stored) {
        RunFingerprint f = new RunFingerprint();
        if (stored != null && stored.isObject()) {
            f.fields.setAll((ObjectNode) stored);
        }
        return f;
    }

    /**
     * The fields whose value differs from {@code newer}'s, each as {@code name: old → new} (inputs by path, size and
     * hash); fields present on one side only count as changed.
     */
    public List<String> changesTo(RunFingerprint newer) {
        ObjectNode a = toJson(), b = newer.toJson();
        List<String> changes = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = a.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode now = b.get(e.getKey());
            if (!same(e.getValue(), now)) {
                changes.add(e.getKey() + ": " + describe(e.getValue()) + " → " + describe(now));
            }
        }
        for (Iterator<String> it = b.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!a.has(k)) {
                changes.add(k + ": " + describe(null) + " → " + describe(b.get(k)));
            }
        }
        return changes;
    }

    private static boolean same(JsonNode a, JsonNode b) {
        if (a == null || b == null) {
            return a == b;
        }
        if (isFile(a) && isFile(b)) {
            return a.get("bytes").equals(b.get("bytes")) && a.get("sha256").equals(b.get("sha256"));
        }
        return a.equals(b);
    }

    private static boolean isFile(JsonNode n) {
        return n.isObject() && n.has("sha256") && n.has("bytes");
    }

    private static String describe(JsonNode n) {
        if (n == null) {
            return "(not recorded)";
        }
        if (n.isNull()) {
            return "none";
        }
        if (isFile(n)) {
            return n.path("path").asText() + " (" + String.format(Locale.ROOT, "%,d", n.get("bytes").asLong())
                    + " bytes, sha256 " + n.get("sha256").asText().substring(0, 12) + ")";
        }
        return n.isTextual() ? n.asText() : n.toString();
    }

    /** {@code {path, bytes, sha256}} of a file, or of a model directory's model files. */
    static ObjectNode identity(Path path) throws IOException {
        ObjectNode id = JsonNodeFactory.instance.objectNode();
        id.put("path", path.toAbsolutePath().normalize().toString());
        if (!Files.exists(path)) {
            id.put("missing", true); // the reader of this input reports it in its own words
            return id;
        }
        MessageDigest sha = sha256();
        long bytes = 0;
        if (Files.isDirectory(path)) {
            List<Path> files = new ArrayList<>();
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(path)) {
                for (Path p : ds) {
                    String n = p.getFileName().toString();
                    if (Files.isRegularFile(p) && !n.startsWith(".") && !RUN_OUTPUTS.contains(n)
                            && MODEL_SUFFIXES.stream().anyMatch(n::endsWith)) {
                        files.add(p);
                    }
                }
            }
            files.sort(null);
            for (Path f : files) {
                sha.update(f.getFileName().toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
                sha.update((byte) 0);
                bytes += digestFile(f, sha);
            }
        } else {
            bytes = digestFile(path, sha);
        }
        id.put("bytes", bytes);
        id.put("sha256", HexFormat.of().formatHex(sha.digest()));
        return id;
    }

    /** Adds the file's size and (sampled) content to {@code sha}; returns its size. */
    private static long digestFile(Path file, MessageDigest sha) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            sha.update(ByteBuffer.allocate(Long.BYTES).putLong(0, size));
            ByteBuffer buf = ByteBuffer.allocate(BLOCK);
            if (size <= WHOLE_FILE_BYTES) {
                digestRange(ch, 0, size, buf, sha);
            } else {
                digestRange(ch, 0, HEAD, buf, sha);
                for (int i = 0; i < SAMPLES; i++) {
                    long at = HEAD + (size - HEAD - BLOCK) * i / (SAMPLES - 1);
                    digestRange(ch, at, BLOCK, buf, sha);
                }
            }
            return size;
        }
    }

    private static void digestRange(FileChannel ch, long from, long length, ByteBuffer buf, MessageDigest sha)
            throws IOException {
        long pos = from, end = from + length;
        while (pos < end) {
            buf.clear().limit((int) Math.min(buf.capacity(), end - pos));
            int n = ch.read(buf, pos);
            if (n < 0) {
                break;
            }
            sha.update(buf.flip());
            pos += n;
        }
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
