package dev.rlhf4j.model.io;

import dev.rlhf4j.model.Transformer;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A model read from a checkpoint, with what the rest of rlhf4j needs to use it: where its tokenizer is (or, for
 * GGUF, the vocabulary embedded in the file), the special token ids and the chat template.
 *
 * @param model          the weights, in a {@link Transformer} with the heads the checkpoint has
 * @param format         {@code "hf"}, {@code "gguf"} or {@code "llama2c"}
 * @param modelType      HF's {@code model_type} ({@code gpt2}, {@code llama}, {@code mistral}, {@code qwen2}) or
 *                       GGUF's {@code general.architecture}; {@code llama} for llama2.c
 * @param source         the path the model was read from
 * @param bosId          beginning-of-sequence id, from generation_config.json, config.json or the GGUF metadata
 * @param eosIds         end-of-sequence ids (Llama 3 has several); empty when the checkpoint names none
 * @param padId          padding id, when the checkpoint names one
 * @param tokenizerPath  what to give the tokenizer loader: the HF directory (when it holds tokenizer files) or the
 *                       llama2.c {@code tokenizer.bin} beside the checkpoint
 * @param ggufTokenizer  the vocabulary stored in a GGUF file
 * @param chatTemplate   the Jinja chat template of tokenizer_config.json, chat_template.jinja or the GGUF metadata
 */
public record LoadedModel(Transformer model, String format, String modelType, Path source, OptionalInt bosId,
                          List<Integer> eosIds, OptionalInt padId, Optional<Path> tokenizerPath,
                          Optional<GgufTokenizerSpec> ggufTokenizer, Optional<String> chatTemplate) {
    public LoadedModel {
        eosIds = List.copyOf(eosIds);
    }
}
