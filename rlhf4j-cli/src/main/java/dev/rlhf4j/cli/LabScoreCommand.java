package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.train.lab.LabWorld;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
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
    @Option(names = "--seed", defaultValue = "0", description = "World seed the data came from (default: ${DEFAULT-VALUE}).")
    long seed;

    @Override
    public Integer call() throws IOException {
        Checks.inputFile("--data", data);
        LabWorld w = new LabWorld(seed);
        PrintWriter out = spec.commandLine().getOut();
        Map<String, Double> sums = new LinkedHashMap<>();
        int count = 0;
        try (BufferedReader in = Files.newBufferedReader(data, StandardCharsets.UTF_8)) {
            String line;
            int no = 0;
            while ((line = in.readLine()) != null) {
                no++;
                if (line.isBlank()) {
                    continue;
                }
                ObjectNode n;
                try {
                    n = (ObjectNode) JSON.readTree(line);
                } catch (com.fasterxml.jackson.core.JsonProcessingException | ClassCastException e) {
                    throw new IllegalArgumentException(data + ":" + no + ": not a JSON object");
                }
                String prompt = text(n, "prompt", no);
                try {
                    if (n.has("chosen")) {
                        n.put("gold_chosen", w.score(prompt, text(n, "chosen", no)).total());
                        n.put("gold_rejected", w.score(prompt, text(n, "rejected", no)).total());
                    } else {
                        String field = n.has("response") ? "response" : "completion";
                        LabWorld.Score s = w.score(prompt, text(n, field, no));
                        n.put("gold", s.total());
                        n.putPOJO("gold_parts", s.parts());
                        sums.merge("gold", s.total(), Double::sum);
                        s.parts().forEach((k, v) -> sums.merge(k, v, Double::sum));
                        count++;
                    }
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(data + ":" + no + ": " + e.getMessage());
                }
                out.println(JSON.writeValueAsString(n));
            }
        }
        if (count > 0) {
            StringBuilder sb = new StringBuilder("mean over " + count + " responses:");
            for (Map.Entry<String, Double> e : sums.entrySet()) {
                sb.append(String.format(" %s %.4f", e.getKey(), e.getValue() / count));
            }
            spec.commandLine().getErr().println(sb);
        }
        out.flush();
        return 0;
    }

    private String text(JsonNode n, String field, int line) {
        if (!n.path(field).isTextual()) {
            throw new IllegalArgumentException(data + ":" + line + ": missing string field \"" + field + "\"");
        }
        return n.get(field).asText();
    }
}
