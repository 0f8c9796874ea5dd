package dev.rlhf4j.model.io;

import java.util.List;

/**
 * The tokenizer a GGUF file embeds ({@code tokenizer.ggml.*} keys of the GGUF spec), as plain arrays for the
 * tokenizer factories: {@code model} "llama" is a SentencePiece vocabulary (pieces with scores), "gpt2" a byte-level
 * BPE (tokens with merges).
 *
 * @param model       {@code tokenizer.ggml.model}: "llama", "gpt2", ...
 * @param pre         {@code tokenizer.ggml.pre}, the pre-tokenizer of a BPE vocabulary (e.g. "llama-bpe"), or null
 * @param tokens      {@code tokenizer.ggml.tokens}, indexed by id
 * @param scores      {@code tokenizer.ggml.scores}, or null when absent
 * @param tokenTypes  {@code tokenizer.ggml.token_type} (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
 *                    6 byte), or null when absent
 * @param merges      {@code tokenizer.ggml.merges} ("a b" per line), empty for SentencePiece vocabularies
 * @param bosId       {@code tokenizer.ggml.bos_token_id}, -1 when absent
 * @param eosId       {@code tokenizer.ggml.eos_token_id}, -1 when absent
 * @param unkId       {@code tokenizer.ggml.unknown_token_id}, -1 when absent
 * @param padId       {@code tokenizer.ggml.padding_token_id}, -1 when absent
 * @param addBos      {@code tokenizer.ggml.add_bos_token}; when absent, true for a SentencePiece ("llama")
 *                    vocabulary, whose Llama 2 tokenizer adds BOS, and false otherwise
 */
public record GgufTokenizerSpec(String model, String pre, List<String> tokens, float[] scores, int[] tokenTypes,
                                List<String> merges, int bosId, int eosId, int unkId, int padId, boolean addBos) {
}
