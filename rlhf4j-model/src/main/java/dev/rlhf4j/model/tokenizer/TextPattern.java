package dev.rlhf4j.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * The {@code pattern} of HF's Replace and Split: {@code {"String": "..."}} (a literal) or {@code {"Regex": "..."}}.
 *
 * <p>Regexes are compiled with {@link Pattern#UNICODE_CHARACTER_CLASS} so that {@code \s}, {@code \d}, {@code \w}
 * and {@code (?i)} follow Unicode as they do in the Oniguruma / Rust regex engines HF uses (plain Java {@code \s}
 * is ASCII-only and would leave U+00A0 or U+3000 out of the GPT-2 and Llama 3 whitespace rules).
 */
record TextPattern(String source, boolean regex, Pattern compiled) {

    static TextPattern literal(String text) {
        return new TextPattern(text, false, Pattern.compile(Pattern.quote(text)));
    }

    static TextPattern regex(String regex) {
        try {
            return new TextPattern(regex, true, Pattern.compile(regex, Pattern.UNICODE_CHARACTER_CLASS));
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("regex " + quote(regex) + " does not compile: " + e.getDescription());
        }
    }

    static TextPattern fromJson(JsonNode node) {
        if (node != null && node.hasNonNull("String")) {
            return literal(node.get("String").asText());
        }
        if (node != null && node.hasNonNull("Regex")) {
            return regex(node.get("Regex").asText());
        }
        throw new IllegalArgumentException("pattern must be {\"String\": ...} or {\"Regex\": ...}, got " + node);
    }

    ObjectNode toJson() {
        return JsonNodeFactory.instance.objectNode().put(regex ? "Regex" : "String", source);
    }

    Matcher matcher(CharSequence text) {
        return compiled.matcher(text);
    }

    String replaceAll(String text, String replacement) {
        return regex ? compiled.matcher(text).replaceAll(Matcher.quoteReplacement(replacement))
                : text.replace(source, replacement);
    }

    private static String quote(String s) {
        return "'" + s.replace("\n", "\\n").replace("\r", "\\r") + "'";
    }
}
