package dev.rlhf4j.model.tokenizer;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;
import java.util.OptionalInt;

/**
 * Text to token ids and back, as HF {@code tokenizers} does for the same files.
 *
 * <p>{@code encode(text, true)} adds what the tokenizer's post-processor adds (for example Llama 2's BOS);
 * {@code encode(text, false)} adds nothing. Special tokens written in the text (such as {@code <|im_end|>}) are
 * recognised and mapped to their ids, as HF does for added tokens. {@code decode(ids, false)} keeps special tokens'
 * text; {@code decode(ids, true)} drops them.
 */
public interface Tokenizer {

    int[] encode(String text, boolean addSpecialTokens);

    default int[] encode(String text) {
        return encode(text, true);
    }

    String decode(int[] ids, boolean skipSpecialTokens);

    default String decode(int[] ids) {
        return decode(ids, false);
    }

    /** Number of ids, added tokens included (the largest id + 1). */
    int vocabSize();

    /** The token string of {@code id} as stored in the vocabulary (e.g. "Ġthe", "▁the", "<0x0A>"). */
    String token(int id);

    /** The id of a vocabulary or added token string. */
    OptionalInt id(String token);

    OptionalInt bosId();

    OptionalInt eosId();

    OptionalInt padId();

    /**
     * The id padded positions of a batch get: the pad token, else EOS, else 0. Padding is masked out of attention
     * and losses, so only the id's range matters.
     */
    default int paddingId() {
        return padId().orElse(eosId().orElse(0));
    }

    /** Whether {@code id} is a special (control) token. */
    boolean isSpecial(int id);

    /** Special tokens by role as in tokenizer_config.json: "bos_token", "eos_token", "pad_token", "unk_token". */
    Map<String, String> specialTokens();

    /** A short description for {@code rlhf4j info}, e.g. "byte-level BPE, 50257 tokens". */
    String describe();

    /**
     * Writes {@code tokenizer.json} and {@code tokenizer_config.json} (and {@code special_tokens_map.json}) into
     * {@code dir} so that HF {@code AutoTokenizer.from_pretrained(dir)} loads an equivalent tokenizer.
     */
    void save(Path dir) throws IOException;
}
