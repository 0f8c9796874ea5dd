package dev.rlhf4j.train.batch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.data.JsonlReader;
import dev.rlhf4j.train.data.PairTokenization;
import dev.rlhf4j.train.reward.RewardObjective;
import dev.rlhf4j.train.reward.RewardStats;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Reward-model scores of {@code {"prompt", "response"}} (or {@code "completion"}) records, as {@code rlhf4j reward
 * score} writes them: each record gets a {@code "reward"} field (and {@code "reward_normalized"} when the model stores
 * its reward statistics). Records are scored in fixed-size batches of consecutive records ({@link #scoreBatch}): the
 * batch is the unit of padding, so batch {@code b} always holds records {@code b * batchSize} to
 * {@code (b + 1) * batchSize - 1}, whoever scores it.
 */
public final class RewardScoring {
    private final Pretrained model;
    private final Tokenizer tokenizer;
    private final int maxLength;
    private final Optional<RewardStats> stats;

    /**
     * Scoring with the reward model {@code model} (with a scalar head and a tokenizer) at sequences of at most
     * {@code maxLength} tokens.
     */
    public RewardScoring(Pretrained model, int maxLength) throws IOException {
        if (!model.model().heads().scalar()) {
            throw new UserError(model.loaded().source() + ": not a reward model (it has no score head); train one "
                    + "with `rlhf4j reward train`");
        }
        this.model = model;
        this.tokenizer = model.requireTokenizer();
        this.maxLength = maxLength;
        this.stats = model.loaded().format().equals("hf") ? RewardStats.read(model.loaded().source())
                : Optional.empty();
    }

    /**
     * The {@code --max-length} of a scoring command for {@code model}: -1 means 1024, or the model's maximum if
     * smaller; anything else must fit the model.
     */
    public static int maxLength(int requested, Pretrained model) {
        int modelMax = model.model().config().maxSeqLen();
        if (requested == -1) {
            return Math.min(1024, modelMax);
        }
        if (requested <= 0 || requested > modelMax) {
            throw new UserError("--max-length must be in [1, " + modelMax + "], got " + requested);
        }
        return requested;
    }

    /** One record checked: a JSON object with string fields "prompt" and "response" (or "completion"). */
    public static ObjectNode record(JsonNode n, String where) {
        String field = n.has("response") ? "response" : "completion";
        if (!n.isObject() || !n.path("prompt").isTextual() || !n.path(field).isTextual()) {
            throw new UserError(where + ": expected string fields \"prompt\" and \"response\" (or \"completion\")");
        }
        return (ObjectNode) n;
    }

    /** The records of {@code data}, each checked by {@link #record}; at least one. */
    public static List<ObjectNode> read(Path data) throws IOException {
        List<ObjectNode> records = new ArrayList<>();
        JsonlReader.read(data, (n, where) -> records.add(record(n, where)));
        if (records.isEmpty()) {
            throw new UserError(data + ": no records");
        }
        return records;
    }

    /** The tokens of a record: prompt and response, cut to the maximum length. */
    public int[] encode(ObjectNode n) {
        String field = n.has("response") ? "response" : "completion";
        return PairTokenization.encodeText(tokenizer, n.get("prompt").asText(), n.get(field).asText(), maxLength);
    }

    /**
     * Scores one batch of records (one of the fixed batches; see the class comment) and adds the fields to them in
     * place.
     */
    public void scoreBatch(List<ObjectNode> batch) {
        List<int[]> sequences = new ArrayList<>(batch.size());
        for (ObjectNode n : batch) {
            sequences.add(encode(n));
        }
        double[] rewards = RewardObjective.score(model.model(), sequences, batch.size(), maxLength,
                tokenizer.paddingId());
        for (int i = 0; i < batch.size(); i++) {
            ObjectNode o = batch.get(i);
            o.put("reward", rewards[i]);
            if (stats.isPresent()) {
                o.put("reward_normalized", stats.get().normalize(rewards[i]));
            }
        }
    }
}
