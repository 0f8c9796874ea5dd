package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.tensor.Parallel;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BenchCommandTest {
    private final StringWriter out = new StringWriter(), err = new StringWriter();
    /** {@code bench --threads} replaces the shared pool; later tests run with the size they started with. */
    private final int threadsBefore = Parallel.global().threads();

    @AfterEach
    void restoreThePool() {
        Parallel.setGlobalThreads(threadsBefore);
    }

    private int run(String... args) {
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    @Test
    void printsOneJsonLinePerMeasurementWithThePeersFields() throws Exception {
        int code = run("bench", "--vocab", "64", "--dim", "16", "--layers", "1", "--heads", "2", "--batch", "2",
                "--seq", "8", "--steps", "1", "--threads", "1");
        assertEquals(0, code, err.toString());
        String[] lines = out.toString().trim().split("\n");
        assertEquals(4, lines.length, out.toString());
        ObjectMapper json = new ObjectMapper();
        JsonNode head = json.readTree(lines[0]);
        assertEquals(64, head.get("config").get("vocab").asInt());
        assertEquals(1, head.get("threads").asInt());
        JsonNode train = json.readTree(lines[1]);
        assertEquals("train", train.get("what").asText());
        assertTrue(train.get("tokens_per_s").asDouble() > 0);
        assertTrue(train.get("step_s").asDouble() > 0);
        assertEquals(Math.log(64), train.get("loss").asDouble(), 0.5, "an untrained model is near uniform");
        JsonNode decode = json.readTree(lines[2]);
        assertEquals("decode", decode.get("what").asText());
        assertTrue(decode.get("new_tokens_per_s").asDouble() > 0);
        JsonNode gemm = json.readTree(lines[3]);
        assertEquals("gemm", gemm.get("what").asText());
        assertEquals(16, gemm.get("shape").get(0).asInt());
        assertEquals(64, gemm.get("shape").get(1).asInt());
        assertTrue(gemm.get("gflops").asDouble() > 0);
    }

    @Test
    void gradientCheckpointingTrainsTheSameWithLessActivationMemory() throws Exception {
        ObjectMapper json = new ObjectMapper();
        JsonNode[] train = new JsonNode[2];
        for (int i = 0; i < 2; i++) {
            out.getBuffer().setLength(0);
            String[] args = {"bench", "--only", "train", "--vocab", "64", "--dim", "16", "--layers", "3", "--heads",
                    "2", "--batch", "2", "--seq", "8", "--steps", "1", "--threads", "1", "--gradient-checkpointing"};
            int code = run(i == 0 ? Arrays.copyOf(args, args.length - 1) : args);
            assertEquals(0, code, err.toString());
            train[i] = json.readTree(out.toString().trim().split("\n")[1]);
            assertEquals(i == 1, train[i].get("gradient_checkpointing").asBoolean());
        }
        // three identical AdamW steps: the recompute changes where activations live, not a bit of the arithmetic
        assertEquals(train[0].get("loss").asDouble(), train[1].get("loss").asDouble(), 0.0);
        assertTrue(train[1].get("activation_mb").asDouble() < train[0].get("activation_mb").asDouble());
    }

    @Test
    void decodeReadsPackedWeightsWhenAsked() throws Exception {
        int code = run("bench", "--only", "decode", "--vocab", "64", "--dim", "32", "--layers", "1", "--heads", "2",
                "--batch", "2", "--prompt", "4", "--new", "4", "--threads", "1", "--weights-dtype", "bf16");
        assertEquals(0, code, err.toString());
        String[] lines = out.toString().trim().split("\n");
        JsonNode decode = new ObjectMapper().readTree(lines[1]);
        assertEquals("bf16", decode.get("weights_dtype").asText());
        assertTrue(decode.get("new_tokens_per_s").asDouble() > 0);
        assertEquals(2, run("bench", "--weights-dtype", "bf16"), "--weights-dtype without --only decode");
        assertEquals(2, run("bench", "--only", "decode", "--weights-dtype", "f16"));
    }

    @Test
    void dpoStepIsMeasuredAtTheUntrainedLossOfLogTwo() throws Exception {
        int code = run("bench", "--only", "dpo", "--vocab", "64", "--dim", "16", "--layers", "1", "--heads", "2",
                "--batch", "2", "--prompt", "4", "--new", "4", "--steps", "1", "--threads", "1");
        assertEquals(0, code, err.toString());
        String[] lines = out.toString().trim().split("\n");
        assertEquals(2, lines.length, out.toString());
        JsonNode dpo = new ObjectMapper().readTree(lines[1]);
        assertEquals("dpo", dpo.get("what").asText());
        assertTrue(dpo.get("pairs_per_s").asDouble() > 0);
        assertEquals(2 * 2 * 8 / dpo.get("step_s").asDouble(), dpo.get("tokens_per_s").asDouble(), 1e-6);
        // the policy starts as its reference, and 2 warm-up updates at lr 1e-6 barely move it: −log σ(0) = log 2
        assertEquals(Math.log(2), dpo.get("loss").asDouble(), 1e-3);
    }

    @Test
    void aValueNotInTheListIsAUsageErrorWithExitCodeTwo() {
        int code = run("bench", "--only", "sample");
        assertEquals(2, code);
        String message = err.toString().trim();
        assertEquals("rlhf4j: invalid value for option '--only': 'sample' is not one of train, decode, gemm, ppo, dpo\n"
                + "see 'rlhf4j bench --help'", message);
    }

    @Test
    void invalidModelShapeIsAUserError() {
        int code = run("bench", "--dim", "30", "--heads", "4", "--only", "train");
        assertEquals(1, code);
        assertTrue(err.toString().contains("dim 30 is not divisible by heads 4"), err.toString());
    }
}
