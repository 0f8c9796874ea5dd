package dev.rlhf4j.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.train.batch.RewardScoring;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code rlhf4j reward score} as a Spark job: each prompt/response record with its {@code "reward"} (and
 * {@code "reward_normalized"}), exactly what the single-process command prints for the same model and options.
 *
 * <p>Partitioning: as {@link GenerateJob}, the records are cut into the single-process command's batches of
 * {@code --batch-size} consecutive records (a batch is padded as one), and whole batches are spread over the
 * partitions in order; a task scores its batches with {@link RewardScoring}. Each executor loads the reward model
 * once ({@link ModelCache}).
 */
public final class RewardScoreJob {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The job's settings, shipped to every task.
     *
     * @param maxLength the longest sequence, -1 for the default (1024, or the model's maximum if smaller)
     * @param threads   threads per executor JVM; 0 leaves the pool as it is
     */
    public record Settings(String model, String tokenizer, int maxLength, int batchSize, int threads)
            implements Serializable {
        public Settings {
            if (batchSize <= 0) {
                throw new dev.rlhf4j.tensor.UserError("--batch-size must be positive, got " + batchSize);
            }
            if (maxLength != -1 && maxLength <= 0) {
                throw new dev.rlhf4j.tensor.UserError("--max-length must be positive (or -1 for the default), got "
                        + maxLength);
            }
        }
    }

    private RewardScoreJob() {
    }

    /** The records of {@code data}, checked as {@code reward score --data} checks them. */
    public static List<JobIo.Line> read(SparkSession spark, Path data) throws IOException {
        return JobIo.read(spark, "--data", data, RewardScoring::record);
    }

    /** The scored records, one JSON line each, in input order. */
    public static JavaRDD<String> run(SparkSession spark, Settings s, List<JobIo.Line> records, int partitions) {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        List<List<JobIo.Line>> batches = JobIo.batches(records, s.batchSize());
        int slices = Math.max(1, Math.min(batches.size(), partitions > 0 ? partitions : jsc.defaultParallelism()));
        return jsc.parallelize(batches, slices).mapPartitions(it -> {
            ModelCache.Entry<RewardScoring> scoring = scoring(s);
            List<String> out = new ArrayList<>();
            synchronized (scoring.lock()) {
                while (it.hasNext()) {
                    List<ObjectNode> batch = new ArrayList<>();
                    for (JobIo.Line l : it.next()) {
                        batch.add(RewardScoring.record(l.node(), l.where()));
                    }
                    scoring.value().scoreBatch(batch);
                    for (ObjectNode o : batch) {
                        out.add(JSON.writeValueAsString(o));
                    }
                }
            }
            return out.iterator();
        });
    }

    /** The reward model of this executor JVM, loaded on first use. */
    static ModelCache.Entry<RewardScoring> scoring(Settings s) {
        GenerateJob.Threads.apply(s.threads());
        Path model = Path.of(s.model()), tokenizer = s.tokenizer() == null ? null : Path.of(s.tokenizer());
        return ModelCache.get(ModelCache.Key.of("reward max_length=" + s.maxLength(), model, tokenizer), () -> {
            Pretrained pm = Pretrained.open(model, tokenizer);
            return new RewardScoring(pm, RewardScoring.maxLength(s.maxLength(), pm));
        });
    }
}
