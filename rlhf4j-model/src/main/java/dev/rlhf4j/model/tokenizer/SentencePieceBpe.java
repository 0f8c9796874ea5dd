package dev.rlhf4j.model.tokenizer;

import dev.rlhf4j.model.tokenizer.AddedVocabulary.AddedToken;
import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * SentencePiece BPE vocabularies given as pieces with scores (llama2.c's tokenizer.bin, GGUF's {@code llama}
 * tokenizer), encoded as llama2.c's {@code encode} and llama.cpp's SPM tokenizer do: a {@code ▁} is put in front
 * of non-empty text and spaces become {@code ▁}, each character becomes its piece (or its UTF-8 bytes as
 * {@code <0xNN>} pieces, or {@code <unk>}), then the adjacent pair whose concatenation is a piece with the highest
 * score is merged, the leftmost on ties, until none is left.
 *
 * <p>That is a {@link BpeModel} whose merges are all splits of a piece into two pieces, ranked by the score of the
 * merged piece, equal scores sharing a rank. The merges are listed in the order transformers' LlamaConverter
 * ({@code generate_merges} in {@code convert_slow_tokenizer.py}) writes them, so the tokenizer saves as the
 * tokenizer.json HF would make of the same vocabulary.
 */
final class SentencePieceBpe {

    /**
     * Token types as GGUF stores them ({@code tokenizer.ggml.token_type}), the same as SentencePiece's; the
     * remaining one, 5, is "unused".
     */
    static final int NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, BYTE = 6;

    private static final Pattern BYTE_PIECE = Pattern.compile("<0x[0-9A-Fa-f]{2}>");
    private static final String SPACE = "\u2581";

    private SentencePieceBpe() {
    }

    /**
     * @param pieces     the vocabulary, id = index, spaces written {@code ▁}
     * @param scores     one score per piece
     * @param tokenTypes one GGUF token type per piece, or null to infer them (byte pieces from their form,
     *                   {@code unkId} unknown, {@code bosId} and {@code eosId} control, the rest normal)
     * @param source     where the vocabulary comes from, for {@link Tokenizer#describe()}
     */
    static BpeTokenizer build(List<String> pieces, float[] scores, int[] tokenTypes, int bosId, int eosId, int unkId,
                              int padId, boolean addBos, String source) {
        int n = pieces.size();
        if (scores.length != n || (tokenTypes != null && tokenTypes.length != n)) {
            throw new UserError(source + ": " + n + " pieces but " + scores.length + " scores"
                    + (tokenTypes == null ? "" : " and " + tokenTypes.length + " token types"));
        }
        Map<String, String> roles = new HashMap<>();
        try {
            putRole(roles, "bos_token", bosId, pieces);
            putRole(roles, "eos_token", eosId, pieces);
            putRole(roles, "unk_token", unkId, pieces);
            putRole(roles, "pad_token", padId, pieces);
        } catch (IllegalArgumentException e) {
            throw new UserError(source + ": " + e.getMessage(), e);
        }
        int[] types = tokenTypes != null ? tokenTypes : inferTypes(pieces, bosId, eosId, unkId);
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int id = 0; id < n; id++) {
            vocab.putIfAbsent(pieces.get(id), id);
        }

        List<Merge> merges = new ArrayList<>();
        for (int id = 0; id < n; id++) {
            // SentencePiece merges only into pieces it segments text into.
            if (types[id] != NORMAL && types[id] != USER_DEFINED) {
                continue;
            }
            String piece = pieces.get(id);
            for (int cut = piece.offsetByCodePoints(0, 1); cut < piece.length();
                 cut = piece.offsetByCodePoints(cut, 1)) {
                Integer left = vocab.get(piece.substring(0, cut));
                Integer right = vocab.get(piece.substring(cut));
                if (left != null && right != null) {
                    merges.add(new Merge(left, right, id, scores[id], piece.codePointCount(0, cut),
                            piece.codePointCount(cut, piece.length())));
                }
            }
        }
        // generate_merges: by score, then longer left piece, then longer right piece, the rest in vocabulary order.
        Comparator<Merge> byScore = SentencePieceBpe::byScoreDescending;
        merges.sort(byScore.thenComparingInt((Merge m) -> -m.leftLength).thenComparingInt(m -> -m.rightLength)
                .thenComparingInt(Merge::result).thenComparingInt(Merge::left).thenComparingInt(Merge::right));
        List<String[]> pairs = new ArrayList<>(merges.size());
        int[] ranks = new int[merges.size()];
        for (int i = 0; i < merges.size(); i++) {
            Merge m = merges.get(i);
            pairs.add(new String[] {pieces.get(m.left), pieces.get(m.right)});
            ranks[i] = i > 0 && merges.get(i - 1).score == m.score ? ranks[i - 1] : i;
        }
        boolean byteFallback = false;
        for (int type : types) {
            byteFallback |= type == BYTE;
        }
        BpeModel model = new BpeModel(vocab, pairs, ranks, unkId >= 0 ? pieces.get(unkId) : null, true,
                byteFallback, false);

