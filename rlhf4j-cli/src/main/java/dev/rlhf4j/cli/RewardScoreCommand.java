package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.train.batch.RewardScoring;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
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
        RewardScoring scoring = new RewardScoring(pm, ModelOptions.maxLength(maxLength, pm));
        List<ObjectNode> records = RewardScoring.read(data);
        PrintWriter out = spec.commandLine().getOut();
        // the fixed batches of consecutive records that rlhf4j spark reward-score runs too (see RewardScoring)
        for (int from = 0; from < records.size(); from += batchSize) {
            List<ObjectNode> batch = records.subList(from, Math.min(records.size(), from + batchSize));
            scoring.scoreBatch(batch);
            for (ObjectNode o : batch) {
                out.println(JSON.writeValueAsString(o));
            }
        }
        out.flush();
        return 0;
    }
}
