package dev.rlhf4j.spark.dp;

import org.apache.spark.BarrierTaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.rdd.RDD;
import scala.collection.Iterator;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs one function in each of the N tasks of a Spark barrier stage ({@code rdd.barrier().mapPartitions}: all N
 * start together or not at all, and when one fails Spark kills the others and reruns the stage) and collects what
 * they return.
 *
 * <p>Spark reruns a failed barrier stage only when it is a shuffle-map stage (it aborts a failed barrier result
 * stage, whose output may already be committed), so the results pass through a one-partition shuffle before they
 * are collected. ({@code RDDBarrier.mapPartitionsWithEvaluator} would spare the Scala function, but its stage is not
 * a barrier stage in Spark 4.2: its tasks get no {@code BarrierTaskContext}.)
 */
public final class BarrierStage {

    /** What each task runs; returns null for nothing. */
    @FunctionalInterface
    public interface Task<T> extends Serializable {
        T run(BarrierTaskContext context) throws Exception;
    }

    private BarrierStage() {
    }

    /** Runs {@code task} in each of {@code n} barrier tasks and returns their non-null results (in no order). */
    public static <T> List<T> run(JavaSparkContext sc, int n, Class<T> type, Task<T> task) {
        List<Integer> parts = new ArrayList<>(n);
        for (int r = 0; r < n; r++) {
            parts.add(r);
        }
        ClassTag<T> tag = ClassTag$.MODULE$.apply(type);
        RDD<T> stage = sc.parallelize(parts, n).rdd().barrier().mapPartitions(new Each<>(task), false, tag);
        return new JavaRDD<>(stage, tag).repartition(1).collect();
    }

    /** The task as the Scala function {@code mapPartitions} takes. */
    private static final class Each<T> extends AbstractFunction1<Iterator<Integer>, Iterator<T>>
            implements Serializable {
        private final Task<T> task;

        Each(Task<T> task) {
            this.task = task;
        }

        @Override
        public Iterator<T> apply(Iterator<Integer> partition) {
            T out;
            try {
                out = task.run(BarrierTaskContext.get());
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Exception e) {
                throw new IllegalStateException(e.getMessage(), e);
            }
            return CollectionConverters.asScala(out == null ? List.<T>of().iterator() : List.of(out).iterator());
        }
    }
}
