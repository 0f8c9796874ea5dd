package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.data.JsonlReader;
import dev.rlhf4j.train.data.PairTokenization;
import dev.rlhf4j.train.reward.RewardObjective;
import dev.rlhf4j.train.reward.RewardStats;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;

/** {@code rlhf4j reward score}: rewards of prompt/response records. */
@Command(name = "score", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Write each {\"prompt\", \"response\"} (or \"completion\") record of a JSONL file to standard "
                + "output with a \"reward\" field added (and \"reward_normalized\" when the model stores its reward "
                + "statistics).")
public final class RewardScoreCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin
    ModelOptions source;
    @Option(names = "--data", required = true, paramLabel = "FILE.jsonl", description = "Prompt/response records.")
    Path data;
    @Option(names = "--max-length", defaultValue = "-1",
            description = "Longest sequence (default: 1024, or the model's maximum if smaller).")
    int maxLength;
    @Option(names = "--batch-size", defaultValue = "16", description = "Sequences per batch (default: "
            + "${DEFAULT-VALUE}).")
    int batchSize;
    @CommandLine.Mixin
    ThreadsOption threads = new ThreadsOption();

    @Override
    public Integer call() throws IOException {
        // every option is checked before the model is read
        threads.apply();
        Checks.positive("--batch-size", batchSize);
        Checks.maxLength("--max-length", maxLength);
        source.checkPaths();
        Checks.inputFile("--data", data);
        Pretrained pm = source.openRewardModel();
        Tokenizer tok = pm.requireTokenizer();
        int max = ModelOptions.maxLength(maxLength, pm);
        List<ObjectNode> records = new ArrayList<>();
        List<int[]> sequences = new ArrayList<>();
        JsonlReader.read(data, (n, where) -> {
            String field = n.has("response") ? "response" : "completion";
            if (!n.isObject() || !n.path("prompt").isTextual() || !n.path(field).isTextual()) {
                throw new UserError(where
                        + ": expected string fields \"prompt\" and \"response\" (or \"completion\")");
            }
            records.add((ObjectNode) n);
            sequences.add(PairTokenization.encodeText(tok, n.get("prompt").asText(), n.get(field).asText(), max));
        });
        if (records.isEmpty()) {
            throw new UserError(data + ": no records");
        }
        double[] rewards = RewardObjective.score(pm.model(), sequences, batchSize, max, tok.paddingId());
        Optional<RewardStats> stats = pm.loaded().format().equals("hf")
                ? RewardStats.read(pm.loaded().source()) : Optional.empty();
        PrintWriter out = spec.commandLine().getOut();
        for (int i = 0; i < records.size(); i++) {
            ObjectNode o = records.get(i);
            o.put("reward", rewards[i]);
            if (stats.isPresent()) {
                o.put("reward_normalized", stats.get().normalize(rewards[i]));
            }
            out.println(JSON.writeValueAsString(o));
        }
        out.flush();
        return 0;
    }
}
