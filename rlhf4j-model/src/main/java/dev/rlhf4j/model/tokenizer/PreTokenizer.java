package dev.rlhf4j.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Matcher;

/**
 * The {@code pre_tokenizer} of a tokenizer.json: splits text into the words BPE runs on, and for byte-level BPE
 * rewrites each word into the {@link ByteLevelAlphabet}. As in HF, each step of a {@link Sequence} splits the
 * pieces of the step before.
 */
sealed interface PreTokenizer {

    /** GPT-2's word pattern (openai/gpt-2 {@code encoder.py}; HF's ByteLevel with {@code use_regex}). */
    String GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
    /** Llama 3's Split pattern (its tokenizer.json): numbers in groups of up to three digits. */
    String LLAMA3_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Qwen2's Split pattern (its tokenizer.json): as Llama 3's but one digit per piece. */
    String QWEN2_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /**
     * Appends the words of {@code text} to {@code out}.
     *
     * @param atStart whether {@code text} begins the input (Metaspace's {@code prepend_scheme: "first"})
     */
    void split(String text, boolean atStart, List<String> out);

    ObjectNode toJson();

    static PreTokenizer fromJson(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = node.path("type").asText();
        return switch (type) {
            case "ByteLevel" -> new ByteLevel(node.path("add_prefix_space").asBoolean(false),
                    node.path("use_regex").asBoolean(true), node.path("trim_offsets").asBoolean(true));
            case "Split" -> new Split(TextPattern.fromJson(node.get("pattern")),
                    Behavior.fromJson(node.path("behavior").asText()), node.path("invert").asBoolean(false));
            case "Digits" -> new Digits(node.path("individual_digits").asBoolean(false));
            case "Metaspace" -> Metaspace.fromJson(node);
            case "Sequence" -> {
                List<PreTokenizer> steps = new ArrayList<>();
                for (JsonNode step : node.path("pretokenizers")) {
                    steps.add(fromJson(step));
                }
                yield new Sequence(steps);
            }
            default -> throw new IllegalArgumentException("pre_tokenizer type '" + type + "' is not supported"
                    + " (ByteLevel, Split, Digits, Metaspace, Sequence)");
        };
    }

    private static ObjectNode typed(String type) {
        return JsonNodeFactory.instance.objectNode().put("type", type);
    }

    /** Whether this pre-tokenizer, or a step of it, is byte-level. */
    default boolean isByteLevel() {
        return this instanceof ByteLevel || (this instanceof Sequence s && s.steps.stream().anyMatch(
                PreTokenizer::isByteLevel));
    }

    /** HF's {@code SplitDelimiterBehavior}: what becomes of the pieces a pattern matches. */
    enum Behavior {
        Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous;

        static Behavior fromJson(String name) {
            for (Behavior b : values()) {
                if (b.name().equals(name)) {
                    return b;
                }
            }
            throw new IllegalArgumentException("Split behavior '" + name + "' is not one of Removed, Isolated,"
                    + " MergedWithPrevious, MergedWithNext, Contiguous");
        }
    }

    /**
     * Splits {@code text} at the matches of {@code pattern} as HF's {@code NormalizedString::split} does: the
     * text is cut into alternating gaps and matches (the delimiters; with {@code invert}, the gaps are), then the
     * delimiters are dropped, kept alone, or glued to their neighbours as {@code behavior} says. Empty matches are
     * skipped.
     */
    static void splitOn(String text, TextPattern pattern, Behavior behavior, boolean invert, List<String> out) {
        Matcher m = pattern.matcher(text);
        if (behavior == Behavior.Isolated) {
            // Every piece stands alone, so which side counts as delimiter does not matter.
            int last = 0;
            while (m.find()) {
                if (m.start() == m.end()) {
                    continue;
                }
                if (m.start() > last) {
                    out.add(text.substring(last, m.start()));
                }
                out.add(text.substring(m.start(), m.end()));
                last = m.end();
            }
            if (last < text.length()) {
                out.add(text.substring(last));
            }
            return;
        }
        // Segments as (start, end, isDelimiter) triples.
        IntArray segments = new IntArray(16);
        int last = 0;
        while (m.find()) {
            if (m.start() == m.end()) {
                continue;
            }
            if (m.start() > last) {
                addSegment(segments, last, m.start(), invert);
            }
            addSegment(segments, m.start(), m.end(), !invert);
            last = m.end();
        }
        if (last < text.length()) {
            addSegment(segments, last, text.length(), invert);
        }
        int count = segments.size() / 3;
        List<int[]> pieces = new ArrayList<>();
        boolean previousDelimiter = false;
        switch (behavior) {
            case Removed -> {
                for (int i = 0; i < count; i++) {
                    if (segments.get(3 * i + 2) == 0) {
                        pieces.add(new int[] {segments.get(3 * i), segments.get(3 * i + 1)});
                    }
                }
            }
            case MergedWithPrevious, Contiguous -> {
                for (int i = 0; i < count; i++) {
                    int start = segments.get(3 * i), end = segments.get(3 * i + 1);
                    boolean delimiter = segments.get(3 * i + 2) == 1;
                    boolean glue = behavior == Behavior.MergedWithPrevious ? delimiter && !previousDelimiter
                            : delimiter && previousDelimiter;
                    if (glue && !pieces.isEmpty()) {
                        pieces.getLast()[1] = end;
                    } else {
                        pieces.add(new int[] {start, end});
                    }
                    previousDelimiter = delimiter;
                }
            }
            case MergedWithNext -> {
                for (int i = count - 1; i >= 0; i--) {
                    int start = segments.get(3 * i), end = segments.get(3 * i + 1);
                    boolean delimiter = segments.get(3 * i + 2) == 1;
                    if (delimiter && !previousDelimiter && !pieces.isEmpty()) {
                        pieces.getLast()[0] = start;
                    } else {
                        pieces.add(new int[] {start, end});
                    }
                    previousDelimiter = delimiter;
                }
                Collections.reverse(pieces);
            }
            case Isolated -> throw new AssertionError("handled above");
        }
        for (int[] p : pieces) {
            out.add(text.substring(p[0], p[1]));
        }
    }

