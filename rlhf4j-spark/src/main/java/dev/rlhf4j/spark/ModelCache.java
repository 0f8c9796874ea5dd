package dev.rlhf4j.spark;

import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * Models loaded once per JVM (per executor), not once per task: a static map from a {@link Key} (the model's path,
 * how it is held, and a fingerprint of its files: names, sizes and modification times) to the loaded value. A model
 * rewritten in place gets a new fingerprint and is loaded again.
 *
 * <p>A model's forward pass reuses its activation workspace, so one model serves one task at a time: a task holds
 * the entry's lock while it computes ({@link Entry#lock()}); tasks on the same executor take turns, each using the
 * whole thread pool of the JVM.
 */
public final class ModelCache {
    private static final Map<Key, Entry<?>> CACHE = new ConcurrentHashMap<>();
    private static final AtomicInteger LOADS = new AtomicInteger();

    private ModelCache() {
    }

    /**
     * What identifies a loaded model.
     *
     * @param kind        what was loaded and how (e.g. "generate fp32", "reward")
     * @param model       the model's path
     * @param tokenizer   the tokenizer override's path, or null
     * @param fingerprint {@link #fingerprint} of the model and tokenizer files when the key was made
     */
    public record Key(String kind, String model, String tokenizer, String fingerprint) implements Serializable {
        /** The key of {@code model} (and {@code tokenizer}, may be null) as they are now. */
        public static Key of(String kind, Path model, Path tokenizer) {
            String fp = ModelCache.fingerprint(model)
                    + (tokenizer == null ? "" : "|" + ModelCache.fingerprint(tokenizer));
            return new Key(kind, model.toAbsolutePath().toString(),
                    tokenizer == null ? null : tokenizer.toAbsolutePath().toString(), fp);
        }
    }

    /** Loads a model; may throw the loader's I/O error. */
    @FunctionalInterface
    public interface Loader<T> {
        T load() throws IOException;
    }

    /** A loaded value and the lock a task holds while it uses it. */
    public record Entry<T>(T value, Object lock) {
    }

    /**
     * The value for {@code key}, loaded by {@code loader} the first time this JVM sees the key (a stale entry of the
     * same path, with an older fingerprint, is dropped).
     */
    @SuppressWarnings("unchecked")
    public static <T> Entry<T> get(Key key, Loader<T> loader) {
        CACHE.keySet().removeIf(o -> o.kind().equals(key.kind()) && o.model().equals(key.model())
                && !o.fingerprint().equals(key.fingerprint()));
        return (Entry<T>) CACHE.computeIfAbsent(key, k -> {
            try {
                T value = loader.load();
                LOADS.incrementAndGet();
                return new Entry<>(value, new Object());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** How many models this JVM has loaded through the cache. */
    public static int loads() {
        return LOADS.get();
    }

    /** Empties the cache (for tests). */
    public static void clear() {
        CACHE.clear();
    }

    /**
     * The fingerprint of a file (its size and modification time) or a directory (the same of each regular file in
     * it, by name): cheap to compute on every task, and different after a checkpoint is rewritten.
     */
    public static String fingerprint(Path path) {
        try {
            if (!Files.exists(path)) {
                throw new UserError(path + ": no such file or directory (the model must be readable at the same path "
                        + "on every executor)");
            }
            if (!Files.isDirectory(path)) {
                return Files.size(path) + "@" + Files.getLastModifiedTime(path).toMillis();
            }
            StringBuilder sb = new StringBuilder();
            List<Path> files;
            try (Stream<Path> s = Files.list(path)) {
                files = s.filter(Files::isRegularFile).sorted(Comparator.naturalOrder()).toList();
            }
            for (Path f : files) {
                sb.append(f.getFileName()).append(':').append(Files.size(f)).append('@')
                        .append(Files.getLastModifiedTime(f).toMillis()).append(';');
            }
            return sb.toString();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + path + ": " + e.getMessage(), e);
        }
    }
}
