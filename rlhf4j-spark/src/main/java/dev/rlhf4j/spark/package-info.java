/**
 * rlhf4j on Apache Spark: batch jobs over prompt and response files ({@link dev.rlhf4j.spark.GenerateJob},
 * {@link dev.rlhf4j.spark.RewardScoreJob}, {@link dev.rlhf4j.spark.BestOfNJob}, {@link dev.rlhf4j.spark.LabScoreJob}),
 * the session they run in ({@link dev.rlhf4j.spark.SparkSessions}), the per-JVM model cache of executors
 * ({@link dev.rlhf4j.spark.ModelCache}) and the {@code spark} command ({@link dev.rlhf4j.spark.SparkCommand},
 * {@link dev.rlhf4j.spark.SparkMain} for spark-submit). The only package of rlhf4j that sees Spark.
 */
package dev.rlhf4j.spark;
