package dev.rlhf4j.cli;

import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.io.Safetensors;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code rlhf4j spark ...} in {@code local[2]} writes exactly what the single-process command prints for the same
 * inputs and seed (on the tiny lab model and the lab's prompts), and fails on a user's error in one line.
 */
class SparkCommandTest {
    @TempDir
    static Path shared;
    private static TinyRun tiny;
    private static Path rewardModel;
    private StringWriter out = new StringWriter(), err = new StringWriter();

    @BeforeAll
    static void tinyWorld() throws Exception {
        tiny = TinyRun.create(shared);
        Pretrained policy = Pretrained.open(tiny.policy(), null);
        // an untrained reward model of the policy's shape and tokenizer: its scores differ per record, which is all
        // the comparison needs
        rewardModel = shared.resolve("rm");
        HfCheckpoint.save(Transformer.create(policy.model().config(), OutputHeads.SCALAR, 5), rewardModel,
                HfCheckpoint.SaveOptions.of(Safetensors.DType.F32).withTokenizer(policy.tokenizer()));
    }

    private int run(String... args) {
        out = new StringWriter();
        err = new StringWriter();
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    private List<String> stdout() {
        return out.toString().lines().toList();
    }

    private static String[] concat(String[] a, String... b) {
        List<String> all = new ArrayList<>(List.of(a));
        all.addAll(List.of(b));
        return all.toArray(String[]::new);
    }

    @Test
    void sparkGenerateWritesWhatGenerateJsonPrints(@TempDir Path tmp) throws Exception {
        String[] options = {"--model", tiny.policy().toString(), "--prompts", tiny.prompts.toString(),
                "--max-new-tokens", "12", "--seed", "3", "--batch-size", "5", "--temperature", "0.9"};
        assertEquals(0, run(concat(new String[] {"generate", "--json"}, options)), err.toString());
        List<String> expected = stdout();
        assertEquals(Files.readAllLines(tiny.prompts).size(), expected.size());
        for (String partitions : new String[] {"0", "3"}) {
            Path o = tmp.resolve("gen-" + partitions + ".jsonl");
            assertEquals(0, run(concat(new String[] {"spark", "generate", "--master", "local[2]", "--partitions",
                    partitions, "--out", o.toString()}, options)), err.toString());
            assertEquals(expected, Files.readAllLines(o), partitions + " partitions");
            assertEquals("generated 32 responses to " + o + System.lineSeparator(), err.toString());
        }
    }

    @Test
    void sparkRewardScoreWritesWhatRewardScorePrints(@TempDir Path tmp) throws Exception {
        String[] options = {"--model", rewardModel.toString(), "--data", tiny.sftData.toString(), "--batch-size", "5",
                "--max-length", "96"};
        assertEquals(0, run(concat(new String[] {"reward", "score"}, options)), err.toString());
        List<String> expected = stdout();
        assertEquals(Files.readAllLines(tiny.sftData).size(), expected.size());
        Path o = tmp.resolve("scores.jsonl");
        assertEquals(0, run(concat(new String[] {"spark", "reward-score", "--master", "local[2]", "--out",
                o.toString()}, options)), err.toString());
        assertEquals(expected, Files.readAllLines(o));
    }

    @Test
    void sparkBestOfNWritesWhatBestOfNWrites(@TempDir Path tmp) throws Exception {
        // batches of 6 sequences with n = 4: batches hold samples of two prompts, and the gold reward and a reward
        // model both pick
        for (String[] reward : new String[][] {{"--reward", "lab"}, {"--reward-model", rewardModel.toString()}}) {
            String[] options = concat(new String[] {"--policy", tiny.policy().toString(), "--prompts",
                    tiny.prompts.toString(), "--n", "4", "--max-new-tokens", "10", "--batch-size", "6", "--seed", "2"},
                    reward);
            Path single = tmp.resolve("single-" + reward[0] + ".jsonl");
            assertEquals(0, run(concat(concat(new String[] {"best-of-n"}, options), "--out", single.toString())),
                    err.toString());
            Path spark = tmp.resolve("spark-" + reward[0] + ".jsonl");
            assertEquals(0, run(concat(concat(new String[] {"spark", "best-of-n", "--master", "local[2]",
                    "--partitions", "3"}, options), "--out", spark.toString())), err.toString());
            List<String> expected = Files.readAllLines(single);
            assertEquals(Files.readAllLines(tiny.prompts).size(), expected.size());
            assertEquals(expected, Files.readAllLines(spark), reward[0]);
        }
    }

    @Test
    void sparkLabScoreWritesWhatLabScorePrints(@TempDir Path tmp) throws Exception {
        assertEquals(0, run("lab", "score", "--data", tiny.sftData.toString()), err.toString());
        List<String> expected = stdout();
        Path o = tmp.resolve("gold.jsonl");
        assertEquals(0, run("spark", "lab-score", "--master", "local[2]", "--data", tiny.sftData.toString(), "--out",
                o.toString()), err.toString());
        assertEquals(expected, Files.readAllLines(o));
    }

    @Test
    void userErrorsPrintOneLine(@TempDir Path tmp) throws Exception {
        Path o = tmp.resolve("o.jsonl");
        assertEquals(1, run("spark", "generate", "--master", "local[2]", "--model", tiny.policy().toString(),
                "--prompts", tmp.resolve("missing.jsonl").toString(), "--out", o.toString()));
        assertEquals("rlhf4j: --prompts " + tmp.resolve("missing.jsonl") + ": no such file" + System.lineSeparator(),
                err.toString());

        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"prompt\": \"a\"}\n{\"prompt\": \n");
        assertEquals(1, run("spark", "generate", "--master", "local[2]", "--model", tiny.policy().toString(),
                "--prompts", bad.toString(), "--out", o.toString()));
        assertTrue(err.toString().startsWith("rlhf4j: " + bad + ":2: "), err.toString());
        assertEquals(1, err.toString().lines().count(), err.toString());

        assertEquals(1, run("spark", "reward-score", "--master", "yarn-ish", "--model", rewardModel.toString(),
                "--data", tiny.sftData.toString(), "--out", o.toString()));
        assertTrue(err.toString().startsWith("rlhf4j: --master yarn-ish: not a Spark master URL"), err.toString());
        assertEquals(1, err.toString().lines().count(), err.toString());

        // a prompt too long for the model fails in a task; the job fails with the task's error, in one line
        Path longPrompt = tmp.resolve("long.jsonl");
        Files.writeString(longPrompt, "{\"prompt\": \"" + "User: How do I clean a shoe? ".repeat(20) + "\"}\n");
        assertEquals(1, run("spark", "generate", "--master", "local[2]", "--model", tiny.policy().toString(),
                "--prompts", longPrompt.toString(), "--out", o.toString(), "--max-new-tokens", "8"));
        assertTrue(err.toString().startsWith("rlhf4j: " + longPrompt + ":1: the prompt is "), err.toString());
        assertEquals(1, err.toString().lines().count(), err.toString());
        assertFalse(Files.exists(o), "nothing written");
    }
}
