package dev.rlhf4j.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.WeightDtype;
import dev.rlhf4j.model.generate.Generation;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.tensor.Parallel;
import dev.rlhf4j.train.batch.PromptGeneration;
import dev.rlhf4j.train.ppo.PromptReader;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code rlhf4j generate --json} as a Spark job: continuations of a prompt file, one JSON line per prompt, exactly
 * what the single-process command prints for the same model, options and seed.
 *
 * <p>Partitioning: the prompts are cut into the single-process command's batches, batch {@code b} holding prompts
 * {@code b * batchSize} to {@code (b + 1) * batchSize - 1} of the file; the batches (never single prompts) are spread
 * over the partitions in order, and a task generates its batches one by one with {@link PromptGeneration}, the code
 * {@code rlhf4j generate} runs. A prompt's tokens depend on its batch (every batch samples from one generator seeded
 * with the seed, and batched decoding may differ in the last float bits across batch shapes), so the output does not
 * depend on the number of partitions or executors, only on {@code --batch-size}, as in one process.
 *
 * <p>Each executor loads the model once ({@link ModelCache}) from the same path; tasks on one executor take turns.
 */
public final class GenerateJob {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * The job's settings, shipped to every task.
     *
     * @param model        the model's path (readable at the same path on every executor)
     * @param tokenizer    a tokenizer override, or null
     * @param weightsDtype fp32, bf16 or q8_0, as {@code generate --weights-dtype}
     * @param threads      threads per executor JVM; 0 leaves the pool as it is (all cores)
     */
    public record Settings(String model, String tokenizer, String weightsDtype, PromptGeneration.Settings generation,
                           int threads) implements Serializable {
        public Settings {
            PromptGeneration.weightDtype("--weights-dtype", weightsDtype);
        }
    }

    private GenerateJob() {
    }

    /** The prompt records of {@code prompts}, checked as {@code generate --prompts} checks them. */
    public static List<JobIo.Line> read(SparkSession spark, Path prompts) throws IOException {
        return JobIo.read(spark, "--prompts", prompts, PromptReader::record);
    }

    /**
     * The generations of {@code prompts}, one JSON line each, in input order, over at most {@code partitions}
     * partitions (0: Spark's default parallelism).
     */
    public static JavaRDD<String> run(SparkSession spark, Settings s, List<JobIo.Line> prompts, int partitions) {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        List<List<JobIo.Line>> batches = JobIo.batches(prompts, s.generation().batchSize());
        int slices = Math.max(1, Math.min(batches.size(), partitions > 0 ? partitions : jsc.defaultParallelism()));
        return jsc.parallelize(batches, slices).mapPartitions(it -> {
            ModelCache.Entry<Pretrained> model = model(s);
            List<String> out = new ArrayList<>();
            synchronized (model.lock()) {
                PromptGeneration generation = new PromptGeneration(model.value(), s.generation());
                while (it.hasNext()) {
                    List<JobIo.Line> batch = it.next();
                    List<PromptReader.Record> records = new ArrayList<>(batch.size());
                    List<int[]> encoded = new ArrayList<>(batch.size());
                    for (JobIo.Line l : batch) {
                        PromptReader.Record r = PromptReader.record(l.node(), l.where());
                        records.add(r);
                        encoded.add(generation.encode(r));
                    }
                    List<Generation> gens = generation.generate(encoded, null);
                    for (int i = 0; i < gens.size(); i++) {
                        out.add(JSON.writeValueAsString(PromptGeneration.json(records.get(i), gens.get(i))));
                    }
                }
            }
            return out.iterator();
        });
    }

    /** The model of this executor JVM, loaded on first use. */
    static ModelCache.Entry<Pretrained> model(Settings s) {
        Threads.apply(s.threads());
        WeightDtype dtype = PromptGeneration.weightDtype("--weights-dtype", s.weightsDtype());
        Path model = Path.of(s.model()), tokenizer = s.tokenizer() == null ? null : Path.of(s.tokenizer());
        return ModelCache.get(ModelCache.Key.of("generate " + dtype.label(), model, tokenizer), () -> {
            Pretrained pm = PromptGeneration.open(model, tokenizer, dtype);
            pm.requireTokenizer();
            return pm;
        });
    }

    /** The thread pool of an executor JVM, sized once by the first task that asks. */
    static final class Threads {
        private Threads() {
        }

        static void apply(int threads) {
            if (threads > 0) {
                Parallel.setGlobalThreads(threads);
            }
        }
    }
}
