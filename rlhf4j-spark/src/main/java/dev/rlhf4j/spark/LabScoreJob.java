package dev.rlhf4j.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.train.batch.LabScoring;
import dev.rlhf4j.train.lab.LabWorld;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code rlhf4j lab score} as a Spark job: each record with the lab world's gold reward, exactly what the
 * single-process command prints for the same world seed. The gold reward scores each record on its own, so the
 * records may be partitioned any way; they are spread over the partitions in order, and each task builds the world
 * once (it is deterministic from the seed).
 */
public final class LabScoreJob {
    private static final ObjectMapper JSON = new ObjectMapper();

    private LabScoreJob() {
    }

    /** The records of {@code data}, their form checked as {@code lab score} checks it. */
    public static List<JobIo.Line> read(SparkSession spark, Path data) throws IOException {
        return JobIo.read(spark, "--data", data, LabScoring::check);
    }

    /** The scored records, one JSON line each, in input order. */
    public static JavaRDD<String> run(SparkSession spark, long seed, List<JobIo.Line> records, int partitions) {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        int slices = Math.max(1, Math.min(records.size(), partitions > 0 ? partitions : jsc.defaultParallelism()));
        return jsc.parallelize(records, slices).mapPartitions(it -> {
            LabWorld w = new LabWorld(seed);
            List<String> out = new ArrayList<>();
            while (it.hasNext()) {
                JobIo.Line l = it.next();
                JsonNode n = l.node();
                LabScoring.annotate(w, n, l.where());
                out.add(JSON.writeValueAsString(n));
            }
            return out.iterator();
        });
    }
}
