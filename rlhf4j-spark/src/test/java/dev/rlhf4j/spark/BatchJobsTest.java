package dev.rlhf4j.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.generate.Generation;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.batch.PromptGeneration;
import dev.rlhf4j.train.batch.RewardScoring;
import dev.rlhf4j.train.ppo.PromptReader;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The jobs in {@code local[2]}: each gives exactly the records of the single-process code path, whatever the number of
 * partitions, and executors load a model once per JVM.
 */
class BatchJobsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    @TempDir
    static Path shared;
    private static TinyModels tiny;
    private static SparkSession spark;

    @BeforeAll
    static void start() throws Exception {
        tiny = TinyModels.create(shared);
        spark = SparkSessions.open("local[2]", "rlhf4j tests");
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    private static PromptGeneration.Settings sampling(int batchSize) {
        return new PromptGeneration.Settings(12, 1f, 0, 1f, 7, null, false, null, batchSize);
    }

    /** What rlhf4j generate --json prints: the same batches, in one process. */
    private static List<String> generateInOneProcess(PromptGeneration.Settings s) throws Exception {
        PromptGeneration g = new PromptGeneration(Pretrained.open(tiny.policy, null), s);
        List<PromptReader.Record> records = PromptReader.records(tiny.prompts);
        List<String> out = new ArrayList<>();
        for (int from = 0; from < records.size(); from += s.batchSize()) {
            List<PromptReader.Record> batch = records.subList(from, Math.min(records.size(), from + s.batchSize()));
            List<Generation> gens = g.generate(batch.stream().map(g::encode).toList(), null);
            for (int i = 0; i < gens.size(); i++) {
                out.add(JSON.writeValueAsString(PromptGeneration.json(batch.get(i), gens.get(i))));
            }
        }
        return out;
    }

    @Test
    void generateGivesTheSingleProcessRecordsWhateverThePartitioning() throws Exception {
        PromptGeneration.Settings s = sampling(4);
        List<String> expected = generateInOneProcess(s);
        GenerateJob.Settings job = new GenerateJob.Settings(tiny.policy.toString(), null, "fp32", s, 0);
        List<JobIo.Line> prompts = GenerateJob.read(spark, tiny.prompts);
        assertEquals(21, prompts.size());
        for (int partitions : new int[] {1, 2, 5}) {
            assertEquals(expected, GenerateJob.run(spark, job, prompts, partitions).collect(),
                    partitions + " partitions");
        }
    }

    @Test
    void executorsLoadTheModelOncePerJvm() throws Exception {
        ModelCache.clear();
        int before = ModelCache.loads();
        GenerateJob.Settings job = new GenerateJob.Settings(tiny.policy.toString(), null, "fp32", sampling(2), 0);
        List<JobIo.Line> prompts = GenerateJob.read(spark, tiny.prompts);
        GenerateJob.run(spark, job, prompts, 6).collect();
        GenerateJob.run(spark, job, prompts, 6).collect();
        // twelve tasks on two executor threads of this JVM: one load
        assertEquals(1, ModelCache.loads() - before);
    }

    @Test
    void aModelRewrittenInPlaceIsLoadedAgain(@TempDir Path tmp) throws Exception {
        Path model = tmp.resolve("model.bin");
        Files.writeString(model, "v1");
        ModelCache.Key first = ModelCache.Key.of("test", model, null);
        assertEquals("v1", ModelCache.get(first, () -> Files.readString(model)).value());
        assertEquals("v1", ModelCache.get(ModelCache.Key.of("test", model, null), () -> "not loaded").value(),
                "the same files: the cached value");
        Files.writeString(model, "v2!");
        ModelCache.Key second = ModelCache.Key.of("test", model, null);
        assertTrue(!first.equals(second), "a new fingerprint");
        assertEquals("v2!", ModelCache.get(second, () -> Files.readString(model)).value());
    }

    @Test
    void rewardScoreGivesTheSingleProcessRecordsWhateverThePartitioning() throws Exception {
        RewardScoring scoring = new RewardScoring(Pretrained.open(tiny.rewardModel, null), 96);
        List<ObjectNode> records = RewardScoring.read(tiny.responses);
        List<String> expected = new ArrayList<>();
        for (int from = 0; from < records.size(); from += 5) {
            List<ObjectNode> batch = records.subList(from, Math.min(records.size(), from + 5));
            scoring.scoreBatch(batch);
            for (ObjectNode o : batch) {
                expected.add(JSON.writeValueAsString(o));
            }
        }
        RewardScoreJob.Settings job = new RewardScoreJob.Settings(tiny.rewardModel.toString(), null, 96, 5, 0);
        List<JobIo.Line> lines = RewardScoreJob.read(spark, tiny.responses);
        for (int partitions : new int[] {1, 3}) {
            assertEquals(expected, RewardScoreJob.run(spark, job, lines, partitions).collect(),
                    partitions + " partitions");
        }
    }

    @Test
    void parquetOutputHoldsTheRecordsAndReadsBackAsInput(@TempDir Path tmp) throws Exception {
        RewardScoreJob.Settings job = new RewardScoreJob.Settings(tiny.rewardModel.toString(), null, 96, 5, 0);
        Path jsonl = tmp.resolve("scores.jsonl"), parquet = tmp.resolve("scores.parquet");
        List<JobIo.Line> lines = RewardScoreJob.read(spark, tiny.responses);
        assertEquals(19, JobIo.write(spark, RewardScoreJob.run(spark, job, lines, 2), jsonl));
        assertEquals(19, Files.readAllLines(jsonl).size());
        JobIo.write(spark, RewardScoreJob.run(spark, job, lines, 2), parquet);
        List<JobIo.Line> back = JobIo.read(spark, "--data", parquet, RewardScoring::record);
        assertEquals(19, back.size());
        for (int i = 0; i < back.size(); i++) {
            ObjectNode want = (ObjectNode) JSON.readTree(Files.readAllLines(jsonl).get(i));
            ObjectNode got = (ObjectNode) JSON.readTree(back.get(i).json());
            assertEquals(want.get("prompt"), got.get("prompt"));
            assertEquals(want.get("reward").asDouble(), got.get("reward").asDouble(), 0);
        }
    }

    @Test
    void aTasksUserErrorFailsTheJobWithThatError(@TempDir Path tmp) throws Exception {
        // a prompt that leaves no room for 90 new tokens in 96 positions: refused by the task that encodes it
        Path prompts = tmp.resolve("long.jsonl");
        Files.writeString(prompts, "{\"prompt\": \"hi\"}\n{\"prompt\": \"" + "the cat sat on the mat. ".repeat(8)
                + "\"}\n");
        PromptGeneration.Settings s = new PromptGeneration.Settings(90, 1f, 0, 1f, 0, null, false, null, 1);
        GenerateJob.Settings job = new GenerateJob.Settings(tiny.policy.toString(), null, "fp32", s, 0);
        List<JobIo.Line> lines = GenerateJob.read(spark, prompts);
        UserError e = assertThrows(UserError.class, () -> JobIo.write(spark, GenerateJob.run(spark, job, lines, 2),
                tmp.resolve("out.jsonl")));
        assertTrue(e.getMessage().startsWith(prompts + ":2: the prompt is "), e.getMessage());
        assertTrue(!Files.exists(tmp.resolve("out.jsonl")), "nothing written");
    }

    @Test
    void aMalformedLineFailsOnTheDriverNamingFileAndLine(@TempDir Path tmp) throws Exception {
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"prompt\": \"a\"}\n{\"prompt\": 3}\n");
        UserError e = assertThrows(UserError.class, () -> GenerateJob.read(spark, bad));
        assertTrue(e.getMessage().startsWith(bad + ":2: "), e.getMessage());
    }

    @Test
    void theCommandRefusesABadMasterInOneLine(@TempDir Path tmp) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = SparkMain.run(new PrintWriter(out, true), new PrintWriter(err, true), "lab-score", "--master",
                "local[two]", "--data", tiny.responses.toString(), "--out", tmp.resolve("o.jsonl").toString());
        assertEquals(1, code);
        assertEquals("rlhf4j: --master local[two]: not a Spark master URL (expected local, local[N], local[*], "
                + "spark://HOST:PORT, yarn or k8s://HOST:PORT)" + System.lineSeparator(), err.toString());
    }
}
