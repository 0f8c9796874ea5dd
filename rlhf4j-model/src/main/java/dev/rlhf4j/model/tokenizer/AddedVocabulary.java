package dev.rlhf4j.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Tokens matched in the text before anything else, as HF's {@code AddedVocabulary}: chat markers like
 * {@code <|im_end|>}, {@code <s>}, user-added words. Tokens with {@code normalized = false} are found in the raw
 * text; the others in the normalized text, by their normalized form. Matching is leftmost-longest; {@code lstrip}
 * / {@code rstrip} also swallow the whitespace before / after a match, and a {@code single_word} token only matches
 * where no word character touches it.
 */
final class AddedVocabulary {

    /** One added token as stored in tokenizer.json's {@code added_tokens}. */
    record AddedToken(int id, String content, boolean special, boolean lstrip, boolean rstrip, boolean singleWord,
                      boolean normalized) {

        static AddedToken special(int id, String content) {
            return new AddedToken(id, content, true, false, false, false, false);
        }

        static AddedToken fromJson(int id, JsonNode node) {
            // HF's defaults: normalized is true unless the token is special.
            boolean special = node.path("special").asBoolean(false);
            return new AddedToken(id, node.path("content").asText(), special, node.path("lstrip").asBoolean(false),
                    node.path("rstrip").asBoolean(false), node.path("single_word").asBoolean(false),
                    node.path("normalized").asBoolean(!special));
        }

        ObjectNode toJson(boolean withId) {
            ObjectNode json = JsonNodeFactory.instance.objectNode();
            if (withId) {
                json.put("id", id);
            }
            return json.put("content", content).put("single_word", singleWord).put("lstrip", lstrip)
                    .put("rstrip", rstrip).put("normalized", normalized).put("special", special);
        }
    }

    /** A piece of text: an added token's id, or -1 for text to tokenize; {@code start} is its offset. */
    record Segment(String text, int tokenId, int start) {
    }

    /** A word character as Rust's regex {@code \w} (Unicode) sees it. */
    private static final Pattern WORD_CHAR = Pattern.compile("\\w", Pattern.UNICODE_CHARACTER_CLASS);

    private final List<AddedToken> tokens;
    private final Map<Integer, AddedToken> byId = new HashMap<>();
    private final Map<String, AddedToken> byContent = new HashMap<>();
    private final Matcher raw;
    private final Matcher normalized;

    AddedVocabulary(List<AddedToken> tokens, Normalizer normalizer) {
        this.tokens = List.copyOf(tokens);
        List<AddedToken> rawTokens = new ArrayList<>();
        List<String> rawForms = new ArrayList<>();
        List<AddedToken> normalizedTokens = new ArrayList<>();
        List<String> normalizedForms = new ArrayList<>();
        for (AddedToken t : tokens) {
            if (t.content.isEmpty()) {
                continue;
            }
            byId.put(t.id, t);
            byContent.put(t.content, t);
            if (t.normalized) {
                normalizedTokens.add(t);
                normalizedForms.add(normalizer == null ? t.content : normalizer.normalize(t.content));
            } else {
                rawTokens.add(t);
                rawForms.add(t.content);
            }
        }
        raw = new Matcher(rawTokens, rawForms);
        normalized = new Matcher(normalizedTokens, normalizedForms);
    }

    List<AddedToken> tokens() {
        return tokens;
    }

    AddedToken byId(int id) {
        return byId.get(id);
    }

    AddedToken byContent(String content) {
        return byContent.get(content);
    }

    /** Splits raw text on the tokens matched before normalization. */
    List<Segment> splitRaw(String text) {
        return raw.split(text);
    }

    /** Splits normalized text on the tokens matched after normalization. */
    List<Segment> splitNormalized(String text) {
        return normalized.split(text);
    }

    /** Leftmost-longest matching of a fixed set of strings, indexed by their first character. */
    private static final class Matcher {
        private final Map<Character, List<Integer>> byFirstChar = new HashMap<>();
        private final BitSet firstChars = new BitSet(1 << 16);
        private final List<AddedToken> tokens;
        private final List<String> forms;

        Matcher(List<AddedToken> tokens, List<String> forms) {
            this.tokens = tokens;
            this.forms = forms;
            for (int i = 0; i < forms.size(); i++) {
                if (!forms.get(i).isEmpty()) {
                    byFirstChar.computeIfAbsent(forms.get(i).charAt(0), c -> new ArrayList<>()).add(i);
                    firstChars.set(forms.get(i).charAt(0));
                }
            }
            byFirstChar.values().forEach(list -> list.sort(
                    Comparator.comparingInt((Integer i) -> forms.get(i).length()).reversed()));
        }

        List<Segment> split(String text) {
            List<Segment> out = new ArrayList<>();
            if (byFirstChar.isEmpty()) {
                out.add(new Segment(text, -1, 0));
                return out;
            }
            int done = 0;
            for (int i = 0; i < text.length(); ) {
                int match = longestAt(text, i);
                if (match < 0) {
                    i++;
                    continue;
                }
                AddedToken token = tokens.get(match);
                int start = i, end = i + forms.get(match).length();
                i = end;
                if (token.singleWord && ((start > 0 && isWordChar(text.codePointBefore(start)))
                        || (end < text.length() && isWordChar(text.codePointAt(end))))) {
                    continue;
                }
                if (token.lstrip) {
                    while (start > done && isWhiteSpace(text.charAt(start - 1))) {
                        start--;
                    }
                }
                if (token.rstrip) {
                    while (end < text.length() && isWhiteSpace(text.charAt(end))) {
                        end++;
                    }
                    i = end;
                }
                if (start > done) {
                    out.add(new Segment(text.substring(done, start), -1, done));
                }
                out.add(new Segment(text.substring(start, end), token.id, start));
                done = end;
            }
            if (done < text.length()) {
                out.add(new Segment(text.substring(done), -1, done));
            }
            return out;
        }

        private int longestAt(String text, int i) {
            char first = text.charAt(i);
            if (!firstChars.get(first)) {
                return -1;
            }
            List<Integer> candidates = byFirstChar.get(first);
            if (candidates != null) {
                for (int c : candidates) {
                    if (text.startsWith(forms.get(c), i)) {
                        return c;
                    }
                }
            }
            return -1;
        }

        private static boolean isWordChar(int codePoint) {
            return WORD_CHAR.matcher(Character.toString(codePoint)).matches();
        }

        /** Unicode's White_Space property, which Rust's {@code \s} follows. */
        private static boolean isWhiteSpace(char c) {
            return (c >= 0x09 && c <= 0x0D) || c == ' ' || c == 0x85 || c == 0xA0 || c == 0x1680
                    || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F
                    || c == 0x3000;
        }
    }
}
