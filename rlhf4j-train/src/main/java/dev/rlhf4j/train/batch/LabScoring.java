package dev.rlhf4j.train.batch;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.lab.LabWorld;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The lab world's gold reward of records, as {@code rlhf4j lab score} writes them: a {@code {"prompt",
 * "response"|"completion"}} record gets {@code "gold"} and {@code "gold_parts"}, a {@code {"prompt", "chosen",
 * "rejected"}} record {@code "gold_chosen"} and {@code "gold_rejected"}. Each record is scored on its own, so any
 * partitioning of the records gives the same output.
 */
public final class LabScoring {
    private LabScoring() {
    }

    /**
     * Adds the gold reward to {@code node} (in place) and returns the score of its response, or null for a
     * preference pair; {@code where} names the record in errors.
     */
    public static LabWorld.Score annotate(LabWorld w, JsonNode node, String where) {
        if (!(node instanceof ObjectNode n)) {
            throw new UserError(where + ": not a JSON object");
        }
        String prompt = text(n, "prompt", where);
        try {
            if (n.has("chosen")) {
                n.put("gold_chosen", w.score(prompt, text(n, "chosen", where)).total());
                n.put("gold_rejected", w.score(prompt, text(n, "rejected", where)).total());
                return null;
            }
            String field = n.has("response") ? "response" : "completion";
            LabWorld.Score s = w.score(prompt, text(n, field, where));
            n.put("gold", s.total());
            n.putPOJO("gold_parts", s.parts());
            return s;
        } catch (IllegalArgumentException e) {
            // a message about this record is the user's to fix, whichever check raised it
            String m = e.getMessage().startsWith(where) ? e.getMessage() : where + ": " + e.getMessage();
            throw e instanceof UserError u && m.equals(e.getMessage()) ? u : new UserError(m, e);
        }
    }

    /**
     * Checks the form of a record as {@link #annotate} would (a JSON object with the string fields it reads) without
     * scoring it.
     */
    public static void check(JsonNode node, String where) {
        if (!(node instanceof ObjectNode n)) {
            throw new UserError(where + ": not a JSON object");
        }
        text(n, "prompt", where);
        if (n.has("chosen")) {
            text(n, "chosen", where);
            text(n, "rejected", where);
        } else {
            text(n, n.has("response") ? "response" : "completion", where);
        }
    }

    private static String text(JsonNode n, String field, String where) {
        if (!n.path(field).isTextual()) {
            throw new UserError(where + ": missing string field \"" + field + "\"");
        }
        return n.get(field).asText();
    }

    /** The running means of the gold reward and its parts over the responses scored. */
    public static final class Means {
        private final Map<String, Double> sums = new LinkedHashMap<>();
        private long count;

        public void add(LabWorld.Score s) {
            sums.merge("gold", s.total(), Double::sum);
            s.parts().forEach((k, v) -> sums.merge(k, v, Double::sum));
            count++;
        }

        public long count() {
            return count;
        }

        /** "mean over N responses: gold G part P ...", as {@code lab score} prints it. */
        public String summary() {
            StringBuilder sb = new StringBuilder("mean over " + count + " responses:");
            for (Map.Entry<String, Double> e : sums.entrySet()) {
                sb.append(String.format(" %s %.4f", e.getKey(), e.getValue() / count));
            }
            return sb.toString();
        }
    }
}
