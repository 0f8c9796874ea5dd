package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.Trainer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The output-directory contract through the commands: one run per directory, no silent reuse, {@code --resume}
 * checked against the run's fingerprint, finished runs left alone, {@code --overwrite} deleting only a run's
 * outputs, {@code convert} never writing into its input. Each case asserts the one-line message and that the data
 * already there is intact.
 */
class OutputDirectoryTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path shared;
    private static TinyRun tiny;
    private StringWriter out = new StringWriter(), err = new StringWriter();

    @BeforeAll
    static void world() throws Exception {
        tiny = TinyRun.create(shared);
    }

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    private static String[] with(String[] args, String... more) {
        String[] r = Arrays.copyOf(args, args.length + more.length);
        System.arraycopy(more, 0, r, args.length, more.length);
        return r;
    }

    /** The error output is one line starting with "rlhf4j: " that contains every part. */
    private void assertOneLine(String... parts) {
        String e = err.toString().strip();
        assertTrue(e.startsWith("rlhf4j: "), e);
        assertEquals(1, e.lines().count(), e);
        for (String p : parts) {
            assertTrue(e.contains(p), "'" + p + "' missing from: " + e);
        }
    }

    private String[] sft(Path dir, String... extra) {
        return tiny.sft(dir, with(new String[] {"--per-device-train-batch-size", "4", "--learning-rate", "1e-3",
                "--save-steps", "2", "--eval-split", "0.25"}, extra));
    }

    @Test
    void aSecondRunOnALockedDirectoryFailsAtOnceAndLeavesTheFirstRunsFiles(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("run");
        assertEquals(0, run(sft(dir, "--max-steps", "4")), err.toString());
        Map<String, byte[]> before = TinyRun.snapshot(dir);
        // another run holds the directory (as a resuming run would): the command must not touch anything
        try (RunDirectory other = RunDirectory.open(dir, Trainer.kind("sft"), RunDirectory.Start.RESUME,
                new PrintWriter(new StringWriter()))) {
            for (String[] args : List.of(sft(dir, "--max-steps", "4"), sft(dir, "--max-steps", "6", "--resume"),
                    sft(dir, "--max-steps", "4", "--overwrite"))) {
                assertEquals(1, run(args));
                assertOneLine(dir + ": another rlhf4j run (pid " + ProcessHandle.current().pid() + ") is using this "
                        + "output directory");
                assertSame(before, TinyRun.snapshot(dir));
            }
        }
        assertEquals(0, run(sft(dir, "--max-steps", "6", "--resume")), "free again once the other run ends: " + err);
    }

    @Test
    void outOnAnotherFinishedRunIsRefusedAndOverwriteDeletesOnlyThatRunsOutputs(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("run");
        assertEquals(0, run(sft(dir, "--max-steps", "6")), err.toString());
        Files.writeString(dir.resolve("notes.txt"), "the user's own notes");
        Map<String, byte[]> before = TinyRun.snapshot(dir);
        assertEquals(1, run(sft(dir, "--max-steps", "3", "--seed", "7")));
        assertOneLine(dir + " already holds a finished rlhf4j sft run (step 6); pass --resume to continue it, "
                + "--overwrite to replace it, or choose another --out");
        assertSame(before, TinyRun.snapshot(dir));
        assertEquals(1, run(sft(dir, "--max-steps", "3", "--resume")));
        // the run's length is known once the data is read: the error follows the data summary
        assertEquals("rlhf4j: " + dir.resolve("checkpoint-6") + " is at step 6, past this run's 3 steps; raise "
                + "--max-steps or --num-train-epochs to continue it, or --overwrite to start over",
                err.toString().strip().lines().toList().getLast());
        assertSame(before, TinyRun.snapshot(dir));

        assertEquals(0, run(sft(dir, "--max-steps", "3", "--seed", "7", "--overwrite")), err.toString());
        assertTrue(err.toString().contains("--overwrite deleted the previous sft run's outputs: checkpoint-4, "
                + "checkpoint-6, config.json"), err.toString());
        assertEquals("the user's own notes", Files.readString(dir.resolve("notes.txt")), "not a run output: kept");
        assertFalse(Files.exists(dir.resolve("checkpoint-6")), "the other run's later checkpoints are gone");
        assertEquals(3, Files.readAllLines(dir.resolve("metrics.jsonl")).size());
        // so a later --resume finds this run's own end, not the other's "step 6 of 3"
        assertEquals(0, run(sft(dir, "--max-steps", "3", "--seed", "7", "--resume")), err.toString());
        assertTrue(err.toString().contains("the run is already finished (step 3 of 3); nothing to do"), err.toString());
    }

    @Test
    void aDirectoryThatIsNotARunIsRefusedAndOverwriteWritesIntoItDeletingNothing(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("mine"));
        Files.writeString(dir.resolve("config.json"), "{\"mine\": true}");
        Files.writeString(dir.resolve("data.csv"), "a,b\n");
        for (String[] args : List.of(sft(dir, "--max-steps", "2"), sft(dir, "--max-steps", "2", "--resume"))) {
            assertEquals(1, run(args));
            assertOneLine(dir + " is not empty and holds no rlhf4j run", "(config.json, data.csv)", "--overwrite");
            assertEquals("{\"mine\": true}", Files.readString(dir.resolve("config.json")));
            assertFalse(Files.exists(dir.resolve(RunDirectory.LOCK)), "not even a lock file is left there");
        }
        assertEquals(0, run(sft(dir, "--max-steps", "2", "--overwrite")), err.toString());
        assertEquals("a,b\n", Files.readString(dir.resolve("data.csv")), "nothing but same-named files replaced");
        assertTrue(Files.readString(dir.resolve("config.json")).contains("LlamaForCausalLM"));
    }

    @Test
    void resumingAFinishedRunLeavesEveryFileAsItWas(@TempDir Path tmp) throws Exception {
        Path sftDir = tmp.resolve("sft");
        assertEquals(0, run(sft(sftDir, "--max-steps", "4")), err.toString());
        assertTrue(JSON.readTree(sftDir.resolve("train_results.json").toFile()).has("eval_loss"));
        Map<String, byte[]> before = TinyRun.snapshot(sftDir);
        assertEquals(0, run(sft(sftDir, "--max-steps", "4", "--resume")), err.toString());
        assertTrue(err.toString().contains(sftDir + ": the run is already finished (step 4 of 4); nothing to do"),
                err.toString());
        assertSame(before, TinyRun.snapshot(sftDir));

        Path ppoDir = tmp.resolve("ppo");
        String[] ppo = tiny.ppo(tiny.policy(), ppoDir, "--max-steps", "2", "--save-steps", "1");
        assertEquals(0, run(ppo), err.toString());
        Map<String, byte[]> ppoBefore = TinyRun.snapshot(ppoDir);
        assertTrue(Double.isFinite(JSON.readTree(ppoDir.resolve("train_results.json").toFile())
                .get("objective/scores").asDouble()));
        assertEquals(0, run(with(ppo, "--resume")), err.toString());
        assertTrue(err.toString().contains("the run is already finished (step 2 of 2); nothing to do"), err.toString());
        assertSame(ppoBefore, TinyRun.snapshot(ppoDir));
    }

    @Test
    void resumeWithChangedSettingsOrDataNamesEachChangeAndAllowChangesAcceptsThem(@TempDir Path tmp)
            throws Exception {
        Path dir = tmp.resolve("run");
        assertEquals(0, run(sft(dir, "--max-steps", "4")), err.toString());
        Map<String, byte[]> before = TinyRun.snapshot(dir);
        assertEquals(1, run(tiny.sft(dir, "--per-device-train-batch-size", "2", "--learning-rate", "3e-3",
                "--seed", "7", "--save-steps", "2", "--eval-split", "0.25", "--max-steps", "8", "--resume")));
        assertOneLine(dir + ": --resume with settings that differ from the run's: learning_rate: 0.001 → 0.003; "
                + "per_device_train_batch_size: 4 → 2; seed: 42 → 7 (pass --allow-changes");
        assertSame(before, TinyRun.snapshot(dir));

        Path otherData = tmp.resolve("other.jsonl");
        List<String> lines = Files.readAllLines(tiny.sftData);
        Files.write(otherData, lines.subList(0, lines.size() - 1));
        String[] changedData = tiny.sft(dir, "--per-device-train-batch-size", "4", "--learning-rate", "1e-3",
                "--save-steps", "2", "--eval-split", "0.25", "--max-steps", "8", "--resume");
        changedData[Arrays.asList(changedData).indexOf("--data") + 1] = otherData.toString();
        assertEquals(1, run(changedData));
        assertOneLine("data: " + tiny.sftData.toAbsolutePath() + " (", " → " + otherData.toAbsolutePath() + " (");
        assertSame(before, TinyRun.snapshot(dir));

        // deliberately: a higher learning rate for the last steps
        assertEquals(0, run(tiny.sft(dir, "--per-device-train-batch-size", "4", "--learning-rate", "2e-3",
                "--save-steps", "2", "--eval-split", "0.25", "--max-steps", "6", "--resume", "--allow-changes")),
                err.toString());
        assertTrue(err.toString().contains("continuing with changed settings (--allow-changes): learning_rate: "
                + "0.001 → 0.002"), err.toString());
        assertEquals(6, Files.readAllLines(dir.resolve("metrics.jsonl")).size());
        JsonNode record = JSON.readTree(dir.resolve(RunDirectory.RECORD).toFile());
        assertEquals(0.002, record.get("fingerprint").get("learning_rate").asDouble());
        assertEquals("learning_rate: 0.001 → 0.002", record.get("changes").get(0).get("changed").get(0).asText());
        assertEquals(4, record.get("changes").get(0).get("resumed_at_step").asInt());
    }

    @Test
    void convertNeverWritesIntoItsInputOrOverAUsersFiles(@TempDir Path tmp) throws Exception {
        Path policy = tiny.policy();
        Map<String, byte[]> policyBefore = TinyRun.snapshot(policy);
        String[][] cases = {
                {policy.toString(), policy.toString(), "is the directory of --model " + policy},
                {policy.toString(), policy.resolve("sub").toString(), "is inside the directory of --model " + policy},
                {policy.resolve("model.safetensors").toString(), policy.toString(), "holds --model " + policy},
                {policy.toString(), policy.getParent().toString(), "holds --model " + policy}};
        for (String[] c : cases) {
            assertEquals(1, run("convert", "--model", c[0], "--out", c[1], "--overwrite"));
            assertOneLine("--out " + c[1] + " " + c[2], "never writes into its inputs");
        }
        assertSame(policyBefore, TinyRun.snapshot(policy));

        Path mine = Files.createDirectories(tmp.resolve("mine"));
        Files.writeString(mine.resolve("config.json"), "{\"mine\": true}");
        assertEquals(1, run("convert", "--model", policy.toString(), "--out", mine.toString()));
        assertOneLine(mine + " is not empty and holds no rlhf4j run (config.json)");
        assertEquals("{\"mine\": true}", Files.readString(mine.resolve("config.json")));
        assertEquals(0, run("convert", "--model", policy.toString(), "--out", mine.toString(), "--overwrite"),
                err.toString());
        assertTrue(Files.exists(mine.resolve("model.safetensors")));
        assertEquals(1, run("convert", "--model", policy.toString(), "--out", mine.toString()));
        assertOneLine(mine + " already holds a finished rlhf4j convert run; pass --overwrite to replace it");
    }

    @Test
    void anInputAmongTheOutputsOfTheRunInOutIsRefused(@TempDir Path tmp) throws Exception {
        Path lab = tmp.resolve("lab");
        assertEquals(0, run("lab", "generate", "--out", lab.toString(), "--corpus", "40", "--facts", "10", "--sft",
                "8", "--sft-eval", "4", "--prompts", "8", "--eval-prompts", "4", "--pairs", "0", "--eval-pairs", "0",
                "--vocab-size", "280"), err.toString());
        Map<String, byte[]> before = TinyRun.snapshot(lab);
        String[] args = tiny.sft(lab, "--max-steps", "1", "--overwrite");
        args[Arrays.asList(args).indexOf("--data") + 1] = lab.resolve("sft.jsonl").toString();
        assertEquals(1, run(args));
        assertOneLine("--out " + lab + " holds --data " + lab.resolve("sft.jsonl") + ", one of the outputs of an "
                + "rlhf4j run there");
        assertSame(before, TinyRun.snapshot(lab));
        assertEquals(1, run("lab", "generate", "--out", lab.toString(), "--pairs", "0", "--eval-pairs", "0"));
        assertOneLine(lab + " already holds a finished rlhf4j lab generate run; pass --overwrite to replace it");
    }

    @Test
    void resumeAndOverwriteTogetherOrAllowChangesAloneAreUsageErrors(@TempDir Path tmp) {
        assertEquals(2, run(sft(tmp.resolve("a"), "--resume", "--overwrite")));
        assertTrue(err.toString().contains("--resume and --overwrite exclude each other"), err.toString());
        assertEquals(2, run(sft(tmp.resolve("a"), "--allow-changes")));
        assertTrue(err.toString().contains("--allow-changes goes with --resume"), err.toString());
        assertFalse(Files.exists(tmp.resolve("a")), "nothing created");
    }

    @Test
    void helpSaysWhatOverwriteDeletes() {
        for (String[] cmd : List.of(new String[] {"sft"}, new String[] {"ppo"}, new String[] {"convert"},
                new String[] {"lab", "generate"}, new String[] {"demo"}, new String[] {"reward", "train"})) {
            assertEquals(0, run(with(cmd, "--help")));
            String h = out.toString().replaceAll("\\s+", " ");
            assertTrue(h.contains("--overwrite Replace an earlier rlhf4j run in the output directory: first delete "
                    + "the outputs it recorded"), String.join(" ", cmd) + ": " + h);
            assertTrue(h.contains("nothing is deleted"), String.join(" ", cmd));
        }
    }

    private static void assertSame(Map<String, byte[]> before, Map<String, byte[]> after) {
        assertEquals(before.keySet(), after.keySet(), "the same files");
        before.forEach((name, bytes) -> assertArrayEquals(bytes, after.get(name), name + " unchanged"));
    }
}