    private static void addSegment(IntArray segments, int start, int end, boolean delimiter) {
        segments.add(start);
        segments.add(end);
        segments.add(delimiter ? 1 : 0);
    }

    /**
     * Byte-level pre-tokenization (GPT-2): optionally a space in front, the GPT-2 pattern, then every word rewritten
     * byte by byte into the {@link ByteLevelAlphabet}. {@code trimOffsets} only affects HF's offsets and is kept for
     * saving.
     */
    record ByteLevel(boolean addPrefixSpace, boolean useRegex, boolean trimOffsets) implements PreTokenizer {
        private static final TextPattern GPT2 = TextPattern.regex(GPT2_PATTERN);

        public void split(String text, boolean atStart, List<String> out) {
            String s = addPrefixSpace && !text.startsWith(" ") ? " " + text : text;
            if (!useRegex) {
                out.add(ByteLevelAlphabet.encode(s));
                return;
            }
            int first = out.size();
            splitOn(s, GPT2, Behavior.Isolated, false, out);
            for (int i = first; i < out.size(); i++) {
                out.set(i, ByteLevelAlphabet.encode(out.get(i)));
            }
        }

        public ObjectNode toJson() {
            return typed("ByteLevel").put("add_prefix_space", addPrefixSpace).put("trim_offsets", trimOffsets)
                    .put("use_regex", useRegex);
        }
    }

    record Split(TextPattern pattern, Behavior behavior, boolean invert) implements PreTokenizer {
        public void split(String text, boolean atStart, List<String> out) {
            splitOn(text, pattern, behavior, invert, out);
        }

        public ObjectNode toJson() {
            ObjectNode json = typed("Split");
            json.set("pattern", pattern.toJson());
            return json.put("behavior", behavior.name()).put("invert", invert);
        }
    }

    /** Numbers apart from the rest: each digit alone, or runs of digits ({@code char::is_numeric}, i.e. \p{N}). */
    record Digits(boolean individualDigits) implements PreTokenizer {
        private static final TextPattern NUMERIC = TextPattern.regex("\\p{N}");

        public void split(String text, boolean atStart, List<String> out) {
            splitOn(text, NUMERIC, individualDigits ? Behavior.Isolated : Behavior.Contiguous, false, out);
        }

        public ObjectNode toJson() {
            return typed("Digits").put("individual_digits", individualDigits);
        }
    }

    /**
     * SentencePiece-style words (older Llama / TinyLlama tokenizer.json): spaces become {@code replacement}, which
     * is prepended always, never, or only to the start of the input ({@code prepend_scheme}), and each word then
     * begins with it.
     */
    record Metaspace(String replacement, String prependScheme, boolean splitWords) implements PreTokenizer {
        static Metaspace fromJson(JsonNode node) {
            String scheme = node.path("prepend_scheme").asText("always");
            if (node.has("add_prefix_space") && !node.get("add_prefix_space").asBoolean()) {
                scheme = "never";
            }
            if (!List.of("always", "never", "first").contains(scheme)) {
                throw new IllegalArgumentException("Metaspace prepend_scheme '" + scheme
                        + "' is not one of always, never, first");
            }
            return new Metaspace(node.path("replacement").asText("\u2581"), scheme,
                    node.path("split").asBoolean(true));
        }

        public void split(String text, boolean atStart, List<String> out) {
            String s = text.replace(" ", replacement);
            boolean prepend = prependScheme.equals("always") || (prependScheme.equals("first") && atStart);
            if (prepend && !s.startsWith(replacement)) {
                s = replacement + s;
            }
            if (splitWords) {
                splitOn(s, TextPattern.literal(replacement), Behavior.MergedWithNext, false, out);
            } else {
                out.add(s);
            }
        }

        public ObjectNode toJson() {
            // add_prefix_space is what tokenizers before 0.19 read; later versions read prepend_scheme.
            return typed("Metaspace").put("replacement", replacement).put("prepend_scheme", prependScheme)
                    .put("split", splitWords).put("add_prefix_space", !prependScheme.equals("never"));
        }
    }

    record Sequence(List<PreTokenizer> steps) implements PreTokenizer {
        public void split(String text, boolean atStart, List<String> out) {
            List<String> pieces = List.of(text);
            for (PreTokenizer step : steps) {
                List<String> next = new ArrayList<>();
                for (int i = 0; i < pieces.size(); i++) {
                    step.split(pieces.get(i), atStart && i == 0, next);
                }
                pieces = next;
            }
            out.addAll(pieces);
        }

        public ObjectNode toJson() {
            ObjectNode json = typed("Sequence");
            ArrayNode array = json.putArray("pretokenizers");
            steps.forEach(step -> array.add(step.toJson()));
            return json;
        }
    }
}
