package dev.rlhf4j.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.tensor.UserStateError;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * The contract of every directory an rlhf4j run writes (training, PPO, the lab's data, conversions, the demo):
 *
 * <ul>
 *   <li><b>Locked while in use.</b> A run holds an OS lock on {@value #LOCK} inside the directory (its pid written
 *   there) from start to end, so a second run on the same directory fails at once, before touching anything.</li>
 *   <li><b>Never silently reused.</b> A directory that holds anything is refused unless the run resumes it
 *   ({@link Start#RESUME}) or replaces it ({@link Start#OVERWRITE}).</li>
 *   <li><b>Recorded.</b> {@value #RECORD} says which command wrote the directory, whether it finished, the
 *   {@link RunFingerprint} of its settings and inputs, and which entries are its outputs.</li>
 *   <li><b>Resumed only as it was.</b> Resuming compares the new fingerprint with the recorded one and refuses any
 *   difference, naming each field, unless the changes are allowed explicitly.</li>
 *   <li><b>Overwritten with care.</b> Replacing an rlhf4j run deletes the entries its record names as outputs (for
 *   a trainer: checkpoints, metrics, results, the model files) and nothing else; a non-empty directory that is not
 *   an rlhf4j run is written into only when asked, replacing files of the same names and deleting nothing.</li>
 * </ul>
 * A directory with training checkpoints but no record (written before records existed) counts as a run of the
 * command that opens it, with settings that cannot be checked.
 */
public final class RunDirectory implements AutoCloseable {
    /** The run's record: kind, status, fingerprint, outputs. */
    public static final String RECORD = "rlhf4j_run.json";
    /** The lock file: never deleted (deleting a lock file races with a run that has just opened it). */
    public static final String LOCK = ".rlhf4j_run.lock";
    /** What {@code HfCheckpoint.save} writes: the final model of a trainer, or a conversion. */
    public static final List<String> HF_MODEL_FILES = List.of("config.json", "generation_config.json",
            "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
            "chat_template.jinja", "adapter");
    /** The record while it is written (renamed over the record): a kill can leave it behind. */
    private static final String RECORD_TMP = "." + RECORD + ".tmp";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    /** Directories locked by this JVM: a second channel on the same lock file must not even be opened, since
     * closing it can drop the first one's lock. */
    private static final Set<Path> HELD = ConcurrentHashMap.newKeySet();

    /** How a run treats what is already in its directory. */
    public enum Start {
        /** An empty or new directory only. */
        NEW,
        /** Continue the run recorded there (or start one when the directory is empty). */
        RESUME,
        /** Delete the recorded run's outputs first (in a directory that is not a run: write into it). */
        OVERWRITE
    }

    /**
     * What writes a directory.
     *
     * @param name      the command, e.g. {@code sft} or {@code lab generate}
     * @param resumable whether it can continue an unfinished run
     * @param outputs   file-name globs of the top-level entries it writes (what {@code --overwrite} deletes)
     */
    public record Kind(String name, boolean resumable, List<String> outputs) {
        public Kind {
            outputs = List.copyOf(outputs);
        }
    }

    private final Path dir;
    private final Kind kind;
    private final PrintWriter console;
    private final Path heldKey;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private ObjectNode previous;
    private boolean resumed;
    private RunFingerprint fingerprint = new RunFingerprint();
    private List<String> acceptedChanges = List.of();

    private RunDirectory(Path dir, Kind kind, PrintWriter console, Path heldKey, FileChannel lockChannel,
                         FileLock lock) {
        this.dir = dir;
        this.kind = kind;
        this.console = console;
        this.heldKey = heldKey;
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    /**
     * Creates the directory if needed, locks it and checks what it holds against {@code start}; with
     * {@link Start#OVERWRITE}, deletes the outputs of the run recorded there. Messages name the directory.
     */
    public static RunDirectory open(Path dir, Kind kind, Start start, PrintWriter console) throws IOException {
        if (start == Start.RESUME && !kind.resumable()) {
            throw new UserError("rlhf4j " + kind.name() + " cannot resume a run");
        }
        if (Files.exists(dir) && !Files.isDirectory(dir)) {
            throw new UserError(dir + ": exists and is not a directory; the output must be a "
                    + "directory");
        }
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UserError(dir + ": cannot create the output directory (" + reason(e) + ")");
        }
        // a directory of someone else's files is refused before even a lock file is put in it
        List<String> entries = entries(dir);
        if (start != Start.OVERWRITE && !entries.isEmpty() && !Files.exists(dir.resolve(LOCK)) && !isRun(dir)) {
            throw notARun(dir, entries, start);
        }
        Path key = dir.toRealPath();
        if (!HELD.add(key)) {
            throw inUse(dir, pidIn(dir.resolve(LOCK)));
        }
        FileChannel ch = null;
        try {
            try {
                ch = FileChannel.open(dir.resolve(LOCK), StandardOpenOption.CREATE, StandardOpenOption.READ,
                        StandardOpenOption.WRITE);
            } catch (IOException e) {
                throw new UserError(dir + ": the output directory is not writable (creating " + LOCK
                        + ": " + reason(e) + ")");
            }
            FileLock lock;
            try {
                lock = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;
            }
            if (lock == null) {
                throw inUse(dir, pidIn(dir.resolve(LOCK)));
            }
            ch.truncate(0);
            ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n").getBytes(StandardCharsets.US_ASCII)), 0);
            ch.force(false);
            RunDirectory run = new RunDirectory(dir, kind, console, key, ch, lock);
            try {
                run.inspect(start);
            } catch (IOException | RuntimeException e) {
                run.close();
                throw e;
            }
            return run;
        } catch (IOException | RuntimeException e) {
            if (ch != null && ch.isOpen()) {
                try {
                    ch.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            HELD.remove(key);
            throw e;
        }
    }

    /**
     * Refuses an output directory that would write over an input (call before {@link #open}): one that is an input
     * directory (an HF model), or that holds an input among the outputs of this kind of run or of the run recorded
     * there (which {@code --overwrite} would delete). With {@code anywhere} (a conversion, which must never write
     * where its input is), also one inside an input directory or holding an input at any depth. {@code inputs} maps
     * each input's option name to its path; null paths are skipped.
     */
    public static void refuseInputs(Path dir, Kind kind, Map<String, Path> inputs, boolean anywhere)
            throws IOException {
        Path out = real(dir);
        // this run's outputs, and those of the run recorded there, which --overwrite would delete
        List<String> globs = new ArrayList<>(kind.outputs());
        if (Files.isRegularFile(out.resolve(RECORD))) {
            try {
                globs.addAll(outputsOf(JSON.readTree(out.resolve(RECORD).toFile())));
            } catch (IOException e) {
                // an unreadable record is reported by open
            }
        }
        List<PathMatcher> outputs = globs.stream().map(g -> FileSystems.getDefault().getPathMatcher("glob:" + g))
                .toList();
        for (Map.Entry<String, Path> in : inputs.entrySet()) {
            if (in.getValue() == null || !Files.exists(in.getValue())) {
                continue;
            }
            Path p = in.getValue().toRealPath();
            String what = in.getKey() + " " + in.getValue();
            String why = null;
            if (Files.isDirectory(p) && out.equals(p)) {
                why = "is the directory of " + what;
            } else if (anywhere && Files.isDirectory(p) && out.startsWith(p)) {
                why = "is inside the directory of " + what;
            } else if (p.startsWith(out) && !p.equals(out)) {
                Path first = out.relativize(p).getName(0);
                if (anywhere) {
                    why = "holds " + what;
                } else if (outputs.stream().anyMatch(m -> m.matches(first))) {
                    why = "holds " + what + ", one of the outputs of an rlhf4j run there";
                }
            }
            if (why != null) {
                throw new UserError("--out " + dir + " " + why + "; rlhf4j never writes into its "
                        + "inputs: choose another --out");
            }
        }
    }

    /** The real path of {@code p}, or of its nearest existing ancestor with the rest appended. */
    private static Path real(Path p) throws IOException {
        Path abs = p.toAbsolutePath().normalize();
        Path existing = abs;
        while (existing != null && !Files.exists(existing)) {
            existing = existing.getParent();
        }
        return existing == null ? abs : existing.toRealPath().resolve(existing.relativize(abs));
    }

    /** Under the lock: what the directory holds decides whether this run may start, and how. */
    private void inspect(Start start) throws IOException {
        List<String> entries = entries(dir);
        ObjectNode record = readRecord(dir);
        boolean legacy = record == null && !Checkpoints.list(dir).isEmpty();
        boolean run = record != null || legacy;
        switch (start) {
            case NEW -> {
                if (run) {
                    boolean same = record == null || kind.name().equals(record.path("kind").asText());
                    throw new UserStateError(dir + " already holds " + describe(record) + "; pass "
                            + (kind.resumable() && same ? "--resume to continue it, " : "")
                            + "--overwrite to replace it, or choose another --out");
                }
                if (!entries.isEmpty()) {
                    throw notARun(dir, entries, start);
                }
            }
            case RESUME -> {
                if (!run) {
                    if (!entries.isEmpty()) {
                        throw notARun(dir, entries, start);
                    }
                    console.printf("%s: no run to resume yet; starting a new one%n", dir);
                    return;
                }
                if (record != null && !kind.name().equals(record.path("kind").asText())) {
                    throw new UserError(dir + " holds " + describe(record) + "; rlhf4j " + kind.name()
                            + " --resume continues only runs of rlhf4j " + kind.name());
                }
                if (legacy) {
                    console.printf("%s: no %s (written before rlhf4j recorded its runs): the settings cannot be "
                            + "checked against the run's%n", dir, RECORD);
                }
                previous = record;
                resumed = true;
            }
            case OVERWRITE -> {
                if (run) {
                    List<String> globs = new ArrayList<>(record != null ? outputsOf(record) : kind.outputs());
                    globs.add(RECORD);
                    List<String> deleted = deleteMatching(globs);
                    console.printf("%s: --overwrite deleted the previous %s run's outputs: %s%n", dir,
                            record != null ? record.path("kind").asText() : "rlhf4j", String.join(", ", deleted));
                } else if (!entries.isEmpty()) {
                    console.printf("%s: not an rlhf4j run; writing into it (--overwrite): files of the same names "
                            + "are replaced, nothing else is deleted%n", dir);
                }
            }
        }
    }

    /**
     * Sets the fingerprint of this run. When it continues a recorded run whose fingerprint differs, refuses with
     * one message naming every changed field ({@code name: old → new}), unless {@code allowChanges}, in which case
     * the changes are printed and recorded in the run's history.
     */
    public void verify(RunFingerprint newFingerprint, boolean allowChanges) {
        fingerprint = newFingerprint;
        if (!resumed || previous == null) {
            return;
        }
        List<String> changes = RunFingerprint.of(previous.get("fingerprint")).changesTo(newFingerprint);
        if (changes.isEmpty()) {
            return;
        }
        if (!allowChanges) {
            throw new UserError(dir + ": --resume with settings that differ from the run's: "
                    + String.join("; ", changes) + " (pass --allow-changes to continue with them anyway, or "
                    + "--overwrite to start over)");
        }
        console.printf("%s: continuing with changed settings (--allow-changes): %s%n", dir, String.join("; ", changes));
        acceptedChanges = changes;
    }

    /** The directory. */
    public Path dir() {
        return dir;
    }

    /** What writes it. */
    public Kind kind() {
        return kind;
    }

    /** Whether this run continues one found in the directory (an empty directory opened to resume is new). */
    public boolean resumed() {
        return resumed;
    }

    /** Whether the run found in the directory had finished. */
    public boolean previousFinished() {
        return previous != null && "finished".equals(previous.path("status").asText());
    }

    /** Records that the run is under way from {@code step} (call before writing outputs). */
    public void markRunning(int step) throws IOException {
        ObjectNode r = record("running", step);
        if (!acceptedChanges.isEmpty()) {
            ObjectNode c = ((ArrayNode) r.get("changes")).addObject();
            c.put("resumed_at_step", step);
            acceptedChanges.forEach(c.putArray("changed")::add);
            acceptedChanges = List.of();
        }
        writeRecord(r);
        previous = r;
    }

    /** Records that the run finished at {@code step}, all its outputs written. */
    public void markFinished(int step) throws IOException {
        ObjectNode r = record("finished", step);
        writeRecord(r);
        previous = r;
    }

    private ObjectNode record(String status, int step) {
        ObjectNode r = JSON.createObjectNode();
        r.put("kind", kind.name());
        r.put("status", status);
        r.put("global_step", step);
        r.set("fingerprint", fingerprint.toJson());
        kind.outputs().forEach(r.putArray("outputs")::add);
        ArrayNode changes = r.putArray("changes");
        if (previous != null && previous.get("changes") instanceof ArrayNode old) {
            changes.addAll(old);
        }
        return r;
    }

    private void writeRecord(ObjectNode r) throws IOException {
        Path tmp = dir.resolve(RECORD_TMP);
        try {
            Files.writeString(tmp, JSON.writeValueAsString(r));
            Files.move(tmp, dir.resolve(RECORD), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw new IOException(dir.resolve(RECORD) + ": cannot write the run record (" + reason(e) + ")", e);
        }
    }

    /** Releases the lock (the lock file stays). */
    @Override
    public void close() throws IOException {
        try {
            if (lock.isValid()) {
                lock.release();
            }
            lockChannel.close();
        } finally {
            HELD.remove(heldKey);
        }
    }

    private List<String> deleteMatching(List<String> globs) throws IOException {
        List<PathMatcher> matchers = globs.stream().map(g -> FileSystems.getDefault().getPathMatcher("glob:" + g))
                .toList();
        List<String> deleted = new ArrayList<>();
        for (String name : entries(dir)) {
            if (matchers.stream().anyMatch(m -> m.matches(Path.of(name)))) {
                Path p = dir.resolve(name);
                try {
                    Checkpoints.deleteTree(p);
                } catch (IOException e) {
                    throw new IOException(p + ": cannot delete it for --overwrite (" + reason(e) + ")", e);
                }
                deleted.add(name);
            }
        }
        return deleted;
    }

    private static List<String> outputsOf(JsonNode record) {
        List<String> out = new ArrayList<>();
        record.path("outputs").forEach(n -> out.add(n.asText()));
        return out;
    }

    private static String describe(ObjectNode record) {
        if (record == null) {
            return "an rlhf4j run (checkpoints without " + RECORD + ")";
        }
        String kind = record.path("kind").asText("?");
        int step = record.path("global_step").asInt();
        return "finished".equals(record.path("status").asText())
                ? "a finished rlhf4j " + kind + " run" + (step > 0 ? " (step " + step + ")" : "")
                : "an unfinished rlhf4j " + kind + " run";
    }

    private static RuntimeException notARun(Path dir, List<String> entries, Start start) {
        String found = String.join(", ", entries.subList(0, Math.min(4, entries.size())))
                + (entries.size() > 4 ? ", ... (" + entries.size() + " entries)" : "");
        return new UserError(dir + " is not empty and holds no rlhf4j run"
                + (start == Start.RESUME ? " to resume" : "") + " (" + found + "); choose an empty or new directory, "
                + "or pass --overwrite to write into it (files of the same names are replaced, nothing else is "
                + "deleted)");
    }

    private static IllegalStateException inUse(Path dir, String pid) {
        return new UserStateError(dir + ": another rlhf4j run" + (pid.isEmpty() ? "" : " (pid " + pid + ")")
                + " is using this output directory; wait for it to finish or choose another --out");
    }

    private static String pidIn(Path lockFile) {
        try {
            String s = Files.readString(lockFile, StandardCharsets.US_ASCII).strip();
            return s.matches("\\d+") ? s : "";
        } catch (IOException e) {
            return "";
        }
    }

    /** Whether the directory holds a run (a record, or checkpoints from before records). */
    private static boolean isRun(Path dir) throws IOException {
        return Files.exists(dir.resolve(RECORD)) || !Checkpoints.list(dir).isEmpty();
    }

    private static ObjectNode readRecord(Path dir) {
        Path f = dir.resolve(RECORD);
        if (!Files.exists(f)) {
            return null;
        }
        try {
            JsonNode n = JSON.readTree(f.toFile());
            if (n instanceof ObjectNode o && o.hasNonNull("kind")) {
                return o;
            }
        } catch (IOException e) {
            // reported below
        }
        throw new UserError(f + ": not a valid rlhf4j run record; pass --overwrite to start over in "
                + dir);
    }

    /** Names in the directory, sorted, without the lock file and a record left half-written. */
    private static List<String> entries(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> !n.equals(LOCK) && !n.equals(RECORD_TMP))
                    .sorted().toList();
        }
    }

    /** An I/O error's own words, without the path it repeats. */
    static String reason(IOException e) {
        if (e instanceof FileSystemException f && f.getReason() != null) {
            return f.getReason();
        }
        if (e instanceof java.nio.file.NoSuchFileException) {
            return "no such file or directory";
        }
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied";
        }
        String m = e.getMessage();
        return m == null || m.isBlank() ? e.getClass().getSimpleName() : m;
    }
}
