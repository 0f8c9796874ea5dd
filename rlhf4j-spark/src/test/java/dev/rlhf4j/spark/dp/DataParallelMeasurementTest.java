package dev.rlhf4j.spark.dp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.model.tokenizer.BpeTrainer;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.spark.SparkSessions;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.train.TrainingConfig;
import dev.rlhf4j.train.lab.LabData;
import dev.rlhf4j.train.lab.LabDataset;
import dev.rlhf4j.train.lab.LabWorld;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Measurements for docs/scale-out.md (minutes; {@code -Plong}): the ring all-reduce against Spark's allGather on
 * 1M- and 10M-float arrays with two replicas in {@code local[2]}, and the step time of a small SFT run on one
 * process and on two replicas with each reducer. Prints its figures; asserts nothing about time.
 */
@Tag("long")
class DataParallelMeasurementTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void ringAgainstAllGather(@TempDir Path tmp) throws IOException {
        SparkSession spark = SparkSessions.open("local[2]", "all-reduce-measurement");
        try {
            StringBuilder report = new StringBuilder("\n=== all-reduce, 2 replicas, local[2] ===\n");
            for (int floats : new int[] {1_000_000, 10_000_000}) {
                for (DataParallelTraining.Reduction r : DataParallelTraining.Reduction.values()) {
                    report.append(AllReduceBenchmark.measure(spark, r, 2, floats, 2, 7)).append('\n');
                }
            }
            report.append(sftSteps(spark, tmp));
            System.out.println(report);
        } finally {
            spark.stop();
        }
    }

    /** A small SFT run (about 0.8M parameters): step time on one process, and on two replicas with each reducer. */
    private static String sftSteps(SparkSession spark, Path tmp) throws IOException {
        LabWorld w = new LabWorld(0);
        Tokenizer tok = new BpeTrainer(300, List.of(LabDataset.EOS, LabDataset.PAD),
                Map.of("bos_token", LabDataset.EOS, "eos_token", LabDataset.EOS,
                        "pad_token", LabDataset.PAD)).train(LabData.corpus(w, 150, 50));
        ModelConfig mc = ModelConfig.llama(tok.vocabSize(), 128, 4, 4, 4, 344, 128, 1e-5f, 10000.0,
                Rope.Style.ROTATE_HALF, true, false);
        Path model = tmp.resolve("model"), data = tmp.resolve("sft.jsonl");
        Transformer t = Transformer.create(mc, OutputHeads.LM, 1);
        HfCheckpoint.save(t, model, HfCheckpoint.SaveOptions.of(Safetensors.DType.F32).withTokenizer(tok));
        StringBuilder lines = new StringBuilder();
        for (String[] d : LabData.demonstrations(w, 200, 5)) {
            lines.append(JSON.writeValueAsString(Map.of("prompt", d[0], "completion", d[1]))).append('\n');
        }
        Files.writeString(data, lines);
        int steps = 8;
        PrintWriter quiet = new PrintWriter(new StringWriter());
        StringBuilder out = new StringBuilder(String.format("=== SFT, %,d parameters, 8 micro-batches of 4 a step,"
                + " %d steps (means over steps 2..%d) ===%n", t.trainableCount(), steps, steps));
        DataParallelSft alone = DataParallelSft.of(config(tmp.resolve("alone"), steps, 8), 1, model, null, data, null,
                0, Safetensors.DType.F32);
        alone.trainer(quiet).train(false);
        out.append(line("1 process", tmp.resolve("alone"), steps));
        for (DataParallelTraining.Reduction r : DataParallelTraining.Reduction.values()) {
            Path dir = tmp.resolve(r.name());
            DataParallelTraining.Outcome o = DataParallelTraining.run(spark,
                    DataParallelSft.of(config(dir, steps, 4), 2, model, null, data, null, 0, Safetensors.DType.F32),
                    DataParallelTraining.Options.defaults().with(r), quiet);
            assertEquals(steps, o.steps());
            out.append(line("2 replicas " + r, dir, steps)).append(String.format("    replica 0 sent %,d bytes in "
                    + "%d gradient sums%n", o.bytesSent(), o.gradientSums()));
        }
        return out.toString();
    }

    private static TrainingConfig config(Path out, int steps, int accumulation) {
        return TrainingConfig.builder(out).learningRate(1e-3).lrSchedulerType("constant").maxSteps(steps)
                .perDeviceTrainBatchSize(4).gradientAccumulationSteps(accumulation).saveSteps(0).loggingSteps(1000)
                .seed(5).maxLength(128).build();
    }

    private static String line(String what, Path dir, int steps) throws IOException {
        double step = 0, reduce = 0, loss = 0;
        List<String> records = Files.readAllLines(dir.resolve("metrics.jsonl"));
        for (int i = 1; i < steps; i++) {
            JsonNode r = JSON.readTree(records.get(i));
            step += r.get("step_s").asDouble();
            reduce += r.path("allreduce_s").asDouble();
        }
        loss = JSON.readTree(records.get(steps - 1)).get("loss").asDouble();
        return String.format("%-22s step %7.1f ms, all-reduce %6.1f ms, last loss %.6f%n", what,
                1e3 * step / (steps - 1), 1e3 * reduce / (steps - 1), loss);
    }
}
