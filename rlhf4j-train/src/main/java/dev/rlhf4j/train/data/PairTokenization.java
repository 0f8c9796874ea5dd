package dev.rlhf4j.train.data;

import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.model.chat.ChatTemplate.Message;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;

/**
 * Preference records to token sequences for a reward model, as TRL's {@code RewardTrainer} prepares them: each side
 * is the whole text {@code prompt + response}, encoded at once. Unlike SFT (see {@link Tokenization}), nothing is
 * trained per token, so the prompt need not be encoded apart from the response; encoding the joined text gives the
 * tokens the model would see when scoring the transcript.
 */
public final class PairTokenization {
    private PairTokenization() {
    }

    /**
     * Text pairs: {@code tokenizer.encode(prompt + response, true)} for each side, followed by EOS when the tokenizer
     * has one and the sequence does not already end with it, so that the reward is read at a token that closes the
     * response. Chat pairs: the chat template renders {@code prompt + chosen} and {@code prompt + rejected} without
     * the generation prompt, encoded without added special tokens (the template writes its own).
     *
     * <p>A side longer than {@code maxLength} keeps its first {@code maxLength} tokens (TRL truncates the end); the
     * pair counts in {@code truncated}. A pair whose two sides are the same tokens is dropped, since its loss would be
     * constant and its gradient zero: counted in {@code identical} when they were the same before any cut (chosen ==
     * rejected), in {@code equalAfterCut} when the cut made them so.
     *
     * @param chat needed only when there are chat pairs; may be null otherwise
     * @throws IllegalArgumentException when no pair is left, a chat pair has no template or the template rejects it,
     *                                  or a side encodes to no tokens at all (naming the record, from 1)
     */
    public static TokenizedPairs tokenize(List<PreferenceRecord> records, Tokenizer tokenizer, ChatTemplate chat,
                                          int maxLength) {
        if (maxLength < 1) {
            throw new UserError("maximum length must be at least 1, got " + maxLength);
        }
        List<PairExample> pairs = new ArrayList<>(records.size());
        int truncated = 0, identical = 0, equalAfterCut = 0;
        for (int i = 0; i < records.size(); i++) {
            PreferenceRecord record = records.get(i);
            String name = "record " + (i + 1) + " of " + records.size();
            int[] chosen, rejected;
            switch (record) {
                case PreferenceRecord.Text t -> {
                    PreferencePair p = t.pair();
                    chosen = sequence(tokenizer, p.prompt(), p.chosen());
                    rejected = sequence(tokenizer, p.prompt(), p.rejected());
                }
                case PreferenceRecord.Chat c -> {
                    ConversationPair p = c.pair();
                    chosen = tokenizer.encode(render(p.prompt(), p.chosen(), chat, name), false);
                    rejected = tokenizer.encode(render(p.prompt(), p.rejected(), chat, name), false);
                }
            }
            if (Arrays.equals(chosen, rejected)) {
                identical++;
                continue;
            }
            if (chosen.length > maxLength || rejected.length > maxLength) {
                truncated++;
                chosen = Arrays.copyOf(chosen, Math.min(chosen.length, maxLength));
                rejected = Arrays.copyOf(rejected, Math.min(rejected.length, maxLength));
                if (Arrays.equals(chosen, rejected)) {
                    equalAfterCut++;
                    continue;
                }
            }
            if (chosen.length == 0 || rejected.length == 0) {
                throw new UserError(name + ": the " + (chosen.length == 0 ? "chosen" : "rejected")
                        + " side encodes to no tokens, so there is no token to read its reward at");
            }
            pairs.add(new PairExample(chosen, rejected, record.margin(), record.group()));
        }
        if (pairs.isEmpty()) {
            throw new UserError("no preference pair is left of " + records.size() + ": " + identical
                    + " identical (chosen == rejected), " + equalAfterCut + " with the same tokens on both sides after "
                    + "the cut to the maximum length of " + maxLength);
        }
        return new TokenizedPairs(pairs, truncated, identical, equalAfterCut);
    }

    /**
     * One prompt and response encoded exactly as a side of a text pair, cut to {@code maxLength}: what a reward
     * model trained on text pairs scores ({@code rlhf4j reward score}, PPO's rewards).
     */
    public static int[] encodeText(Tokenizer tokenizer, String prompt, String response, int maxLength) {
        int[] ids = sequence(tokenizer, prompt, response);
        return ids.length > maxLength ? Arrays.copyOf(ids, maxLength) : ids;
    }

    private static int[] sequence(Tokenizer tokenizer, String prompt, String response) {
        return withEos(tokenizer.encode(prompt + response, true), tokenizer.eosId());
    }

    private static String render(List<Message> prompt, List<Message> response, ChatTemplate chat, String name) {
        if (chat == null) {
            throw new UserError(name + " is a conversation, but no chat template was given");
        }
        List<Message> conversation = new ArrayList<>(prompt.size() + response.size());
        conversation.addAll(prompt);
        conversation.addAll(response);
        try {
            return chat.render(conversation, false);
        } catch (IllegalArgumentException e) {
            throw new UserError(name + ": " + e.getMessage(), e);
        }
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
