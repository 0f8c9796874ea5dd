package dev.rlhf4j.feedback.web;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.rlhf4j.feedback.store.Flag;
import dev.rlhf4j.feedback.store.GenerationJob;
import dev.rlhf4j.feedback.store.Label;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.ProjectCounts;
import dev.rlhf4j.feedback.store.Response;
import dev.rlhf4j.feedback.store.User;
import io.javalin.http.Context;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The API's JSON shapes (field names in snake case, as the API table in the design names them). */
final class Json {
    static final ObjectMapper MAPPER = new ObjectMapper().disable(SerializationFeature.FAIL_ON_EMPTY_BEANS);
    /** Records as JSON with snake_case field names. */
    static final ObjectMapper SNAKE = new ObjectMapper().setPropertyNamingStrategy(
            PropertyNamingStrategies.SNAKE_CASE);

    private Json() {
    }

    static void send(Context ctx, int status, Object body) {
        try {
            ctx.status(status).contentType("application/json").result(MAPPER.writeValueAsString(body));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The request body as a JSON object (400 when it is not one). */
    static JsonNode body(Context ctx) {
        String text = ctx.body();
        if (text.isBlank()) {
            throw HttpError.badRequest("the body must be a JSON object");
        }
        try {
            JsonNode n = MAPPER.readTree(text);
            if (n == null || !n.isObject()) {
                throw HttpError.badRequest("the body must be a JSON object");
            }
            return n;
        } catch (JsonProcessingException e) {
            throw HttpError.badRequest("the body is not valid JSON: " + e.getOriginalMessage());
        }
    }

    /** A text field, or null when absent or null; 400 when it is not a string. */
    static String text(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isTextual()) {
            throw HttpError.badRequest("\"" + field + "\" must be a string");
        }
        return v.asText();
    }

    static String requiredText(JsonNode n, String field) {
        String s = text(n, field);
        if (s == null) {
            throw HttpError.badRequest("\"" + field + "\" is required");
        }
        return s;
    }

    /** A field as the form layer sees it: its text (numbers and booleans as written), or null. */
    static String scalar(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isValueNode()) {
            throw HttpError.badRequest("\"" + field + "\" must be a string or a number");
        }
        return v.asText();
    }

    static Long id(JsonNode n, String field) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.canConvertToLong() || !v.isIntegralNumber()) {
            throw HttpError.badRequest("\"" + field + "\" must be an integer id");
        }
        return v.asLong();
    }

    static Map<String, Object> user(User u) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", u.id());
        m.put("name", u.name());
        m.put("role", u.role().wireName());
        return m;
    }

    static Map<String, Object> project(Project p, ProjectCounts counts) {
        Map<String, Object> m = new LinkedHashMap<>();
        var s = p.settings();
        m.put("id", p.id());
        m.put("name", s.name());
        m.put("task_type", s.taskType().wireName());
        m.put("guidelines", s.guidelines());
        m.put("responses_per_item", s.responsesPerItem());
        m.put("overlap", s.overlap());
        m.put("overlap_annotators", s.overlapAnnotators());
        m.put("temperature", s.sampling().temperature());
        m.put("top_p", s.sampling().topP());
        m.put("max_new_tokens", s.sampling().maxNewTokens());
        m.put("policy_model", s.policyModel());
        m.put("reward_model", s.rewardModel());
        m.put("created_at", p.createdAt());
        if (counts != null) {
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("items", counts.items());
            c.put("ready_items", counts.readyItems());
            c.put("labels", counts.labels());
            c.put("complete_items", counts.completeItems());
            m.put("counts", c);
        }
        return m;
    }

    static Map<String, Object> job(GenerationJob j) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", j.id());
        m.put("status", j.status().wireName());
        m.put("done", j.done());
        m.put("total", j.total());
        m.put("error", j.error());
        m.put("model", j.model());
        m.put("created_at", j.createdAt());
        m.put("finished_at", j.finishedAt());
        return m;
    }

    static Map<String, Object> label(Label l) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", l.id());
        m.put("request_id", l.requestId());
        m.put("item_id", l.itemId());
        m.put("user_id", l.userId());
        m.put("kind", l.kind().wireName());
        switch (l.kind()) {
            case COMPARISON -> {
                m.put("verdict", l.verdict().wireName());
                m.put("left", l.leftResponseId());
                m.put("right", l.rightResponseId());
                m.put("chosen", l.chosenResponseId());
                m.put("strength", l.strength());
            }
            case RANKING -> {
                m.put("ranking", l.ranking());
                m.put("display_order", l.displayOrder());
            }
            case DEMONSTRATION -> m.put("demonstration", l.demonstration());
        }
        m.put("flags", l.flags().stream().sorted().map(Flag::wireName).toList());
        m.put("note", l.note());
        m.put("started_at", l.startedAt());
        m.put("created_at", l.createdAt());
        return m;
    }

    static List<Map<String, Object>> responses(List<Response> shown) {
        return shown.stream().map(r -> {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", r.id());
            m.put("text", r.text());
            return m;
        }).toList();
    }
}
