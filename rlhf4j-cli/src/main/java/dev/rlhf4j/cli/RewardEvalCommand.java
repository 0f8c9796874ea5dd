package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.data.PairTokenization;
import dev.rlhf4j.train.data.PreferenceReader;
import dev.rlhf4j.train.data.TokenizedPairs;
import dev.rlhf4j.train.reward.RewardObjective;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code rlhf4j reward eval}: a reward model's accuracy on preference pairs. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Print a reward model's accuracy (share of pairs where the chosen response scores higher), "
                + "mean margin, loss and reward mean and std on preference data.")
public final class RewardEvalCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin
    ModelOptions source;
    @Option(names = "--data", required = true, paramLabel = "FILE", description = "Preference data.")
    Path data;
    @Option(names = "--max-length", defaultValue = "-1",
            description = "Longest sequence (default: 1024, or the model's maximum if smaller).")
    int maxLength;
    @Option(names = "--batch-size", defaultValue = "8", description = "Pairs per batch (default: ${DEFAULT-VALUE}).")
    int batchSize;
    @Option(names = "--json", description = "Print one JSON line.")
    boolean json;
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
        TokenizedPairs pairs = PairTokenization.tokenize(PreferenceReader.read(data), tok, pm.chatTemplate(), max);
        if (pairs.pairs().isEmpty()) {
            throw new UserError(data + ": no pair is left after tokenization");
        }
        Map<String, Double> r = RewardObjective.evaluate(pm.model(), pairs.pairs(), batchSize, max,
                tok.paddingId());
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            ObjectMapper m = new ObjectMapper();
            ObjectNode o = m.createObjectNode();
            r.forEach((k, v) -> o.put(k.substring("eval_".length()), v));
            o.put("pairs", pairs.pairs().size());
            o.put("truncated", pairs.truncated());
            o.put("dropped", pairs.dropped());
            o.put("identical", pairs.identical());
            out.println(m.writeValueAsString(o));
        } else {
            out.printf("accuracy %.4f  margin %.4f  loss %.4f  reward mean %.4f std %.4f  (%d pairs; %s)%n",
                    r.get("eval_accuracy"), r.get("eval_margin"), r.get("eval_loss"), r.get("eval_reward_mean"),
                    r.get("eval_reward_std"), pairs.pairs().size(), pairs.describe(max));
        }
        out.flush();
        return 0;
    }
}
