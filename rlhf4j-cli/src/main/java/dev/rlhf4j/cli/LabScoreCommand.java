package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.data.JsonlReader;
import dev.rlhf4j.train.lab.LabWorld;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code rlhf4j lab score}: the gold reward of responses. */
@Command(name = "score", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Write each {\"prompt\", \"response\"|\"completion\"} record to standard output with its gold "
                + "reward added (\"gold\" and \"gold_parts\"); {\"prompt\",\"chosen\",\"rejected\"} records get "
                + "\"gold_chosen\" and \"gold_rejected\". The means go to standard error.")
public final class LabScoreCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--data", required = true, paramLabel = "FILE.jsonl", description = "Records to score.")
    Path data;
    @Option(names = "--seed", defaultValue = "0", description = "World seed the data came from (default: "
            + "${DEFAULT-VALUE}).")
    long seed;

    @Override
    public Integer call() throws IOException {
        Checks.inputFile("--data", data);
        LabWorld w = new LabWorld(seed);
        PrintWriter out = spec.commandLine().getOut();
        Map<String, Double> sums = new LinkedHashMap<>();
        int[] count = {0};
        JsonlReader.read(data, (node, where) -> {
            if (!(node instanceof ObjectNode n)) {
                throw new UserError(where + ": not a JSON object");
            }
            String prompt = text(n, "prompt", where);
            try {
                if (n.has("chosen")) {
                    n.put("gold_chosen", w.score(prompt, text(n, "chosen", where)).total());
                    n.put("gold_rejected", w.score(prompt, text(n, "rejected", where)).total());
                } else {
                    String field = n.has("response") ? "response" : "completion";
                    LabWorld.Score s = w.score(prompt, text(n, field, where));
                    n.put("gold", s.total());
                    n.putPOJO("gold_parts", s.parts());
                    sums.merge("gold", s.total(), Double::sum);
                    s.parts().forEach((k, v) -> sums.merge(k, v, Double::sum));
                    count[0]++;
                }
            } catch (IllegalArgumentException e) {
                // a message about this record is the user's to fix, whichever check raised it
                String m = e.getMessage().startsWith(where) ? e.getMessage() : where + ": " + e.getMessage();
                throw e instanceof UserError u && m.equals(e.getMessage()) ? u : new UserError(m, e);
            }
            out.println(JSON.writeValueAsString(n));
        });
        if (count[0] > 0) {
            StringBuilder sb = new StringBuilder("mean over " + count[0] + " responses:");
            for (Map.Entry<String, Double> e : sums.entrySet()) {
                sb.append(String.format(" %s %.4f", e.getKey(), e.getValue() / count[0]));
            }
            spec.commandLine().getErr().println(sb);
        }
        out.flush();
        return 0;
    }

    private static String text(JsonNode n, String field, String where) {
        if (!n.path(field).isTextual()) {
            throw new UserError(where + ": missing string field \"" + field + "\"");
        }
        return n.get(field).asText();
    }
}