        List<AddedToken> added = new ArrayList<>();
        for (int id = 0; id < n; id++) {
            if (types[id] == UNKNOWN || types[id] == CONTROL) {
                added.add(AddedToken.special(id, pieces.get(id)));
            } else if (types[id] == USER_DEFINED) {
                added.add(new AddedToken(id, pieces.get(id), false, false, false, false, false));
            }
        }
        PostProcessor post = addBos && bosId >= 0 ? PostProcessor.Template.around(pieces.get(bosId), bosId, null, -1)
                : null;
        return new BpeTokenizer("SentencePiece BPE by piece score (" + source + ")", model, NORMALIZER, null, post,
                DECODER, added, TokenizerConfig.of(roles, addBos, false));
    }

    /** Llama 2's tokenizer.json normalizer: a {@code ▁} in front, every space a {@code ▁}. */
    static final Normalizer NORMALIZER = new Normalizer.Sequence(List.of(new Normalizer.Prepend(SPACE),
            new Normalizer.Replace(TextPattern.literal(" "), SPACE)));

    /** Llama 2's tokenizer.json decoder: {@code ▁} back to spaces, byte pieces to text, the leading space off. */
    static final Decoder DECODER = new Decoder.Sequence(List.of(
            new Decoder.Replace(TextPattern.literal(SPACE), " "), new Decoder.ByteFallback(), new Decoder.Fuse(),
            new Decoder.Strip(" ", 1, 0)));

    private record Merge(int left, int right, int result, float score, int leftLength, int rightLength) {
    }

    /** Higher score first; compared as numbers, so that -0.0 ties with 0.0 as in Python. */
    private static int byScoreDescending(Merge a, Merge b) {
        return a.score > b.score ? -1 : a.score < b.score ? 1 : 0;
    }

    /** Records the token of special id {@code id} under {@code role}; -1 means none. */
    static void putRole(Map<String, String> roles, String role, int id, List<String> tokens) {
        if (id >= tokens.size()) {
            throw new UserError(role + " id " + id + " is outside the " + tokens.size()
                    + "-token vocabulary");
        }
        if (id >= 0) {
            roles.put(role, tokens.get(id));
        }
    }

    private static int[] inferTypes(List<String> pieces, int bosId, int eosId, int unkId) {
        int[] types = new int[pieces.size()];
        for (int id = 0; id < types.length; id++) {
            types[id] = id == unkId ? UNKNOWN : id == bosId || id == eosId ? CONTROL
                    : BYTE_PIECE.matcher(pieces.get(id)).matches() ? BYTE : NORMAL;
        }
        return types;
    }

    /**
     * llama2.c's tokenizer.bin ({@code tokenizer.py} export): int32 max_token_length, then per piece a float32
     * score, an int32 byte length and the UTF-8 bytes, little-endian, until the end of the file. That export writes
     * spaces as {@code ' '} instead of {@code ▁} and BOS / EOS (ids 1, 2) as {@code "\n<s>\n"} /
     * {@code "\n</s>\n"}; they are turned back into SentencePiece's {@code ▁}, {@code <s>} and {@code </s>}.
     */
    static BpeTokenizer readLlama2c(Path file) throws IOException {
        ByteBuffer buf = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        if (buf.remaining() < 4) {
            throw new UserError(file + ": too short for a llama2.c tokenizer.bin");
        }
        int maxLength = buf.getInt();
        if (maxLength <= 0 || maxLength > 1 << 16) {
            throw new UserError(file + ": not a llama2.c tokenizer.bin (max_token_length "
                    + maxLength + ")");
        }
        List<String> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        while (buf.hasRemaining()) {
            int id = pieces.size();
            if (buf.remaining() < 8) {
                throw new UserError(file + ": truncated in the header of piece " + id);
            }
            float score = buf.getFloat();
            int length = buf.getInt();
            if (length < 0 || length > maxLength || length > buf.remaining()) {
                throw new UserError(file + ": piece " + id + " has length " + length
                        + " (max_token_length " + maxLength + ", " + buf.remaining() + " bytes left)");
            }
            byte[] bytes = new byte[length];
            buf.get(bytes);
            String piece = new String(bytes, StandardCharsets.UTF_8);
            pieces.add(id == 1 || id == 2 ? piece.strip() : piece.replace(" ", SPACE));
            scores.add(score);
        }
        if (pieces.size() < 3) {
            throw new UserError(file + ": " + pieces.size() + " pieces, fewer than <unk>, <s>, </s>");
        }
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = scores.get(i);
        }
        return build(pieces, s, null, 1, 2, 0, -1, true, "llama2.c tokenizer.bin");
    }
}
