package dev.rlhf4j.cli;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.tensor.UserStateError;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The error contract of the command line, one fault at a time: usage errors are one {@code rlhf4j:} line and where
 * to find help (exit 2); bad values, bad files and config files are one line naming the option, file or key (exit
 * 1), found before any model is read or file written; internal faults and running out of memory say what happened
 * and what to do. The model files here are junk on purpose: a check that ran after loading would report the junk.
 */
class ErrorContractTest {
    @TempDir
    Path tmp;
    private Path junkModel, data, outDir;
    private StringWriter out = new StringWriter(), err = new StringWriter();

    @BeforeEach
    void files() throws IOException {
        junkModel = Files.writeString(tmp.resolve("model.bin"), "not a checkpoint");
        data = Files.writeString(tmp.resolve("data.jsonl"), "{\"prompt\": \"a\", \"completion\": \"b\"}\n");
        outDir = tmp.resolve("out");
    }

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    /** Standard error must be exactly {@code lines}. */
    private void assertErr(String... lines) {
        assertEquals(String.join("\n", lines), err.toString().strip(), err.toString());
    }

    /** The run wrote nothing: its output directory does not exist. */
    private void assertNothingWritten() {
        assertFalse(Files.exists(outDir), "the output directory was created before the options were checked");
    }

    // ---- usage errors: exit 2, one line and the help of the command that was run, never the usage text

    @Test
    void anUnknownOptionIsNamedWithTheClosestOneAndTheCommandsHelp() {
        assertEquals(2, run("reward", "train", "--lerning-rate", "1e-4", "--model", junkModel.toString(), "--data",
                data.toString(), "--out", outDir.toString()));
        assertErr("rlhf4j: unknown option '--lerning-rate' (did you mean --learning-rate?)",
                "see 'rlhf4j reward train --help'");
        assertNothingWritten();
    }

    @Test
    void anUnknownOptionIsReportedBeforeTheRequiredOnesItLeftOut() {
        assertEquals(2, run("sft", "--bogus"));
        assertErr("rlhf4j: unknown option '--bogus'", "see 'rlhf4j sft --help'");
    }

    @Test
    void aNumberThatIsNotOneIsAUsageError() {
        assertEquals(2, run("generate", "--model", junkModel.toString(), "--prompt", "x", "--max-new-tokens", "ten"));
        assertErr("rlhf4j: invalid value for option '--max-new-tokens': 'ten' is not a whole number",
                "see 'rlhf4j generate --help'");
        assertEquals(2, run("sft", "--model", junkModel.toString(), "--data", data.toString(), "--out",
                outDir.toString(), "--learning-rate", "fast"));
        assertErr("rlhf4j: invalid value for option '--learning-rate': 'fast' is not a number",
                "see 'rlhf4j sft --help'");
        assertNothingWritten();
    }

    @Test
    void aMissingRequiredOptionIsNamed() {
        assertEquals(2, run("ppo", "--policy", junkModel.toString(), "--reward", "lab", "--out", outDir.toString()));
        assertErr("rlhf4j: missing required option: '--prompts=FILE.jsonl'", "see 'rlhf4j ppo --help'");
        assertNothingWritten();
    }

    @Test
    void aValueOutsideTheListOfChoicesIsAUsageErrorListingThem() {
        assertEquals(2, run("sft", "--model", junkModel.toString(), "--data", data.toString(), "--out",
                outDir.toString(), "--lr-scheduler-type", "cosin"));
        assertErr("rlhf4j: invalid value for option '--lr-scheduler-type': 'cosin' is not one of linear, cosine, "
                + "constant", "see 'rlhf4j sft --help'");
        assertEquals(2, run("convert", "--model", junkModel.toString(), "--out", outDir.toString(), "--dtype", "f64"));
        assertErr("rlhf4j: invalid value for option '--dtype': 'f64' is not one of f32, bf16, f16, float32, "
                + "bfloat16, float16", "see 'rlhf4j convert --help'");
        assertEquals(2, run("ppo", "--policy", junkModel.toString(), "--reward", "lab", "--prompts", data.toString(),
                "--out", outDir.toString(), "--kl-estimator", "k2"));
        assertErr("rlhf4j: invalid value for option '--kl-estimator': 'k2' is not one of k1, k3",
                "see 'rlhf4j ppo --help'");
        assertNothingWritten();
    }

