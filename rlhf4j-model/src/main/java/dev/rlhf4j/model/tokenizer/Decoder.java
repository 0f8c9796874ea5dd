package dev.rlhf4j.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The {@code decoder} of a tokenizer.json: turns the token strings of some ids back into text. As HF's
 * {@code decode_chain}, each decoder maps the list of token strings to a new list, and the result is their
 * concatenation.
 */
sealed interface Decoder {

    List<String> decode(List<String> tokens);

    ObjectNode toJson();

    static Decoder fromJson(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = node.path("type").asText();
        return switch (type) {
            case "ByteLevel" -> new ByteLevel();
            case "Replace" -> new Replace(TextPattern.fromJson(node.get("pattern")), node.path("content").asText());
            case "ByteFallback" -> new ByteFallback();
            case "Fuse" -> new Fuse();
            case "Strip" -> new Strip(node.path("content").asText(" "), node.path("start").asInt(0),
                    node.path("stop").asInt(0));
            case "Metaspace" -> {
                PreTokenizer.Metaspace m = PreTokenizer.Metaspace.fromJson(node);
                yield new Metaspace(m.replacement(), m.prependScheme(), m.splitWords());
            }
            case "Sequence" -> {
                List<Decoder> steps = new ArrayList<>();
                for (JsonNode step : node.path("decoders")) {
                    steps.add(fromJson(step));
                }
                yield new Sequence(steps);
            }
            default -> throw new IllegalArgumentException("decoder type '" + type + "' is not supported"
                    + " (ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence)");
        };
    }

    private static ObjectNode typed(String type) {
        return JsonNodeFactory.instance.objectNode().put("type", type);
    }

    /** Bytes back from the {@link ByteLevelAlphabet}, all tokens at once, invalid UTF-8 as U+FFFD. */
    record ByteLevel() implements Decoder {
        public List<String> decode(List<String> tokens) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            for (String token : tokens) {
                ByteLevelAlphabet.appendBytes(token, bytes);
            }
            return List.of(bytes.toString(StandardCharsets.UTF_8));
        }

        public ObjectNode toJson() {
            // The fields HF writes for this decoder; it reads none of them when decoding.
            return typed("ByteLevel").put("add_prefix_space", true).put("trim_offsets", true)
                    .put("use_regex", true);
        }
    }

    record Replace(TextPattern pattern, String content) implements Decoder {
        public List<String> decode(List<String> tokens) {
            return tokens.stream().map(t -> pattern.replaceAll(t, content)).toList();
        }

        public ObjectNode toJson() {
            ObjectNode json = typed("Replace");
            json.set("pattern", pattern.toJson());
            return json.put("content", content);
        }
    }

    /**
     * Runs of {@code <0xNN>} tokens become the text their bytes spell; a run that is not valid UTF-8 becomes one
     * U+FFFD token per byte, as in HF.
     */
    record ByteFallback() implements Decoder {
        public List<String> decode(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            ByteArrayOutputStream run = new ByteArrayOutputStream();
            for (String token : tokens) {
                int b = byteValue(token);
                if (b >= 0) {
                    run.write(b);
                    continue;
                }
                flush(run, out);
                out.add(token);
            }
            flush(run, out);
            return out;
        }

        private static int byteValue(String token) {
            if (token.length() != 6 || !token.startsWith("<0x") || token.charAt(5) != '>') {
                return -1;
            }
            int hi = hexDigit(token.charAt(3)), lo = hexDigit(token.charAt(4));
            return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
        }

        private static int hexDigit(char c) {
            return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        }

        private static void flush(ByteArrayOutputStream run, List<String> out) {
            if (run.size() == 0) {
                return;
            }
            byte[] bytes = run.toByteArray();
            run.reset();
            try {
                out.add(StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString());
            } catch (CharacterCodingException e) {
                for (int i = 0; i < bytes.length; i++) {
                    out.add("\uFFFD");
                }
            }
        }

        public ObjectNode toJson() {
            return typed("ByteFallback");
        }
    }

    record Fuse() implements Decoder {
        public List<String> decode(List<String> tokens) {
            return List.of(String.join("", tokens));
        }

        public ObjectNode toJson() {
            return typed("Fuse");
        }
    }

    /** Removes up to {@code start} leading and {@code stop} trailing {@code content} characters of each token. */
    record Strip(String content, int start, int stop) implements Decoder {
        public List<String> decode(List<String> tokens) {
            return tokens.stream().map(this::strip).toList();
        }

        private String strip(String token) {
            int from = 0, to = token.length();
            for (int i = 0; i < start && token.startsWith(content, from); i++) {
                from += content.length();
            }
            for (int i = 0; i < stop && to - content.length() >= from && token.startsWith(content,
                    to - content.length()); i++) {
                to -= content.length();
            }
            return token.substring(from, to);
        }

        public ObjectNode toJson() {
            return typed("Strip").put("content", content).put("start", start).put("stop", stop);
        }
    }

    /** {@code replacement} back to spaces; in the first token it is dropped unless the scheme never prepends. */
    record Metaspace(String replacement, String prependScheme, boolean splitWords) implements Decoder {
        public List<String> decode(List<String> tokens) {
            List<String> out = new ArrayList<>(tokens.size());
            for (int i = 0; i < tokens.size(); i++) {
                boolean drop = i == 0 && !prependScheme.equals("never");
                out.add(tokens.get(i).replace(replacement, drop ? "" : " "));
            }
            return out;
        }

        public ObjectNode toJson() {
            return new PreTokenizer.Metaspace(replacement, prependScheme, splitWords).toJson();
        }
    }

    record Sequence(List<Decoder> steps) implements Decoder {
        public List<String> decode(List<String> tokens) {
            for (Decoder step : steps) {
                tokens = step.decode(tokens);
            }
            return tokens;
        }

        public ObjectNode toJson() {
            ObjectNode json = typed("Sequence");
            ArrayNode array = json.putArray("decoders");
            steps.forEach(step -> array.add(step.toJson()));
            return json;
        }
    }
}
