package dev.rlhf4j.train.reward;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The mean and standard deviation of a reward model's scores on its training responses, kept in its config.json
 * ({@code rlhf4j_reward_mean}, {@code rlhf4j_reward_std}; HF ignores unknown keys) so that PPO can normalise scores
 * to zero mean and unit variance, as InstructGPT normalised its reward model.
 */
public record RewardStats(double mean, double std) {

    public static final String MEAN = "rlhf4j_reward_mean";
    public static final String STD = "rlhf4j_reward_std";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Of a set of scores. */
    public static RewardStats of(double[] scores) {
        double sum = 0, sq = 0;
        for (double s : scores) {
            sum += s;
            sq += s * s;
        }
        double mean = sum / scores.length;
        return new RewardStats(mean, Math.sqrt(Math.max(0, sq / scores.length - mean * mean)));
    }

    /** Adds the statistics to {@code dir/config.json}. */
    public void writeTo(Path dir) throws IOException {
        Path file = dir.resolve("config.json");
        ObjectNode config = (ObjectNode) JSON.readTree(file.toFile());
        config.put(MEAN, mean);
        config.put(STD, std);
        Files.writeString(file, JSON.writeValueAsString(config));
    }

    /** The statistics stored with a reward model directory, if any. */
    public static Optional<RewardStats> read(Path dir) throws IOException {
        Path file = dir.resolve("config.json");
        if (!Files.isRegularFile(file)) {
            return Optional.empty();
        }
        JsonNode config = JSON.readTree(file.toFile());
        if (!config.has(MEAN) || !config.has(STD)) {
            return Optional.empty();
        }
        return Optional.of(new RewardStats(config.get(MEAN).asDouble(), config.get(STD).asDouble()));
    }

    /** {@code (score − mean) / std}, or the score minus the mean when the spread is zero. */
    public double normalize(double score) {
        return std > 0 ? (score - mean) / std : score - mean;
    }
}