    @Test
    void anUnknownCommandIsNamedWithTheClosestOne() {
        assertEquals(2, run("reward", "trian", "--model", junkModel.toString()));
        assertErr("rlhf4j: unknown command 'trian' (did you mean train?)", "see 'rlhf4j reward --help'");
    }

    @Test
    void anUnexpectedArgumentIsNamed() {
        assertEquals(2, run("info", "--model", junkModel.toString(), "extra"));
        assertErr("rlhf4j: unexpected argument 'extra'", "see 'rlhf4j info --help'");
    }

    @Test
    void optionsThatDoNotGoTogetherAreAUsageError() {
        assertEquals(2, run("generate", "--model", junkModel.toString()));
        assertErr("rlhf4j: give either --prompt TEXT... or --prompts FILE.jsonl", "see 'rlhf4j generate --help'");
        assertEquals(2, run("ppo", "--policy", junkModel.toString(), "--prompts", data.toString(), "--out",
                outDir.toString()));
        assertErr("rlhf4j: give exactly one of --reward-model PATH and --reward lab", "see 'rlhf4j ppo --help'");
        assertEquals(2, run("ppo", "--policy", junkModel.toString(), "--reward", "lab", "--prompts", data.toString(),
                "--out", outDir.toString(), "--ptx-coef", "0.5"));
        assertErr("rlhf4j: --ptx-coef needs --ptx-data FILE", "see 'rlhf4j ppo --help'");
        assertNothingWritten();
    }

    // ---- --config files: the file and the key, exit 1

    private Path config(String yaml) throws IOException {
        return Files.writeString(tmp.resolve("cfg.yaml"), yaml);
    }

    private int sftWithConfig(Path cfg) {
        return run("sft", "--config", cfg.toString(), "--model", junkModel.toString(), "--data", data.toString(),
                "--out", outDir.toString());
    }

    @Test
    void aConfigValueOfTheWrongTypeNamesTheFileAndTheKey() throws IOException {
        Path cfg = config("max_steps: 3\nlearning_rate: abc\n");
        assertEquals(1, sftWithConfig(cfg));
        assertErr("rlhf4j: " + cfg + ": learning_rate: 'abc' is not a number");
        assertEquals(1, sftWithConfig(config("max_steps: 1.5\n")));
        assertErr("rlhf4j: " + cfg + ": max_steps: '1.5' is not a whole number");
        assertEquals(1, sftWithConfig(config("lr_scheduler_type: cosin\n")));
        assertErr("rlhf4j: " + cfg + ": lr_scheduler_type: 'cosin' is not one of linear, cosine, constant");
        assertEquals(1, sftWithConfig(config("packing: maybe\n")));
        assertErr("rlhf4j: " + cfg + ": packing: 'maybe' is not true or false");
        assertEquals(1, sftWithConfig(config("learning_rate: [1, 2]\n")));
        assertErr("rlhf4j: " + cfg + ": learning_rate: takes a single value, not a list");
        assertNothingWritten();
    }

    @Test
    void aBadConfigValueOverriddenOnTheCommandLineIsNotUsed() throws IOException {
        Path cfg = config("learning_rate: abc\n");
        // the flag wins, so the run goes on until the junk model stops it
        assertEquals(1, run("sft", "--config", cfg.toString(), "--model", junkModel.toString(), "--data",
                data.toString(), "--out", outDir.toString(), "--learning-rate", "1e-3"));
        assertTrue(err.toString().startsWith("rlhf4j: ") && err.toString().contains("model.bin"), err.toString());
        assertFalse(err.toString().contains("cfg.yaml"), err.toString());
    }

    @Test
    void anImpossibleConfigValueNamesTheFileAndTheKey() throws IOException {
        Path cfg = config("learning_rate: -1\n");
        assertEquals(1, sftWithConfig(cfg));
        assertErr("rlhf4j: " + cfg + ": learning_rate must be a positive number, got -1.0");
        assertEquals(1, sftWithConfig(config("threads: -2\n")));
        assertErr("rlhf4j: " + cfg + ": threads must be 0 (all cores) or a positive number, got -2");
        // the same value on the command line is named as the option
        assertEquals(1, run("sft", "--model", junkModel.toString(), "--data", data.toString(), "--out",
                outDir.toString(), "--learning-rate", "-1"));
        assertErr("rlhf4j: learning_rate must be a positive number, got -1.0");
        assertNothingWritten();
    }

