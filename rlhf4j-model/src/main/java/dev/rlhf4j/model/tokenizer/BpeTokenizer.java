package dev.rlhf4j.model.tokenizer;

import dev.rlhf4j.model.tokenizer.AddedVocabulary.AddedToken;
import dev.rlhf4j.model.tokenizer.AddedVocabulary.Segment;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * HF {@code tokenizers}' pipeline around a {@link BpeModel}, which every tokenizer here is: added tokens are cut
 * out of the text first, each remaining stretch is normalized, pre-tokenized into words and run through BPE, and
 * the post-processor adds special tokens. Decoding maps ids to token strings and hands them to the decoder.
 */
final class BpeTokenizer implements Tokenizer {

    private final String kind;
    private final BpeModel model;
    private final Normalizer normalizer;
    private final PreTokenizer preTokenizer;
    private final PostProcessor postProcessor;
    private final Decoder decoder;
    private final AddedVocabulary added;
    private final TokenizerConfig config;
    private final int size;

    /**
     * The normalizer, pre-tokenizer, post-processor and decoder may each be null, meaning none, as in tokenizer.json.
     *
     * @param kind what {@link #describe()} calls this tokenizer, e.g. "byte-level BPE"
     */
    BpeTokenizer(String kind, BpeModel model, Normalizer normalizer, PreTokenizer preTokenizer,
                 PostProcessor postProcessor, Decoder decoder, List<AddedToken> addedTokens,
                 TokenizerConfig config) {
        this.kind = kind;
        this.model = model;
        this.normalizer = normalizer;
        this.preTokenizer = preTokenizer;
        this.postProcessor = postProcessor;
        this.decoder = decoder;
        this.added = new AddedVocabulary(addedTokens, normalizer);
        this.config = config;
        int n = model.size();
        for (AddedToken t : addedTokens) {
            n = Math.max(n, t.id() + 1);
        }
        this.size = n;
        for (Map.Entry<String, String> role : config.specialTokens().entrySet()) {
            if (id(role.getValue()).isEmpty()) {
                throw new IllegalArgumentException(role.getKey() + " '" + role.getValue()
                        + "' is not in the vocabulary");
            }
        }
    }

    BpeModel model() {
        return model;
    }

    Normalizer normalizer() {
        return normalizer;
    }

    PreTokenizer preTokenizer() {
        return preTokenizer;
    }

    PostProcessor postProcessor() {
        return postProcessor;
    }

    Decoder decoder() {
        return decoder;
    }

    List<AddedToken> addedTokens() {
        return added.tokens();
    }

    TokenizerConfig config() {
        return config;
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        IntArray ids = new IntArray(text.length() / 3 + 4);
        List<String> words = new ArrayList<>();
        for (Segment raw : added.splitRaw(text)) {
            if (raw.tokenId() >= 0) {
                ids.add(raw.tokenId());
                continue;
            }
            String normalized = normalizer == null ? raw.text() : normalizer.normalize(raw.text());
            for (Segment piece : added.splitNormalized(normalized)) {
                if (piece.tokenId() >= 0) {
                    ids.add(piece.tokenId());
                    continue;
                }
                if (preTokenizer == null) {
                    model.tokenize(piece.text(), ids);
                    continue;
                }
                words.clear();
                preTokenizer.split(piece.text(), raw.start() == 0 && piece.start() == 0, words);
                for (String word : words) {
                    model.tokenize(word, ids);
                }
            }
        }
        int[] out = ids.toArray();
        return addSpecialTokens && postProcessor != null ? postProcessor.process(out) : out;
    }

    /** As HF: ids without a token are skipped; without a decoder the token strings are joined by spaces. */
    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        List<String> tokens = new ArrayList<>(ids.length);
        for (int id : ids) {
            AddedToken a = added.byId(id);
            if (a != null && a.special() && skipSpecialTokens) {
                continue;
            }
            String token = a != null ? a.content() : model.token(id);
            if (token != null) {
                tokens.add(token);
            }
        }
        return decoder == null ? String.join(" ", tokens) : String.join("", decoder.decode(tokens));
    }

    @Override
    public int vocabSize() {
        return size;
    }

    @Override
    public String token(int id) {
        AddedToken a = added.byId(id);
        String token = a != null ? a.content() : model.token(id);
        if (token == null) {
            throw new IllegalArgumentException("no token has id " + id + " (vocabulary size " + size + ")");
        }
        return token;
    }

    @Override
    public OptionalInt id(String token) {
        AddedToken a = added.byContent(token);
        Integer id = a != null ? Integer.valueOf(a.id()) : model.id(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    private OptionalInt roleId(String role) {
        String token = config.specialTokens().get(role);
        return token == null ? OptionalInt.empty() : id(token);
    }

    @Override
    public OptionalInt bosId() {
        return roleId("bos_token");
    }

    @Override
    public OptionalInt eosId() {
        return roleId("eos_token");
    }

    @Override
    public OptionalInt padId() {
        return roleId("pad_token");
    }

    @Override
    public boolean isSpecial(int id) {
        AddedToken a = added.byId(id);
        return a != null && a.special();
    }

    @Override
    public Map<String, String> specialTokens() {
        Map<String, String> roles = new LinkedHashMap<>();
        for (String role : TokenizerConfig.ROLES) {
            String token = config.specialTokens().get(role);
            if (token != null) {
                roles.put(role, token);
            }
        }
        return roles;
    }

    @Override
    public String describe() {
        return kind + ", " + size + " tokens";
    }

    @Override
    public void save(Path dir) throws IOException {
        Files.createDirectories(dir);
        HfFiles.writeTokenizerJson(this, dir.resolve("tokenizer.json"));
        config.write(dir, added.tokens());
    }
}
