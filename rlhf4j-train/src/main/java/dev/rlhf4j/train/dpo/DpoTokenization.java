package dev.rlhf4j.train.dpo;

import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.model.chat.ChatTemplate.Message;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.data.ConversationPair;
import dev.rlhf4j.train.data.PreferencePair;
import dev.rlhf4j.train.data.PreferenceRecord;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;

/**
 * Preference records to DPO examples as TRL's {@code DPOTrainer.tokenize_row} prepares them: the prompt is encoded
 * alone and each completion alone, so both completions follow the very same prompt tokens and a completion's
 * log-probability is that of its own tokens (encoding {@code prompt + completion} at once could merge tokens across
 * the seam, as a reward model's {@link dev.rlhf4j.train.data.PairTokenization} may).
 * <ul>
 *   <li>Text pairs: {@code encode(prompt, true)}; {@code encode(completion, false)} followed by EOS when the
 *       tokenizer has one (the policy learns to stop).</li>
 *   <li>Chat pairs: the template renders the prompt messages with the generation prompt, and the whole conversation
 *       without it; the completion is the rest of the whole after the prompt's rendering, both encoded without added
 *       special tokens, exactly as SFT encodes a conversation (the template writes its own end-of-turn token).</li>
 * </ul>
 * Truncation as TRL's: the prompt keeps its last {@code maxPromptLength} tokens (at most {@code maxLength − 1}),
 * then each completion keeps its first tokens so that prompt + completion ≤ {@code maxLength}. Pairs whose
 * completions are the same tokens are dropped (their loss has no gradient), counted as for a reward model.
 */
public final class DpoTokenization {

    private DpoTokenization() {
    }

    /** The examples with the counts of what was cut and dropped. */
    public record Tokenized(List<DpoExample> examples, int truncated, int identical, int equalAfterCut) {
        public Tokenized {
            examples = List.copyOf(examples);
        }

        /** What was cut and dropped, for the line a command prints. */
        public String describe(int maxPromptLength, int maxLength) {
            return truncated + " truncated to max_prompt_length " + maxPromptLength + " / max_length " + maxLength
                    + (equalAfterCut == 0 ? "" : " (" + equalAfterCut + " of them dropped: equal after the cut)")
                    + ", " + identical + " dropped as identical (chosen == rejected)";
        }
    }

    /**
     * Tokenizes {@code records} (errors name {@code source} and count the records from 1).
     *
     * @param source the file the records were read from, named in errors ({@code --data} or {@code --eval-data})
     * @param chat needed only when there are chat pairs; may be null otherwise
     * @throws UserError when no pair is left, a chat pair has no template or the template rejects it, or a prompt or
     *                   completion encodes to no tokens
     */
    public static Tokenized tokenize(Path source, List<PreferenceRecord> records, Tokenizer tokenizer,
                                     ChatTemplate chat, int maxPromptLength, int maxLength) {
        if (maxLength < 2) {
            throw new UserError("max_length must be at least 2 for DPO (a prompt token and a completion token), got "
                    + maxLength);
        }
        if (maxPromptLength < 1) {
            throw new UserError("max_prompt_length must be positive, got " + maxPromptLength);
        }
        int promptLimit = Math.min(maxPromptLength, maxLength - 1);
        OptionalInt eos = tokenizer.eosId();
        List<DpoExample> out = new ArrayList<>(records.size());
        int truncated = 0, identical = 0, equalAfterCut = 0;
        for (int i = 0; i < records.size(); i++) {
            PreferenceRecord record = records.get(i);
            String name = source + ": record " + (i + 1) + " of " + records.size();
            int[] prompt, chosen, rejected;
            switch (record) {
                case PreferenceRecord.Text t -> {
                    PreferencePair p = t.pair();
                    prompt = tokenizer.encode(p.prompt(), true);
                    chosen = withEos(tokenizer.encode(p.chosen(), false), eos);
                    rejected = withEos(tokenizer.encode(p.rejected(), false), eos);
                }
                case PreferenceRecord.Chat c -> {
                    ConversationPair p = c.pair();
                    String head = render(p.prompt(), List.of(), true, chat, name);
                    prompt = tokenizer.encode(head, false);
                    chosen = tokenizer.encode(rest(head, render(p.prompt(), p.chosen(), false, chat, name), name),
                            false);
                    rejected = tokenizer.encode(rest(head, render(p.prompt(), p.rejected(), false, chat, name),
                            name), false);
                }
            }
            if (prompt.length == 0) {
                throw new UserError(name + ": the prompt encodes to no tokens, so there is nothing the first "
                        + "completion token is predicted from (give the prompt some text, or use a tokenizer that "
                        + "adds BOS)");
            }
            if (chosen.length == 0 || rejected.length == 0) {
                throw new UserError(name + ": the " + (chosen.length == 0 ? "chosen" : "rejected")
                        + " completion encodes to no tokens");
            }
            if (Arrays.equals(chosen, rejected)) {
                identical++;
                continue;
            }
            boolean cut = false;
            if (prompt.length > promptLimit) {
                prompt = Arrays.copyOfRange(prompt, prompt.length - promptLimit, prompt.length);
                cut = true;
            }
            int room = maxLength - prompt.length;
            if (chosen.length > room || rejected.length > room) {
                chosen = Arrays.copyOf(chosen, Math.min(chosen.length, room));
                rejected = Arrays.copyOf(rejected, Math.min(rejected.length, room));
                cut = true;
            }
            if (cut) {
                truncated++;
                if (Arrays.equals(chosen, rejected)) {
                    equalAfterCut++;
                    continue;
                }
            }
            out.add(new DpoExample(prompt, chosen, rejected, record.group()));
        }
        if (out.isEmpty()) {
            throw new UserError(source + ": no preference pair is left of " + records.size() + ": " + identical
                    + " identical (chosen == rejected), " + equalAfterCut + " with the same completion tokens after "
                    + "the cut to max_length " + maxLength);
        }
        return new Tokenized(out, truncated, identical, equalAfterCut);
    }

    private static String render(List<Message> prompt, List<Message> completion, boolean generationPrompt,
                                 ChatTemplate chat, String name) {
        if (chat == null) {
            throw new UserError(name + " is a conversation, but no chat template was given");
        }
        List<Message> conversation = new ArrayList<>(prompt);
        conversation.addAll(completion);
        try {
            return chat.render(conversation, generationPrompt);
        } catch (IllegalArgumentException e) {
            throw new UserError(name + ": " + e.getMessage(), e);
        }
    }

    private static String rest(String head, String whole, String name) {
        if (!whole.startsWith(head)) {
            throw new UserError(name + ": the chat template's rendering of the prompt (with the generation prompt) "
                    + "is not the start of its rendering of the whole conversation, so the completion cannot be told "
                    + "apart");
        }
        return whole.substring(head.length());
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