    @Test
    void aKeyGivenTwiceIsRefusedWithItsLine() throws IOException {
        Path cfg = config("learning_rate: 1.0e-3\nmax_steps: 4\nlearning_rate: 2.0e-3\n");
        assertEquals(1, sftWithConfig(cfg));
        assertErr("rlhf4j: " + cfg + ":3: 'learning_rate' is given twice");
        assertNothingWritten();
    }

    @Test
    void aConfigFileThatIsNotThereOrNotAMappingIsNamed() throws IOException {
        assertEquals(1, sftWithConfig(tmp.resolve("absent.yaml")));
        assertErr("rlhf4j: " + tmp.resolve("absent.yaml") + ": no such config file");
        Path cfg = config("- learning_rate\n");
        assertEquals(1, sftWithConfig(cfg));
        assertErr("rlhf4j: " + cfg + ": a config file must be a mapping of option names to values");
        assertEquals(1, sftWithConfig(config("debug: true\n")));
        assertErr("rlhf4j: " + cfg + ": unknown option 'debug' for rlhf4j sft");
        assertNothingWritten();
    }

    // ---- impossible values: exit 1, before any model is read or file written

    @Test
    void simulatePreferencesRefusesAnImpossibleAgreementBeforeSampling() {
        assertEquals(1, run("simulate-preferences", "--model", junkModel.toString(), "--prompts", data.toString(),
                "--out", outDir.toString(), "--agreement", "1.5"));
        assertErr("rlhf4j: --agreement must be between 0.5 and 1.0 (exclusive), got 1.5");
        assertNothingWritten();
        assertEquals(1, run("lab", "generate", "--out", outDir.toString(), "--agreement", "0.5"));
        assertErr("rlhf4j: --agreement must be between 0.5 and 1.0 (exclusive), got 0.5");
        assertNothingWritten();
    }

    /** Every command that computes takes --threads from one place, and refuses a negative count first. */
    @Test
    void aNegativeThreadCountIsRefusedByEveryCommandBeforeItStarts() {
        String m = junkModel.toString(), d = data.toString(), o = outDir.toString();
        List<String[]> commands = List.of(
                new String[] {"generate", "--model", m, "--prompt", "x"},
                new String[] {"eval", "--model", m, "--data", d},
                new String[] {"pretrain", "--model", m, "--data", d, "--out", o},
                new String[] {"sft", "--model", m, "--data", d, "--out", o},
                new String[] {"reward", "train", "--model", m, "--data", d, "--out", o},
                new String[] {"reward", "eval", "--model", m, "--data", d},
                new String[] {"reward", "score", "--model", m, "--data", d},
                new String[] {"lab", "generate", "--out", o},
                new String[] {"simulate-preferences", "--model", m, "--prompts", d, "--out", o},
                new String[] {"ppo", "--policy", m, "--reward", "lab", "--prompts", d, "--out", o},
                new String[] {"demo", "--out", o},
                new String[] {"bench"});
        for (String[] c : commands) {
            List<String> args = new ArrayList<>(List.of(c));
            args.addAll(List.of("--threads", "-1"));
            assertEquals(1, run(args.toArray(String[]::new)), String.join(" ", c) + ": " + err);
            assertErr("rlhf4j: --threads must be 0 (all cores) or a positive number, got -1");
            assertNothingWritten();
        }
    }

    @Test
    void trainingValuesAreCheckedBeforeTheModelIsRead() {
        String m = junkModel.toString(), d = data.toString(), o = outDir.toString();
        assertEquals(1, run("sft", "--model", m, "--data", d, "--out", o, "--warmup-ratio", "2"));
        assertErr("rlhf4j: warmup_steps must be >= 0 and warmup_ratio in [0, 1)");
        assertEquals(1, run("reward", "train", "--model", m, "--data", d, "--out", o, "--max-length", "0"));
        assertErr("rlhf4j: --max-length must be positive (or -1 for the default), got 0");
        assertEquals(1, run("sft", "--model", m, "--data", d, "--out", o, "--eval-split", "1"));
        assertErr("rlhf4j: --eval-split must be in [0, 1), got 1.0");
        assertEquals(1, run("ppo", "--policy", m, "--reward", "lab", "--prompts", d, "--out", o, "--cliprange", "1.5"));
        assertErr("rlhf4j: cliprange must be in (0, 1), got 1.5");
        assertEquals(1, run("ppo", "--policy", m, "--reward", "lab", "--prompts", d, "--out", o, "--adam-beta2", "1"));
        assertErr("rlhf4j: adam_beta1 and adam_beta2 must be in [0, 1), got 0.9, 1.0");
        assertEquals(1, run("demo", "--out", o, "--ppo-steps", "0"));
        assertErr("rlhf4j: --ppo-steps must be positive, got 0");
        assertEquals(1, run("lab", "generate", "--out", o, "--vocab-size", "100"));
        assertErr("rlhf4j: --vocab-size 100: BPE vocabulary size 100 is smaller than the 256 bytes plus 2 special "
                + "tokens");
        assertEquals(1, run("generate", "--model", m, "--prompt", "x", "--top-p", "0"));
        assertErr("rlhf4j: --top-p must be in (0, 1], got 0.0");
        assertEquals(1, run("reward", "score", "--model", m, "--data", d, "--batch-size", "0"));
        assertErr("rlhf4j: --batch-size must be positive, got 0");
        assertNothingWritten();
    }

