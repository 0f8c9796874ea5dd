package dev.rlhf4j.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.tokenizer.AddedVocabulary.AddedToken;
import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** HF's tokenizer files: tokenizer.json (read and written) and GPT-2's vocab.json + merges.txt (read). */
final class HfFiles {

    private HfFiles() {
    }

    /** A tokenizer.json with a BPE model; {@code config} comes from the tokenizer_config.json beside it. */
    static BpeTokenizer readTokenizerJson(Path file, TokenizerConfig config) throws IOException {
        ObjectNode root = Json.readObject(file);
        try {
            JsonNode model = root.path("model");
            if (!model.isObject()) {
                throw new UserError("no \"model\" object");
            }
            // tokenizers < 0.10 wrote no "type"; a model with merges is BPE.
            String type = model.path("type").asText(model.has("merges") ? "BPE" : "(none)");
            if (!type.equals("BPE")) {
                throw new UserError("model type '" + type + "' is not supported (only BPE)");
            }
            for (String affix : List.of("continuing_subword_prefix", "end_of_word_suffix")) {
                if (!model.path(affix).asText("").isEmpty()) {
                    throw new UserError("BPE " + affix + " '" + model.get(affix).asText()
                            + "' is not supported");
                }
            }
            Map<String, Integer> vocab = new LinkedHashMap<>();
            model.path("vocab").properties().forEach(e -> vocab.put(e.getKey(), e.getValue().asInt()));
            if (vocab.isEmpty()) {
                throw new UserError("the BPE model has no vocab");
            }
            List<String[]> merges = new ArrayList<>();
            for (JsonNode m : model.path("merges")) {
                merges.add(parseMerge(m));
            }
            JsonNode unk = model.get("unk_token");
            BpeModel bpe = new BpeModel(vocab, merges, null, unk == null || unk.isNull() ? null : unk.asText(),
                    model.path("fuse_unk").asBoolean(false), model.path("byte_fallback").asBoolean(false),
                    model.path("ignore_merges").asBoolean(false));

            List<AddedToken> added = new ArrayList<>();
            for (JsonNode t : root.path("added_tokens")) {
                added.add(AddedToken.fromJson(t.path("id").asInt(), t));
            }
            Normalizer normalizer = Normalizer.fromJson(root.get("normalizer"));
            PreTokenizer preTokenizer = PreTokenizer.fromJson(root.get("pre_tokenizer"));
            PostProcessor postProcessor = PostProcessor.fromJson(root.get("post_processor"));
            Decoder decoder = Decoder.fromJson(root.get("decoder"));
            if (config.original().isEmpty() && config.specialTokens().isEmpty()) {
                config = inferRoles(config, bpe, postProcessor, added);
            }
            String kind = (preTokenizer != null && preTokenizer.isByteLevel()) || decoder instanceof Decoder.ByteLevel
                    ? "byte-level BPE" : bpe.byteFallback() ? "SentencePiece-style BPE with byte fallback" : "BPE";
            return build(kind, bpe, normalizer, preTokenizer, postProcessor, decoder, added, config);
        } catch (IllegalArgumentException e) {
            throw new UserError(file + ": " + e.getMessage(), e);
        }
    }

    /** A merge is {@code "a b"} (tokenizers before 0.20) or {@code ["a", "b"]}. */
    private static String[] parseMerge(JsonNode m) {
        if (m.isArray() && m.size() == 2) {
            return new String[] {m.get(0).asText(), m.get(1).asText()};
        }
        String s = m.asText();
        int space = s.indexOf(' ');
        if (!m.isTextual() || space < 0 || s.indexOf(' ', space + 1) >= 0) {
            throw new UserError("merge " + m + " is neither \"a b\" nor [\"a\", \"b\"]");
        }
        return new String[] {s.substring(0, space), s.substring(space + 1)};
    }

