package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.LmObjective;
import dev.rlhf4j.train.data.DatasetReader;
import dev.rlhf4j.train.data.TokenizedDataset;
import dev.rlhf4j.train.data.Tokenization;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code rlhf4j eval}: a model's loss and perplexity on a dataset. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Print a model's mean next-token loss and perplexity on a dataset (the formats of pretrain and "
                + "sft; for prompt/completion data, on the completions unless --no-completion-only-loss).")
public final class EvalCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin
    ModelOptions source;
    @Option(names = "--data", required = true, paramLabel = "FILE", description = "Dataset (JSONL or plain text).")
    Path data;
    @Option(names = "--max-length", defaultValue = "-1",
            description = "Longest sequence; longer ones are truncated (default: 1024, or the model's maximum if "
                    + "smaller).")
    int maxLength;
    @Option(names = "--batch-size", defaultValue = "8", description = "Sequences per batch (default: "
            + "${DEFAULT-VALUE}).")
    int batchSize;
    @Option(names = "--completion-only-loss", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "For prompt/completion data, the loss of the completions only (default: ${DEFAULT-VALUE}).")
    boolean completionOnly;
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
        Pretrained pm = source.open();
        Tokenizer tok = pm.requireTokenizer();
        if (maxLength == -1) {
            maxLength = Math.min(1024, pm.model().config().maxSeqLen());
        } else if (maxLength > pm.model().config().maxSeqLen()) {
            throw new UserError("--max-length " + maxLength + " exceeds the model's maximum sequence "
                    + "length of " + pm.model().config().maxSeqLen());
        }
        TokenizedDataset set = Tokenization.tokenize(DatasetReader.read(data), tok, pm.chatTemplate(), maxLength,
                completionOnly);
        if (set.examples().isEmpty()) {
            throw new UserError(data + ": no example is left after tokenization");
        }
        int padId = tok.paddingId();
        Map<String, Double> r = LmObjective.evaluate(pm.model(), set.examples(), batchSize, maxLength, padId);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            ObjectMapper m = new ObjectMapper();
            ObjectNode o = m.createObjectNode();
            o.put("loss", r.get("eval_loss"));
            o.put("perplexity", r.get("eval_perplexity"));
            o.put("tokens", r.get("eval_tokens").longValue());
            o.put("examples", set.examples().size());
            o.put("truncated", set.truncated());
            out.println(m.writeValueAsString(o));
        } else {
            out.printf("loss %.4f  perplexity %.3f  (%d tokens in %d examples, %d truncated)%n", r.get("eval_loss"),
                    r.get("eval_perplexity"), r.get("eval_tokens").longValue(), set.examples().size(), set.truncated());
        }
        out.flush();
        return 0;
    }
}
