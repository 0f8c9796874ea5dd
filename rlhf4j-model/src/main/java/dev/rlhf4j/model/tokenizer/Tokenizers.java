package dev.rlhf4j.model.tokenizer;

import dev.rlhf4j.model.tokenizer.AddedVocabulary.AddedToken;
import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Where tokenizers come from: HF tokenizer files, llama2.c's tokenizer.bin, and the vocabularies GGUF files embed.
 *
 * <p>Every tokenizer made here runs HF {@code tokenizers}' BPE pipeline (added tokens, normalizer, pre-tokenizer,
 * BPE, post-processor, decoder) and saves as tokenizer.json + tokenizer_config.json + special_tokens_map.json.
 */
public final class Tokenizers {

    private Tokenizers() {
    }

    /**
     * Loads a tokenizer from
     * <ul>
     *   <li>an HF directory: tokenizer.json, or else GPT-2's vocab.json + merges.txt, or else a llama2.c
     *       tokenizer.bin; with tokenizer_config.json / special_tokens_map.json (special tokens,
     *       {@code add_bos_token} / {@code add_eos_token}, chat template) where present;</li>
     *   <li>a {@code *.json} file: a tokenizer.json, with the tokenizer_config.json beside it where present;</li>
     *   <li>any other file: a llama2.c tokenizer.bin.</li>
     * </ul>
     *
     * @throws NoSuchFileException      if {@code path} does not exist
     * @throws IllegalArgumentException if the files are malformed or use what is not supported (a Unigram or
     *                                  WordPiece model, say); the message names the file and the problem
     */
    public static Tokenizer load(Path path) throws IOException {
        if (Files.isDirectory(path)) {
            TokenizerConfig config = TokenizerConfig.read(path);
            if (Files.exists(path.resolve("tokenizer.json"))) {
                return HfFiles.readTokenizerJson(path.resolve("tokenizer.json"), config);
            }
            if (Files.exists(path.resolve("vocab.json")) && Files.exists(path.resolve("merges.txt"))) {
                return HfFiles.readVocabAndMerges(path, config);
            }
            if (Files.exists(path.resolve("tokenizer.bin"))) {
                return SentencePieceBpe.readLlama2c(path.resolve("tokenizer.bin"));
            }
            throw new UserError(path + ": no tokenizer.json, vocab.json + merges.txt or tokenizer.bin"
                    + " in this directory");
        }
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null, "no such file or directory");
        }
        String name = path.getFileName().toString();
        if (name.endsWith(".json")) {
            Path dir = path.toAbsolutePath().getParent();
            return HfFiles.readTokenizerJson(path, TokenizerConfig.read(dir));
        }
        if (name.endsWith(".model")) {
            throw new UserError(path + ": SentencePiece .model files are not supported;"
                    + " load the tokenizer.json beside it");
        }
        return SentencePieceBpe.readLlama2c(path);
    }

    /**
     * A SentencePiece BPE vocabulary as GGUF stores it for {@code tokenizer.ggml.model = "llama"} (Llama 2, Mistral,
     * TinyLlama): merges follow the scores, highest first, as in SentencePiece and llama.cpp; unknown characters
     * fall back to their {@code <0xNN>} byte pieces, else to the unknown piece.
     *
     * @param pieces     {@code tokenizer.ggml.tokens}, spaces written {@code ▁}
     * @param scores     {@code tokenizer.ggml.scores}
     * @param tokenTypes {@code tokenizer.ggml.token_type} (1 normal, 2 unknown, 3 control, 4 user-defined,
     *                   5 unused, 6 byte), or null to infer them from the pieces and the special ids
     * @param bosId      BOS id, -1 if none
     * @param eosId      EOS id, -1 if none
     * @param unkId      unknown-piece id, -1 if none
     * @param padId      padding id, -1 if none
     * @param addBos     whether {@code encode(text, true)} puts BOS first ({@code tokenizer.ggml.add_bos_token})
     */
    public static Tokenizer fromSentencePieceVocab(List<String> pieces, float[] scores, int[] tokenTypes, int bosId,
                                                   int eosId, int unkId, int padId, boolean addBos) {
        return SentencePieceBpe.build(pieces, scores, tokenTypes, bosId, eosId, unkId, padId, addBos,
                "GGUF llama vocabulary");
    }

    /**
     * A byte-level BPE vocabulary as GGUF stores it for {@code tokenizer.ggml.model = "gpt2"} (GPT-2, Llama 3,
     * Qwen2, SmolLM). {@code preTokenizer} is {@code tokenizer.ggml.pre} and picks the word pattern as llama.cpp
     * does:
     * <ul>
     *   <li>{@code llama3}, {@code llama-v3}, {@code llama-bpe}, {@code falcon3}: Llama 3's pattern; a word that is
     *       a token is taken whole ({@code ignore_merges}) and BOS is added, as llama.cpp sets for these;</li>
     *   <li>{@code smaug-bpe}, {@code dbrx}: Llama 3's pattern;</li>
     *   <li>{@code qwen2}, {@code deepseek-r1-qwen}, {@code stablelm2}, {@code megrez}: Qwen2's pattern;</li>
     *   <li>{@code smollm}, {@code starcoder}, {@code refact}, {@code command-r}, {@code codeshell},
     *       {@code exaone}, {@code minerva-7b}: digits one by one, then GPT-2's pattern;</li>
     *   <li>anything else ({@code default}, {@code gpt2}, {@code gpt-2}, unknown names, null): GPT-2's pattern.</li>
     * </ul>
     * Tokens of type 2 (unknown) and 3 (control) are special added tokens, type 4 (user-defined) plain added
     * tokens; all are matched in the text before BPE.
     *
     * @param tokens     {@code tokenizer.ggml.tokens}, in the byte-level alphabet (a space is {@code Ġ})
     * @param merges     {@code tokenizer.ggml.merges}, {@code "a b"} strings in priority order
     * @param tokenTypes {@code tokenizer.ggml.token_type}, or null for all normal
     * @param bosId      BOS id, -1 if none
     * @param eosId      EOS id, -1 if none
     * @param padId      padding id, -1 if none
     * @param preTokenizer {@code tokenizer.ggml.pre}, or null
     */
    public static Tokenizer fromByteLevelBpe(List<String> tokens, List<String> merges, int[] tokenTypes, int bosId,
                                             int eosId, int padId, String preTokenizer) {
        int n = tokens.size();
        if (tokenTypes != null && tokenTypes.length != n) {
            throw new UserError("GGUF gpt2 vocabulary: " + n + " tokens but " + tokenTypes.length
                    + " token types");
        }
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int id = 0; id < n; id++) {
            vocab.putIfAbsent(tokens.get(id), id);
        }
        List<String[]> pairs = new ArrayList<>(merges.size());
        for (String m : merges) {
            // As llama.cpp: the first space after the first character separates the two tokens.
            int space = m.indexOf(' ', 1);
            if (space < 0) {
                throw new UserError("GGUF gpt2 vocabulary: merge '" + m + "' has no space");
            }
            pairs.add(new String[] {m.substring(0, space), m.substring(space + 1)});
        }
        String pre = preTokenizer == null ? "default" : preTokenizer;
        boolean llama3 = List.of("llama3", "llama-v3", "llama-bpe", "falcon3").contains(pre);
        PreTokenizer.ByteLevel byteLevelNoRegex = new PreTokenizer.ByteLevel(false, false, true);
        PreTokenizer words = switch (pre) {
            case "llama3", "llama-v3", "llama-bpe", "falcon3", "smaug-bpe", "dbrx" -> new PreTokenizer.Sequence(
                    List.of(split(PreTokenizer.LLAMA3_PATTERN), byteLevelNoRegex));
            case "qwen2", "deepseek-r1-qwen", "stablelm2", "megrez" -> new PreTokenizer.Sequence(
                    List.of(split(PreTokenizer.QWEN2_PATTERN), byteLevelNoRegex));
            case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b" ->
                    new PreTokenizer.Sequence(List.of(new PreTokenizer.Digits(true),
                            new PreTokenizer.ByteLevel(false, true, true)));
            default -> new PreTokenizer.ByteLevel(false, true, true);
        };
        try {
            BpeModel model = new BpeModel(vocab, pairs, null, null, false, false, llama3);
            List<AddedToken> added = new ArrayList<>();
            for (int id = 0; tokenTypes != null && id < n; id++) {
                int type = tokenTypes[id];
                if (type == SentencePieceBpe.UNKNOWN || type == SentencePieceBpe.CONTROL) {
                    added.add(AddedToken.special(id, tokens.get(id)));
                } else if (type == SentencePieceBpe.USER_DEFINED) {
                    added.add(new AddedToken(id, tokens.get(id), false, false, false, false, false));
                }
            }
            Map<String, String> roles = new HashMap<>();
            SentencePieceBpe.putRole(roles, "bos_token", bosId, tokens);
            SentencePieceBpe.putRole(roles, "eos_token", eosId, tokens);
            SentencePieceBpe.putRole(roles, "pad_token", padId, tokens);
            boolean addBos = llama3 && bosId >= 0;
            PostProcessor post = addBos ? PostProcessor.Template.around(tokens.get(bosId), bosId, null, -1) : null;
            return new BpeTokenizer("byte-level BPE (GGUF gpt2 vocabulary, pre-tokenizer " + pre + ")", model, null,
                    words, post, new Decoder.ByteLevel(), added,
                    TokenizerConfig.of(roles, addBos ? Boolean.TRUE : null, null));
        } catch (IllegalArgumentException e) {
            throw new UserError("GGUF gpt2 vocabulary: " + e.getMessage(), e);
        }
    }

    private static PreTokenizer split(String pattern) {
        return new PreTokenizer.Split(TextPattern.regex(pattern), PreTokenizer.Behavior.Isolated, false);
    }

    /**
     * The chat template (Jinja) of a tokenizer loaded from a directory whose tokenizer_config.json (or
     * chat_template.jinja) has one; empty otherwise. It is written back by {@link Tokenizer#save}.
     */
    public static Optional<String> chatTemplate(Tokenizer tokenizer) {
        return tokenizer instanceof BpeTokenizer b ? Optional.ofNullable(b.config().chatTemplate())
                : Optional.empty();
    }
}
