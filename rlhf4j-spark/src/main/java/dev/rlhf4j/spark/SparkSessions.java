package dev.rlhf4j.spark;

import dev.rlhf4j.tensor.UserError;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.SparkSession;

import java.util.List;
import java.util.regex.Pattern;

/**
 * The Spark session of a job. With {@code --master} (the CLI, tests) the session is built here: the UI off, and for
 * a {@code local} master the driver bound to 127.0.0.1. Under spark-submit the master and settings come from
 * spark-submit ({@code spark.master} in the configuration) and are left as they are, but for the UI, which stays off
 * unless {@code spark.ui.enabled} is set.
 */
public final class SparkSessions {
    /** The master URLs Spark knows: local[N], local[*], local[N,F], spark://, yarn, k8s://, and their variants. */
    private static final Pattern MASTER = Pattern.compile(
            "local(\\[(\\*|[1-9][0-9]*)(,[1-9][0-9]*)?\\])?|local-cluster\\[[1-9][0-9]*,[1-9][0-9]*,[1-9][0-9]*\\]"
                    + "|spark://\\S+|yarn|k8s://\\S+");

    private SparkSessions() {
    }

    /**
     * Refuses a master URL Spark would not accept, before anything starts; null (spark-submit's master) passes when
     * the JVM was started by spark-submit.
     */
    public static void checkMaster(String master) {
        if (master == null) {
            if (new SparkConf().getOption("spark.master").isEmpty()) {
                throw new UserError("--master is required outside spark-submit (e.g. --master local[2] or --master "
                        + "spark://HOST:7077)");
            }
            return;
        }
        if (!MASTER.matcher(master).matches()) {
            throw new UserError("--master " + master + ": not a Spark master URL (expected local, local[N], "
                    + "local[*], spark://HOST:PORT, yarn or k8s://HOST:PORT)");
        }
    }

    /** A session for {@code app}, on {@code master} (null: the one spark-submit set). */
    public static SparkSession open(String master, String app) {
        checkMaster(master);
        quiet(master != null && master.startsWith("local"));
        SparkConf conf = new SparkConf().setAppName(app);
        if (master != null) {
            conf.setMaster(master);
            if (master.startsWith("local")) {
                conf.setIfMissing("spark.driver.host", "127.0.0.1");
                conf.setIfMissing("spark.driver.bindAddress", "127.0.0.1");
            }
            if (master.startsWith("local-cluster[")) {
                localCluster(conf, master);
            }
        }
        conf.setIfMissing("spark.ui.enabled", "false");
        // what rlhf4j broadcasts is model weights, which LZ4 does not shrink: compressing them costs time on the
        // driver and on every executor for nothing
        conf.setIfMissing("spark.broadcast.compress", "false");
        // the jobs write their own output files; Spark's _SUCCESS markers and summary files are not wanted in them
        conf.setIfMissing("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false");
        return SparkSession.builder().config(conf).getOrCreate();
    }

    /**
     * {@code local-cluster[N,C,MB]}: N executor JVMs on this machine, started by Spark's own workers (which need
     * {@code SPARK_HOME} with a {@code jars} directory, and {@code SPARK_SCALA_VERSION=2.13}, in the environment; see
     * tools/bench/spark-scaling.sh). The executors get this JVM's class path and Java, the options Spark and rlhf4j's
     * kernels need, all of their worker's MB of memory, and rlhf4j's thread pool sized to their C cores.
     */
    private static void localCluster(SparkConf conf, String master) {
        String[] nCoresMb = master.substring("local-cluster[".length(), master.length() - 1).split(",");
        conf.setIfMissing("spark.executor.extraClassPath", System.getProperty("java.class.path"));
        // and this JVM's Java, whatever JAVA_HOME says
        conf.setIfMissing("spark.executorEnv.JAVA_HOME", System.getProperty("java.home"));
        // an executor may use all of its worker's memory (Spark's default is 1 GiB whatever the worker has)
        conf.setIfMissing("spark.executor.memory", nCoresMb[2].trim() + "m");
        // rlhf4j's own settings (the vector width, say) carry over, but for the pool, sized to the executor's cores
        StringBuilder rlhf4j = new StringBuilder();
        System.getProperties().stringPropertyNames().stream().sorted()
                .filter(k -> k.startsWith("rlhf4j.") && !k.equals("rlhf4j.threads") && !k.startsWith("rlhf4j.stderr"))
                .forEach(k -> rlhf4j.append(" -D").append(k).append('=').append(System.getProperty(k)));
        conf.setIfMissing("spark.executor.extraJavaOptions", String.join(" ", JVM_OPTIONS) + rlhf4j
                + " -Drlhf4j.threads=" + nCoresMb[1].trim());
    }

    /** What an executor JVM needs: the Vector API, native access for BLAS, and what Spark opens on Java 17+. */
    private static final List<String> JVM_OPTIONS = List.of("--add-modules=jdk.incubator.vector",
            "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "--sun-misc-unsafe-memory-access=allow",
            "-Dio.netty.tryReflectionSetAccessible=true", "-Djdk.reflect.useDirectMethodHandle=false",
            "--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
            "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED", "--add-opens=java.base/java.io=ALL-UNNAMED",
            "--add-opens=java.base/java.net=ALL-UNNAMED", "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/java.util=ALL-UNNAMED", "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
            "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.cs=ALL-UNNAMED", "--add-opens=java.base/sun.util.calendar=ALL-UNNAMED");

    /**
     * Where slf4j-simple is the logger (the rlhf4j command, tests; WARN by default) a few more Spark loggers are
     * quieted, unless set otherwise: a task that fails on a user's error (a prompt too long for the model) fails the
     * job with that error, which the command prints in one line, and Spark's scheduler, executor and block manager
     * would log it again with its stack trace; in local mode, the warnings about the host's address and Hadoop's
     * native library say nothing to act on. Under spark-submit Spark's own Log4j configuration rules.
     */
    private static void quiet(boolean local) {
        level("org.apache.spark.scheduler.TaskSetManager", "off");
        level("org.apache.spark.executor.Executor", "off");
        level("org.apache.spark.storage.BlockManager", "error");
        if (local) {
            level("org.apache.spark.util.Utils", "error");
            level("org.apache.hadoop.util.NativeCodeLoader", "error");
        }
    }

    private static void level(String logger, String level) {
        String key = "org.slf4j.simpleLogger.log." + logger;
        if (System.getProperty(key) == null) {
            System.setProperty(key, level);
        }
    }
}