    @Test
    void inputsThatAreMissingOrDirectoriesAreNamedWithTheirOption() {
        Path missing = tmp.resolve("missing.jsonl");
        assertEquals(1, run("sft", "--model", junkModel.toString(), "--data", missing.toString(), "--out",
                outDir.toString()));
        assertErr("rlhf4j: --data " + missing + ": no such file");
        // a directory as a data file: the JDK alone would say "Is a directory" with no path
        assertEquals(1, run("lab", "score", "--data", tmp.toString()));
        assertErr("rlhf4j: --data " + tmp + ": is a directory, not a file");
        assertEquals(1, run("ppo", "--policy", tmp.resolve("nope").toString(), "--reward", "lab", "--prompts",
                data.toString(), "--out", outDir.toString()));
        assertErr("rlhf4j: --policy " + tmp.resolve("nope") + ": no such file or directory");
        assertEquals(1, run("convert", "--model", junkModel.toString(), "--out", data.toString()));
        assertErr("rlhf4j: --out " + data + ": exists and is not a directory");
        assertNothingWritten();
    }

    @Test
    void aFullDiskNamesTheFileAndTheOperation() throws IOException {
        Path full = Path.of("/dev/full");
        assumeTrue(Files.exists(full), "no /dev/full here");
        IOException e = assertThrows(IOException.class, () -> IoErrors.writeString(full, "x".repeat(100_000)));
        StringWriter s = new StringWriter();
        assertEquals(1, Main.failure(e, new PrintWriter(s, true), false, null));
        assertEquals("rlhf4j: cannot write /dev/full: No space left on device", s.toString().strip());
    }

    // ---- how exceptions are reported

    @Test
    void fileSystemErrorsNameTheirPathInWords() {
        assertEquals("/x/model.bin: no such file or directory", Main.message(new NoSuchFileException("/x/model.bin")));
        assertEquals("/x/out: permission denied",
                Main.message(new UncheckedIOException(new AccessDeniedException("/x/out"))));
        assertEquals("/x/a -> /x/b: is a directory",
                Main.message(new FileSystemException("/x/a", "/x/b", "Is a directory")));
        assertEquals("/x/a.txt: no such file or directory",
                Main.message(new java.io.FileNotFoundException("/x/a.txt (No such file or directory)")));
    }

    @Test
    void anIoErrorFromTheJdkWithNoPathSaysSoAndHowToFindWhere() throws IOException {
        // reading a directory as a file: the JDK's message is a bare "Is a directory"
        IOException e = assertThrows(IOException.class, () -> Files.readString(tmp));
        StringWriter s = new StringWriter();
        assertEquals(1, Main.failure(e, new PrintWriter(s, true), false, null));
        assertErr(s, "rlhf4j: I/O error: Is a directory (the file was not named)", "rlhf4j: " + Main.DEBUG_HINT);
    }

    @Test
    void anInternalErrorNamesItsClassAndHowToGetTheStackTrace() {
        StringWriter s = new StringWriter();
        Throwable bug = new NullPointerException("Cannot read the array length because \"x\" is null");
        assertEquals(1, Main.failure(bug, new PrintWriter(s, true), false, null));
        assertErr(s, "rlhf4j: internal error: java.lang.NullPointerException: Cannot read the array length because "
                + "\"x\" is null", "rlhf4j: run with --debug (or RLHF4J_DEBUG=1) for the stack trace");
        s = new StringWriter();
        assertEquals(1, Main.failure(new ArrayIndexOutOfBoundsException(7), new PrintWriter(s, true), true, null));
        assertTrue(s.toString().startsWith("rlhf4j: internal error: java.lang.ArrayIndexOutOfBoundsException: "
                + "Array index out of range: 7"), s.toString());
        assertTrue(s.toString().contains("\tat dev.rlhf4j.cli.ErrorContractTest"), "--debug prints the trace: " + s);
    }

