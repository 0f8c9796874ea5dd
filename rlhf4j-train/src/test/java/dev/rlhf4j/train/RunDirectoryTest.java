package dev.rlhf4j.train;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.rlhf4j.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.RandomAccessFile;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.AbstractMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The output-directory contract as a library user meets it, and the checkpoint writer's failure path. */
class RunDirectoryTest {
    private static final RunDirectory.Kind KIND = Trainer.kind("sft");
    private final StringWriter console = new StringWriter();
    private final PrintWriter out = new PrintWriter(console, true);

    private RunDirectory open(Path dir, RunDirectory.Start start) throws IOException {
        return RunDirectory.open(dir, KIND, start, out);
    }

    @Test
    void aLockedDirectoryRefusesASecondRunNamingThePid(@TempDir Path tmp) throws IOException {
        try (RunDirectory first = open(tmp, RunDirectory.Start.NEW)) {
            first.markRunning(0);
            for (RunDirectory.Start s : RunDirectory.Start.values()) {
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> open(tmp, s));
                assertEquals(tmp + ": another rlhf4j run (pid " + ProcessHandle.current().pid() + ") is using this "
                        + "output directory; wait for it to finish or choose another --out", e.getMessage());
            }
            assertTrue(Files.exists(tmp.resolve(RunDirectory.RECORD)), "the first run's record is intact");
        }
        try (RunDirectory again = open(tmp, RunDirectory.Start.RESUME)) {
            assertTrue(again.resumed(), "released when the first run closed");
        }
    }

    @Test
    void overwriteDeletesTheRecordedOutputsAndNothingElse(@TempDir Path tmp) throws IOException {
        try (RunDirectory run = open(tmp, RunDirectory.Start.NEW)) {
            run.markRunning(0);
            Files.createDirectories(tmp.resolve("checkpoint-3"));
            Files.writeString(tmp.resolve("checkpoint-3").resolve("trainer_state.json"), "{}");
            Files.createDirectories(tmp.resolve(".checkpoint-4.tmp"));
            Files.writeString(tmp.resolve("metrics.jsonl"), "{\"step\":1}\n");
            Files.writeString(tmp.resolve("model.safetensors"), "weights");
            run.markFinished(3);
        }
        Files.writeString(tmp.resolve("notes.md"), "mine");
        Files.writeString(tmp.resolve("checkpoint-notes.txt"), "mine too");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> open(tmp, RunDirectory.Start.NEW));
        assertEquals(tmp + " already holds a finished rlhf4j sft run (step 3); pass --resume to continue it, "
                + "--overwrite to replace it, or choose another --out", e.getMessage());
        try (RunDirectory run = open(tmp, RunDirectory.Start.OVERWRITE)) {
            assertFalse(run.resumed());
        }
        assertEquals(Set.of("notes.md", "checkpoint-notes.txt", RunDirectory.LOCK), names(tmp));
        assertTrue(console.toString().contains("--overwrite deleted the previous sft run's outputs: .checkpoint-4.tmp, "
                + "checkpoint-3, metrics.jsonl, model.safetensors, rlhf4j_run.json"), console.toString());
    }

    @Test
    void checkpointsWithoutARecordAreARunWhoseSettingsCannotBeChecked(@TempDir Path tmp) throws IOException {
        Files.createDirectories(tmp.resolve("checkpoint-2"));
        Files.writeString(tmp.resolve("checkpoint-2").resolve("trainer_state.json"), "{}");
        assertThrows(IllegalStateException.class, () -> open(tmp, RunDirectory.Start.NEW));
        try (RunDirectory run = open(tmp, RunDirectory.Start.RESUME)) {
            assertTrue(run.resumed());
            run.verify(new RunFingerprint().put("seed", 1), false);
        }
        assertTrue(console.toString().contains("no rlhf4j_run.json (written before rlhf4j recorded its runs)"));
    }

    @Test
    void resumingComparesTheFingerprintAndNamesEveryChange(@TempDir Path tmp) throws IOException {
        Path data = tmp.resolve("data.jsonl");
        Files.writeString(data, "{\"text\": \"a\"}\n");
        Path dir = tmp.resolve("run");
        try (RunDirectory run = open(dir, RunDirectory.Start.NEW)) {
            run.verify(new RunFingerprint().put("learning_rate", 1e-3).put("seed", 42L).file("data", data), false);
            run.markRunning(0);
        }
        Files.writeString(data, "{\"text\": \"b\"}\n"); // same size, other content
        try (RunDirectory run = open(dir, RunDirectory.Start.RESUME)) {
            RunFingerprint changed = new RunFingerprint().put("learning_rate", 2e-3).put("seed", 42).file("data", data);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> run.verify(changed, false));
            assertTrue(e.getMessage().startsWith(dir + ": --resume with settings that differ from the run's: "
                    + "learning_rate: 0.001 → 0.002; data: " + data.toAbsolutePath() + " (14 bytes, sha256 "),
                    e.getMessage());
            assertFalse(e.getMessage().contains("seed"), "an int and a long of one value are the same setting");
            run.verify(changed, true);
            run.markRunning(5);
        }
        assertTrue(Files.readString(dir.resolve(RunDirectory.RECORD)).contains("\"resumed_at_step\" : 5"));
    }

    @Test
    void aModelsIdentityIsItsModelFilesAndAMovedFileIsTheSameInput(@TempDir Path tmp) throws IOException {
        Path model = Files.createDirectories(tmp.resolve("model"));
        Files.writeString(model.resolve("config.json"), "{}");
        Files.writeString(model.resolve("model.safetensors"), "weights");
        RunFingerprint before = new RunFingerprint().file("model", model);
        Files.writeString(model.resolve("README.md"), "notes"); // not a model file
        Files.writeString(model.resolve("metrics.jsonl"), "{}\n");
        assertEquals(List.of(), before.changesTo(new RunFingerprint().file("model", model)));
        Files.writeString(model.resolve("model.safetensors"), "weightz");
        assertEquals(1, before.changesTo(new RunFingerprint().file("model", model)).size());

        Path a = tmp.resolve("a.jsonl"), b = tmp.resolve("b.jsonl");
        Files.writeString(a, "{}\n");
        Files.copy(a, b);
        assertEquals(List.of(), new RunFingerprint().file("data", a).changesTo(new RunFingerprint().file("data", b)));
    }

    @Test
    void aLargeFileIsIdentifiedBySamplesOfItsContent(@TempDir Path tmp) throws IOException {
        Path big = tmp.resolve("big.safetensors");
        long size = RunFingerprint.WHOLE_FILE_BYTES * 3 + 12345;
        try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
            f.setLength(size); // sparse: costs no disk, and only the samples are read
        }
        String h0 = RunFingerprint.identity(big).get("sha256").asText();
        assertEquals(size, RunFingerprint.identity(big).get("bytes").asLong());
        long block = (size - (1 << 20) - (64 << 10)) / (RunFingerprint.SAMPLES - 1);
        try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
            f.seek((1 << 20) + block / 2); // between two samples: not read, the price of reading a few MiB
            f.write(1);
        }
        assertEquals(h0, RunFingerprint.identity(big).get("sha256").asText());
        try (RandomAccessFile f = new RandomAccessFile(big.toFile(), "rw")) {
            f.seek((1 << 20) + block * 7 + 100); // inside the eighth sample
            f.write(1);
        }
        assertFalse(h0.equals(RunFingerprint.identity(big).get("sha256").asText()), "a change in a sample shows");
    }

    @Test
    void aFailedCheckpointSaveLeavesNoTemporaryDirectoryAndNamesTheFile(@TempDir Path tmp) throws IOException {
        Map<String, Tensor> weights = Map.of("w", Tensor.of(new float[] {1, 2}, 2));
        Checkpoints.saveFiles(tmp, 2, Map.of("model.safetensors", weights),
                JsonNodeFactory.instance.objectNode().put("global_step", 2), 3);

        // a real I/O failure after the temporary directory exists: a file in a subdirectory never created
        Map<String, Map<String, Tensor>> files = new LinkedHashMap<>();
        files.put("model.safetensors", weights);
        files.put("missing/optimizer.safetensors", weights);
        IOException e = assertThrows(IOException.class, () -> Checkpoints.saveFiles(tmp, 4, files,
                JsonNodeFactory.instance.objectNode().put("global_step", 4), 3));
        assertEquals("checkpoint-4 not saved: writing " + tmp.resolve(".checkpoint-4.tmp/missing/optimizer.safetensors")
                + " failed (no such file or directory); the partial checkpoint was removed and the earlier ones are "
                + "intact", e.getMessage());
        assertEquals(Set.of("checkpoint-2"), names(tmp));

        // the disk filling up while a file is written
        Map<String, Tensor> full = new AbstractMap<>() {
            @Override
            public Set<Entry<String, Tensor>> entrySet() {
                throw new UncheckedIOException(new IOException("No space left on device"));
            }
        };
        e = assertThrows(IOException.class, () -> Checkpoints.saveFiles(tmp, 4, Map.of("model.safetensors", full),
                JsonNodeFactory.instance.objectNode().put("global_step", 4), 3));
        assertEquals("checkpoint-4 not saved: writing " + tmp.resolve(".checkpoint-4.tmp/model.safetensors")
                + " failed (No space left on device); the partial checkpoint was removed and the earlier ones are "
                + "intact", e.getMessage());
        assertEquals(Set.of("checkpoint-2"), names(tmp));
        assertEquals(tmp.resolve("checkpoint-2"), Checkpoints.latest(tmp).orElseThrow());
    }

    @Test
    void aSaveRemovesCheckpointsPastItsStep(@TempDir Path tmp) throws IOException {
        Map<String, Tensor> weights = Map.of("w", Tensor.of(new float[] {1, 2}, 2));
        for (int step : new int[] {2, 4, 6}) {
            Checkpoints.saveFiles(tmp, step, Map.of("model.safetensors", weights),
                    JsonNodeFactory.instance.objectNode().put("global_step", step), 5);
        }
        // resumed from checkpoint-2 (say), the run saves 4 again: 6 belongs to a future that did not happen
        Checkpoints.saveFiles(tmp, 4, Map.of("model.safetensors", weights),
                JsonNodeFactory.instance.objectNode().put("global_step", 4), 5);
        assertEquals(List.of(tmp.resolve("checkpoint-2"), tmp.resolve("checkpoint-4")), Checkpoints.list(tmp));
    }

    private static Set<String> names(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toSet());
        }
    }
}
