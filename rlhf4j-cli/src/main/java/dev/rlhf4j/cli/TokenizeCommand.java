package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.model.tokenizer.Tokenizers;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/** {@code rlhf4j tokenize}: the token ids of a text. */
@Command(name = "tokenize", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Print the token ids of a text, with the tokenizer of a model or a tokenizer file.")
public final class TokenizeCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", paramLabel = "PATH", description = "Model whose tokenizer to use.")
    Path model;
    @Option(names = "--tokenizer", paramLabel = "PATH",
            description = "Tokenizer (HF directory, tokenizer.json or tokenizer.bin); overrides the model's.")
    Path tokenizer;
    @Option(names = "--text", required = true, paramLabel = "TEXT", description = "Text to encode.")
    String text;
    @Option(names = "--no-special", description = "Do not add special tokens (BOS and the like).")
    boolean noSpecial;
    @Option(names = "--json", description = "Print {\"ids\": [...], \"tokens\": [...]} on one line.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        Tokenizer tok;
        if (model == null && tokenizer == null) {
            throw Checks.usage(spec, "give --model PATH or --tokenizer PATH");
        }
        Checks.inputPath("--model", model);
        Checks.inputPath("--tokenizer", tokenizer);
        if (model == null) {
            tok = Tokenizers.load(tokenizer);
        } else {
            tok = Pretrained.open(model, tokenizer).requireTokenizer();
        }
        int[] ids = tok.encode(text, !noSpecial);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            ObjectMapper m = new ObjectMapper();
            ObjectNode o = m.createObjectNode();
            ArrayNode idArr = o.putArray("ids"), tokArr = o.putArray("tokens");
            for (int id : ids) {
                idArr.add(id);
                tokArr.add(tok.token(id));
            }
            out.println(m.writeValueAsString(o));
        } else {
            out.println(IntStream.of(ids).mapToObj(Integer::toString).collect(Collectors.joining(" ")));
        }
        out.flush();
        return 0;
    }
}
