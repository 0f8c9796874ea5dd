package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.io.Pretrained;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.concurrent.Callable;

/** {@code rlhf4j info}: what a checkpoint holds. */
@Command(name = "info", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Print a model's architecture, parameter count and tokenizer.")
public final class InfoCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin
    ModelOptions source;
    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        source.checkPaths();
        Pretrained pm = source.open();
        ModelConfig c = pm.model().config();
        ObjectMapper m = new ObjectMapper();
        ObjectNode o = m.createObjectNode();
        o.put("path", pm.loaded().source().toString());
        o.put("format", pm.loaded().format());
        o.put("model_type", pm.loaded().modelType());
        o.put("family", c.family().name().toLowerCase());
        o.put("parameters", pm.model().parameterCount());
        o.put("vocab_size", c.vocabSize());
        o.put("dim", c.dim());
        o.put("layers", c.layers());
        o.put("heads", c.heads());
        o.put("kv_heads", c.kvHeads());
        o.put("head_dim", c.headDim());
        o.put("hidden_dim", c.hiddenDim());
        o.put("max_seq_len", c.maxSeqLen());
        o.put("norm_eps", c.normEps());
        if (!c.isGpt2()) {
            o.put("rope_theta", c.ropeTheta());
            o.put("rope_style", c.ropeStyle().name().toLowerCase());
            o.put("rope_scaling", c.ropeScaling() == null ? null : c.ropeScaling().type());
            o.put("qkv_bias", c.qkvBias());
        }
        o.put("tied_embeddings", c.tiedEmbeddings());
        o.put("heads_on_top", pm.model().heads().name().toLowerCase());
        o.put("tokenizer", pm.tokenizer() == null ? "none found" : pm.tokenizer().describe());
        o.put("eos_ids", Arrays.toString(pm.eosIds()));
        o.put("chat_template", pm.loaded().chatTemplate().isPresent() ? "from the checkpoint" : "ChatML (default)");
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            out.println(m.writeValueAsString(o));
        } else {
            o.fields().forEachRemaining(e -> out.printf("%-16s %s%n", e.getKey(), e.getValue().isTextual()
                    ? e.getValue().asText() : e.getValue().toString()));
        }
        out.flush();
        return 0;
    }
}