    /** Without tokenizer_config.json: the unknown token from the model and BOS / EOS from the post-processor. */
    private static TokenizerConfig inferRoles(TokenizerConfig config, BpeModel bpe, PostProcessor post,
                                              List<AddedToken> added) {
        Map<Integer, String> addedById = new HashMap<>();
        added.forEach(t -> addedById.put(t.id(), t.content()));
        Map<String, String> roles = new HashMap<>();
        if (bpe.unkToken() != null) {
            roles.put("unk_token", bpe.unkToken());
        }
        if (post != null) {
            // Where the post-processor puts a marker id tells what it adds before and after the text.
            int[] marked = post.process(new int[] {-1});
            int at = 0;
            while (marked[at] != -1) {
                at++;
            }
            if (at > 0) {
                roles.put("bos_token", addedById.getOrDefault(marked[0], bpe.token(marked[0])));
            }
            if (at < marked.length - 1) {
                roles.put("eos_token", addedById.getOrDefault(marked[marked.length - 1],
                        bpe.token(marked[marked.length - 1])));
            }
        }
        roles.values().removeIf(v -> v == null);
        return config.withSpecialTokens(roles);
    }

    /**
     * GPT-2's original pair of files, read as transformers' GPT2Tokenizer does: byte-level pre-tokenization with
     * GPT-2's pattern, {@code add_prefix_space} from tokenizer_config.json, and, without a tokenizer_config.json,
     * GPT2Tokenizer's defaults ({@code <|endoftext|>} as BOS, EOS and unknown token).
     */
    static BpeTokenizer readVocabAndMerges(Path dir, TokenizerConfig config) throws IOException {
        Path vocabFile = dir.resolve("vocab.json");
        Path mergesFile = dir.resolve("merges.txt");
        Map<String, Integer> vocab = new LinkedHashMap<>();
        Json.readObject(vocabFile).properties().forEach(e -> vocab.put(e.getKey(), e.getValue().asInt()));
        List<String> lines;
        try {
            lines = Files.readAllLines(mergesFile);
        } catch (CharacterCodingException e) {
            throw new IOException(mergesFile + ": not valid UTF-8 text");
        }
        List<String[]> merges = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if ((i == 0 && line.startsWith("#version")) || line.isEmpty()) {
                continue;
            }
            String[] pair = line.split(" ", -1);
            if (pair.length != 2) {
                throw new UserError(mergesFile + ": line " + (i + 1)
                        + " is not two tokens separated by one space");
            }
            merges.add(pair);
        }
        TokenizerConfig effective = config;
        if (config.original().isEmpty() && config.specialTokens().isEmpty() && vocab.containsKey("<|endoftext|>")) {
            Map<String, String> roles = Map.of("bos_token", "<|endoftext|>", "eos_token", "<|endoftext|>",
                    "unk_token", "<|endoftext|>");
            effective = config.withSpecialTokens(roles);
        }
        List<AddedToken> added = new ArrayList<>(effective.addedTokens());
        Path addedFile = dir.resolve("added_tokens.json");
        if (Files.exists(addedFile)) {
            TokenizerConfig c = effective;
            Json.readObject(addedFile).properties().forEach(e -> {
                boolean special = c.specialTokens().containsValue(e.getKey())
                        || c.additionalSpecialTokens().contains(e.getKey());
                added.add(new AddedToken(e.getValue().asInt(), e.getKey(), special, false, false, false, !special));
            });
        }
        String unk = effective.specialTokens().get("unk_token");
        try {
            BpeModel bpe = new BpeModel(vocab, merges, null, vocab.containsKey(unk) ? unk : null, false, false,
                    false);
            PreTokenizer pre = new PreTokenizer.ByteLevel(
                    effective.original().path("add_prefix_space").asBoolean(false), true, true);
            // transformers' GPT2Converter gives the fast tokenizer this post-processor: it adds nothing.
            PostProcessor post = new PostProcessor.ByteLevel(true, false, true);
            return build("byte-level BPE", bpe, null, pre, post, new Decoder.ByteLevel(), added, effective);
        } catch (IllegalArgumentException e) {
            throw new UserError(dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Completes the added tokens as transformers does on loading, then applies tokenizer_config.json's
     * {@code add_bos_token} / {@code add_eos_token}: tokens of {@code added_tokens_decoder} missing from
     * tokenizer.json are added, and special tokens of the configuration become special added tokens, with their
     * vocabulary id or, when not in the vocabulary, a new id after the last one.
     */
    private static BpeTokenizer build(String kind, BpeModel bpe, Normalizer normalizer, PreTokenizer pre,
                                      PostProcessor post, Decoder decoder, List<AddedToken> added,
                                      TokenizerConfig config) {
        Map<String, AddedToken> byContent = new LinkedHashMap<>();
        added.forEach(t -> byContent.putIfAbsent(t.content(), t));
        config.addedTokens().forEach(t -> byContent.putIfAbsent(t.content(), t));
        int next = bpe.size();
        for (AddedToken t : byContent.values()) {
            next = Math.max(next, t.id() + 1);
        }
        List<String> specials = new ArrayList<>(config.specialTokens().values());
        specials.addAll(config.additionalSpecialTokens());
        for (String s : specials) {
            if (!byContent.containsKey(s)) {
                Integer id = bpe.id(s);
                byContent.put(s, AddedToken.special(id != null ? id : next++, s));
            }
        }
        List<AddedToken> all = List.copyOf(byContent.values());
        Map<String, Integer> ids = new HashMap<>();
        all.forEach(t -> ids.put(t.content(), t.id()));
        PostProcessor effective = config.postProcessor(post, token -> ids.containsKey(token) ? ids.get(token)
                : bpe.id(token));
        return new BpeTokenizer(kind, bpe, normalizer, pre, effective, decoder, all, config);
    }

    /**
     * Writes {@code tokenizer} as a tokenizer.json that HF tokenizers (and transformers' PreTrainedTokenizerFast)
     * loads. Merges are written as {@code "a b"} strings, readable by every tokenizers version, unless a token
     * holds a space; then as pairs (tokenizers 0.20 and later).
     */
    static void writeTokenizerJson(BpeTokenizer tokenizer, Path file) throws IOException {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        tokenizer.addedTokens().stream().sorted(Comparator.comparingInt(AddedToken::id))
                .forEach(t -> added.add(t.toJson(true)));
        root.set("normalizer", tokenizer.normalizer() == null ? NullNode.instance : tokenizer.normalizer().toJson());
        root.set("pre_tokenizer", tokenizer.preTokenizer() == null ? NullNode.instance
                : tokenizer.preTokenizer().toJson());
        root.set("post_processor", tokenizer.postProcessor() == null ? NullNode.instance
                : tokenizer.postProcessor().toJson());
        root.set("decoder", tokenizer.decoder() == null ? NullNode.instance : tokenizer.decoder().toJson());

        BpeModel bpe = tokenizer.model();
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.putNull("dropout");
        model.put("unk_token", bpe.unkToken());
        model.putNull("continuing_subword_prefix");
        model.putNull("end_of_word_suffix");
        model.put("fuse_unk", bpe.fuseUnk());
        model.put("byte_fallback", bpe.byteFallback());
        if (bpe.ignoreMerges()) {
            model.put("ignore_merges", true);
        }
        ObjectNode vocab = model.putObject("vocab");
        for (int id = 0; id < bpe.size(); id++) {
            if (bpe.token(id) != null) {
                vocab.put(bpe.token(id), id);
            }
        }
        boolean pairs = false;
        for (int i = 0; i < bpe.mergeCount() && !pairs; i++) {
            String[] m = bpe.merge(i);
            pairs = m[0].contains(" ") || m[1].contains(" ");
        }
        ArrayNode merges = model.putArray("merges");
        for (int i = 0; i < bpe.mergeCount(); i++) {
            String[] m = bpe.merge(i);
            if (pairs) {
                merges.addArray().add(m[0]).add(m[1]);
            } else {
                merges.add(m[0] + " " + m[1]);
            }
        }
        Json.write(file, root);
    }
}
