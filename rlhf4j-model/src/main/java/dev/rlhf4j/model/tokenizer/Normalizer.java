package dev.rlhf4j.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * The {@code normalizer} of a tokenizer.json: rewrites each stretch of text between added tokens before
 * pre-tokenization. Covers what BPE tokenizers use: Llama 2 / Mistral's {@code Prepend("▁")} + {@code Replace(" ",
 * "▁")}, Qwen2's {@code NFC}, and the simple rest.
 */
sealed interface Normalizer {

    String normalize(String text);

    ObjectNode toJson();

    static Normalizer fromJson(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = node.path("type").asText();
        return switch (type) {
            case "Prepend" -> new Prepend(node.path("prepend").asText());
            case "Replace" -> new Replace(TextPattern.fromJson(node.get("pattern")), node.path("content").asText());
            case "NFC", "NFD", "NFKC", "NFKD" -> new UnicodeForm(java.text.Normalizer.Form.valueOf(type));
            case "Lowercase" -> new Lowercase();
            case "Strip" -> new Strip(node.path("strip_left").asBoolean(true),
                    node.path("strip_right").asBoolean(true));
            case "Sequence" -> {
                List<Normalizer> steps = new ArrayList<>();
                for (JsonNode step : node.path("normalizers")) {
                    steps.add(fromJson(step));
                }
                yield new Sequence(steps);
            }
            default -> throw new IllegalArgumentException("normalizer type '" + type + "' is not supported"
                    + " (Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase, Strip, Sequence)");
        };
    }

    private static ObjectNode typed(String type) {
        return JsonNodeFactory.instance.objectNode().put("type", type);
    }

    /** Puts {@code prepend} in front of non-empty text (HF skips empty text). */
    record Prepend(String prepend) implements Normalizer {
        public String normalize(String text) {
            return text.isEmpty() ? text : prepend + text;
        }

        public ObjectNode toJson() {
            return typed("Prepend").put("prepend", prepend);
        }
    }

    record Replace(TextPattern pattern, String content) implements Normalizer {
        public String normalize(String text) {
            return pattern.replaceAll(text, content);
        }

        public ObjectNode toJson() {
            ObjectNode json = typed("Replace");
            json.set("pattern", pattern.toJson());
            return json.put("content", content);
        }
    }

    record UnicodeForm(java.text.Normalizer.Form form) implements Normalizer {
        public String normalize(String text) {
            return java.text.Normalizer.normalize(text, form);
        }

        public ObjectNode toJson() {
            return typed(form.name());
        }
    }

    record Lowercase() implements Normalizer {
        public String normalize(String text) {
            return text.toLowerCase(Locale.ROOT);
        }

        public ObjectNode toJson() {
            return typed("Lowercase");
        }
    }

    /** Removes Unicode whitespace (Rust's {@code char::is_whitespace}) at either end. */
    record Strip(boolean left, boolean right) implements Normalizer {
        private static final Pattern LEADING = Pattern.compile("^\\p{IsWhite_Space}+");
        private static final Pattern TRAILING = Pattern.compile("\\p{IsWhite_Space}+$");

        public String normalize(String text) {
            if (left) {
                text = LEADING.matcher(text).replaceFirst("");
            }
            return right ? TRAILING.matcher(text).replaceFirst("") : text;
        }

        public ObjectNode toJson() {
            return typed("Strip").put("strip_left", left).put("strip_right", right);
        }
    }

    record Sequence(List<Normalizer> steps) implements Normalizer {
        public String normalize(String text) {
            for (Normalizer step : steps) {
                text = step.normalize(text);
            }
            return text;
        }

        public ObjectNode toJson() {
            ObjectNode json = typed("Sequence");
            ArrayNode array = json.putArray("normalizers");
            steps.forEach(step -> array.add(step.toJson()));
            return json;
        }
    }
}
