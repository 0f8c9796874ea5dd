package dev.rlhf4j.train.data;

import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;

/**
 * Records to training examples, as TRL's {@code SFTTrainer} prepares them: language-modelling text trains on every
 * token; a prompt–completion pair, or a conversation split into its prompt and its last message, trains on the
 * completion only ({@code completion_only_loss}) or on everything.
 *
 * <p>Prompt and completion are encoded separately and concatenated, so the prompt's tokens are exactly those that
 * generation will feed the model for the same prompt; encoding the joined text could merge tokens across the
 * boundary (TRL warns about that mismatch, we avoid it).
 */
public final class Tokenization {
    private Tokenization() {
    }

    /**
     * Text → {@code tokenizer.encode(text, true)} followed by EOS when the tokenizer has one and did not add it; every
     * token trainable. PromptCompletion → {@code encode(prompt, true) + encode(completion, false) + EOS}; with
     * {@code completionOnly} only the completion tokens (and EOS) are trainable, else all. Conversation → the chat
     * template renders all messages but the last with {@code add_generation_prompt=true} as the prompt, and the full
     * conversation as prompt + completion (the completion is what the full rendering adds after the prompt's);
     * both encoded without added special tokens, since the template writes them. EOS is never appended twice (a text
     * that ends in the EOS token keeps just that one).
     *
     * <p>Sequences longer than {@code maxLength} are cut to it (counted in {@code truncated}); an example left with
     * no trainable token is dropped. The first token of a sequence is never trainable: nothing predicts it.
     *
     * @param chatTemplate needed only when there are conversations; may be null otherwise
     * @throws IllegalArgumentException when no example is left, a conversation has no template, or the template's
     *                                  prompt rendering is not a prefix of the full one (naming the record, from 1)
     */
    public static TokenizedDataset tokenize(List<DataRecord> records, Tokenizer tokenizer, ChatTemplate chatTemplate,
                                            int maxLength, boolean completionOnly) {
        if (maxLength < 2) {
            throw new UserError("maximum length must be at least 2 (a token to predict from and one "
                    + "to predict), got " + maxLength);
        }
        OptionalInt eos = tokenizer.eosId();
        List<Example> examples = new ArrayList<>(records.size());
        int truncated = 0;
        long tokens = 0, trainableTokens = 0;
        for (int i = 0; i < records.size(); i++) {
            Sequence s = switch (records.get(i)) {
                case DataRecord.Text t -> new Sequence(new int[0], withEos(tokenizer.encode(t.text(), true), eos));
                case DataRecord.PromptCompletion pc -> new Sequence(tokenizer.encode(pc.prompt(), true),
                        withEos(tokenizer.encode(pc.completion(), false), eos));
                case DataRecord.Conversation c -> conversation(c, "record " + (i + 1) + " of " + records.size(),
                        tokenizer, chatTemplate);
            };
            int length = s.prompt().length + s.completion().length;
            if (length > maxLength) {
                truncated++;
            }
            int kept = Math.min(length, maxLength);
            int from = Math.max(1, completionOnly ? s.prompt().length : 0); // the first token is never predicted
            if (from >= kept) {
                continue;
            }
            examples.add(s.toExample(kept, from));
            tokens += kept;
            trainableTokens += kept - from;
        }
        if (examples.isEmpty()) {
            throw new UserError("no example has a token to train on (" + records.size() + " records, "
                    + truncated + " of them cut to the maximum length of " + maxLength + ")");
        }
        return new TokenizedDataset(examples, truncated, tokens, trainableTokens);
    }

    /** Prompt tokens (not trained on when {@code completionOnly}) and completion tokens, before truncation. */
    private record Sequence(int[] prompt, int[] completion) {

        /** The first {@code length} tokens, trainable from {@code from} on. */
        Example toExample(int length, int from) {
            int[] tokens = Arrays.copyOf(prompt, length);
            if (length > prompt.length) {
                System.arraycopy(completion, 0, tokens, prompt.length, length - prompt.length);
            }
            boolean[] trainable = new boolean[length];
            Arrays.fill(trainable, from, length, true);
            return new Example(tokens, trainable);
        }
    }

    private static Sequence conversation(DataRecord.Conversation c, String name, Tokenizer tokenizer,
                                         ChatTemplate chatTemplate) {
        if (chatTemplate == null) {
            throw new UserError(name + " is a conversation, but no chat template was given");
        }
        List<ChatTemplate.Message> messages = c.messages();
        String prompt, full;
        try {
            prompt = chatTemplate.render(messages.subList(0, messages.size() - 1), true);
            full = chatTemplate.render(messages, false);
        } catch (IllegalArgumentException e) {
            throw new UserError(name + ": " + e.getMessage(), e);
        }
        if (!full.startsWith(prompt)) {
            throw new UserError(name + ": the chat template's rendering of the prompt (all messages "
                    + "but the last, with the generation prompt) is not the start of its rendering of the whole "
                    + "conversation, so the answer cannot be told apart");
        }
        return new Sequence(tokenizer.encode(prompt, false),
                tokenizer.encode(full.substring(prompt.length()), false));
    }

    /** {@code ids} followed by EOS, unless they already end with it or the tokenizer has none. */
    private static int[] withEos(int[] ids, OptionalInt eos) {
        if (eos.isEmpty() || (ids.length > 0 && ids[ids.length - 1] == eos.getAsInt())) {
            return ids;
        }
        int[] out = Arrays.copyOf(ids, ids.length + 1);
        out[ids.length] = eos.getAsInt();
        return out;
    }
}