    @Test
    void aUserErrorIsOneLineAndAnyOtherCheckAddsHowToGetTheStackTrace() {
        StringWriter s = new StringWriter();
        assertEquals(1, Main.failure(new UserError("data.jsonl:3: \"prompt\" is missing"), new PrintWriter(s, true),
                false, null));
        assertErr(s, "rlhf4j: data.jsonl:3: \"prompt\" is missing");
        s = new StringWriter();
        assertEquals(1, Main.failure(new UserStateError("out: another rlhf4j run is using this output directory"),
                new PrintWriter(s, true), false, null));
        assertErr(s, "rlhf4j: out: another rlhf4j run is using this output directory");
        // a check the program did not mark as the user's may be a bug: its message, then how to see where it was
        s = new StringWriter();
        assertEquals(1, Main.failure(new IllegalArgumentException("row 7 is outside [0, 4)"), new PrintWriter(s, true),
                false, null));
        assertErr(s, "rlhf4j: row 7 is outside [0, 4)", "rlhf4j: " + Main.DEBUG_HINT);
        s = new StringWriter();
        assertEquals(1, Main.failure(new IllegalStateException("call forward first"), new PrintWriter(s, true), true,
                null));
        String[] lines = s.toString().split("\n");
        assertEquals("rlhf4j: call forward first", lines[0]);
        assertTrue(lines[1].startsWith("java.lang.IllegalStateException"), s.toString());
        assertFalse(s.toString().contains(Main.DEBUG_HINT), "with --debug the trace itself is printed: " + s);
    }

    @Test
    void userErrorsFromTheLibrariesReachTheCommandLineAsOneLine() throws IOException {
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"prompt\": \"a\", \"response\": \"b\"}\n");
        assertEquals(1, run("lab", "score", "--data", bad.toString()));
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
        assertEquals("rlhf4j: " + bad + ":1: not a request of this lab world: 'a'", err.toString().strip());
    }

    @Test
    void runningOutOfHeapSaysHowMuchThereWasAndHowToRaiseIt() {
        StringWriter s = new StringWriter();
        assertEquals(1, Main.failure(new IllegalStateException("wrapped", new OutOfMemoryError("Java heap space")),
                new PrintWriter(s, true), false, null));
        assertErr(s, "rlhf4j: out of memory: the Java heap (at most " + Main.heapSize(Runtime.getRuntime().maxMemory())
                + " here) is too small for this run; "
                + "give it more with RLHF4J_JAVA_OPTS=-Xmx<size>, e.g. RLHF4J_JAVA_OPTS=-Xmx16g ./rlhf4j ...");
    }

    @Test
    void heapSizesReadAsTheyAreGiven() {
        assertEquals("48 MiB", Main.heapSize(48L << 20));
        assertEquals("16.0 GiB", Main.heapSize(16L << 30));
    }

    @Test
    void debugPrintsTheStackTraceOfAUserErrorToo() {
        assertEquals(1, run("sft", "--model", junkModel.toString(), "--data", data.toString(), "--out",
                outDir.toString(), "--eval-split", "2", "--debug"));
        String[] lines = err.toString().split("\n");
        assertEquals("rlhf4j: --eval-split must be in [0, 1), got 2.0", lines[0]);
        assertTrue(lines[1].startsWith("dev.rlhf4j.tensor.UserError"), err.toString());
        assertTrue(err.toString().contains("\tat dev.rlhf4j.cli.TrainingCommandBase.call"), err.toString());
        assertTrue(Main.debugRequested(new String[] {"--debug", "sft"}, null));
        assertTrue(Main.debugRequested(new String[] {"sft"}, "1"));
        assertFalse(Main.debugRequested(new String[] {"generate", "--", "--debug"}, null), "after --, an argument");
        assertFalse(Main.debugRequested(new String[] {"sft"}, "0"));
    }

    private static void assertErr(StringWriter s, String... lines) {
        assertEquals(String.join("\n", lines), s.toString().strip(), s.toString());
    }
}
