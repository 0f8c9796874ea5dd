/**
 * Batch inference over prompt and response files, one batch at a time: what {@code rlhf4j generate}, {@code rlhf4j
 * reward score} and {@code rlhf4j lab score} run in one process, and what the Spark jobs of {@code rlhf4j-spark} run
 * per partition. Both call the same code on the same fixed-size batches of consecutive records, so a distributed
 * run writes exactly what the single-process command prints.
 */
package dev.rlhf4j.train.batch;
