package dev.rlhf4j.model.io;

import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.model.tokenizer.Tokenizers;
import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A checkpoint with its tokenizer and chat template, ready to generate: what {@code rlhf4j generate}, {@code info},
 * {@code tokenize} and {@code convert} open. The tokenizer comes from {@code --tokenizer} when given, else from the
 * checkpoint (an HF directory's tokenizer files, the vocabulary inside a GGUF file, or the {@code tokenizer.bin}
 * beside a llama2.c checkpoint).
 */
public record Pretrained(LoadedModel loaded, Tokenizer tokenizer, ChatTemplate chatTemplate) {

    /** Opens {@code model}; {@code tokenizerOverride} may be null. Fails with one line naming the file. */
    public static Pretrained open(Path model, Path tokenizerOverride) throws IOException {
        return of(ModelLoader.load(model), tokenizerOverride);
    }

    /** A loaded model with its tokenizer ({@code tokenizerOverride}, which may be null, or the checkpoint's). */
    public static Pretrained of(LoadedModel loaded, Path tokenizerOverride) throws IOException {
        Path model = loaded.source();
        Tokenizer tok;
        if (tokenizerOverride != null) {
            tok = Tokenizers.load(tokenizerOverride);
        } else if (loaded.ggufTokenizer().isPresent()) {
            tok = fromGguf(loaded.ggufTokenizer().get(), model);
        } else if (loaded.tokenizerPath().isPresent()) {
            tok = Tokenizers.load(loaded.tokenizerPath().get());
        } else {
            tok = null;
        }
        int modelVocab = loaded.model().config().vocabSize();
        if (tok != null && tok.vocabSize() > modelVocab) {
            Path from = tokenizerOverride != null ? tokenizerOverride : loaded.tokenizerPath().orElse(model);
            throw new UserError(from + ": the tokenizer has " + tok.vocabSize()
                    + " tokens but the model's vocabulary has " + modelVocab + " — they do not belong together");
        }
        String template = loaded.chatTemplate().orElse(tok == null ? null : Tokenizers.chatTemplate(tok).orElse(null));
        ChatTemplate chat = new ChatTemplate(template != null ? template : ChatTemplate.CHATML,
                tok == null ? Map.of() : tok.specialTokens());
        return new Pretrained(loaded, tok, chat);
    }

    private static Tokenizer fromGguf(GgufTokenizerSpec s, Path file) {
        int[] types = s.tokenTypes() != null ? s.tokenTypes() : new int[s.tokens().size()];
        return switch (s.model()) {
            case "llama" -> {
                float[] scores = s.scores() != null ? s.scores() : new float[s.tokens().size()];
                yield Tokenizers.fromSentencePieceVocab(s.tokens(), scores, types, s.bosId(), s.eosId(), s.unkId(),
                        s.padId(), s.addBos());
            }
            case "gpt2" -> Tokenizers.fromByteLevelBpe(s.tokens(), s.merges(), types, s.bosId(), s.eosId(), s.padId(),
                    s.pre());
            default -> throw new UserError(file + ": GGUF tokenizer model '" + s.model()
                    + "' is not supported (llama, gpt2)");
        };
    }

    public Transformer model() {
        return loaded.model();
    }

    /** The tokenizer, or a one-line error saying how to give one. */
    public Tokenizer requireTokenizer() {
        if (tokenizer == null) {
            throw new UserError(loaded.source() + ": no tokenizer found beside the model; pass "
                    + "--tokenizer PATH");
        }
        return tokenizer;
    }

    /** Ids that end generation: the checkpoint's, else the tokenizer's EOS. */
    public int[] eosIds() {
        Set<Integer> ids = new LinkedHashSet<>(loaded.eosIds());
        if (ids.isEmpty() && tokenizer != null) {
            tokenizer.eosId().ifPresent(ids::add);
        }
        return ids.stream().mapToInt(Integer::intValue).toArray();
    }

    /** The prompt tokens for a plain text (the tokenizer adds BOS where its post-processor does). */
    public int[] encodePrompt(String text) {
        int[] ids = requireTokenizer().encode(text, true);
        if (ids.length == 0) {
            throw new UserError("the prompt encodes to no tokens; give some text");
        }
        return ids;
    }

    /**
     * The prompt tokens for a conversation rendered with the chat template; the template writes the special
     * tokens itself, so none are added.
     */
    public int[] encodeChat(List<ChatTemplate.Message> messages) {
        String text = chatTemplate.render(messages, true);
        return requireTokenizer().encode(text, false);
    }

    /** The user's prompt as a one-message conversation, optionally after a system message. */
    public static List<ChatTemplate.Message> userTurn(String system, String prompt) {
        List<ChatTemplate.Message> msgs = new ArrayList<>();
        if (system != null) {
            msgs.add(new ChatTemplate.Message("system", system));
        }
        msgs.add(new ChatTemplate.Message("user", prompt));
        return msgs;
    }
}
