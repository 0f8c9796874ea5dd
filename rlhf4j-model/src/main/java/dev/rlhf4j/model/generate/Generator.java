package dev.rlhf4j.model.generate;

import dev.rlhf4j.model.KvCacheDecoder;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.WeightDtype;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Batched generation with a key/value cache: prompts of different lengths are left-padded into one batch, prefilled
 * together, then every unfinished sequence gets one token per step until it emits an end-of-sequence id, shows a
 * stop string, or reaches the token limit. The same seed and prompts give the same tokens.
 */
public final class Generator {

    /** Receives text as it is generated (for streaming); {@code delta} holds only complete characters. */
    @FunctionalInterface
    public interface Listener {
        void onText(int sequence, String delta);
    }

    private final Transformer model;
    private final Tokenizer tokenizer;
    private final WeightDtype weightDtype;
    private KvCacheDecoder decoder;
    private boolean stale;

    /** {@code tokenizer} may be null: then texts are null and stop strings cannot be used. */
    public Generator(Transformer model, Tokenizer tokenizer) {
        this(model, tokenizer, WeightDtype.FP32);
    }

    /**
     * Generation that reads the model's matrices as {@code weightDtype}: BF16 or Q8_0 decode from a packed copy of
     * a float32 model (see {@link KvCacheDecoder}), taken when the decoder is made and again after
     * {@link #weightsChanged()}.
     */
    public Generator(Transformer model, Tokenizer tokenizer, WeightDtype weightDtype) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.weightDtype = weightDtype;
    }

    /**
     * Says that the model's weights changed (an optimizer step): a packed copy is taken again before the next
     * generation. Float32 generation reads the live weights and needs no call.
     */
    public void weightsChanged() {
        stale = true;
    }

    public List<Generation> generate(List<int[]> prompts, GenerationConfig cfg) {
        return generate(prompts, cfg, null);
    }

    public List<Generation> generate(List<int[]> prompts, GenerationConfig cfg, Listener listener) {
        if (prompts.isEmpty()) {
            return List.of();
        }
        if (tokenizer == null && !cfg.stopStrings().isEmpty()) {
            throw new IllegalArgumentException("stop strings need a tokenizer");
        }
        int batch = prompts.size();
        int longest = 0;
        for (int i = 0; i < batch; i++) {
            if (prompts.get(i).length == 0) {
                throw new IllegalArgumentException("prompt " + i + " is empty (a prompt needs at least one token, "
                        + "e.g. BOS)");
            }
            longest = Math.max(longest, prompts.get(i).length);
        }
        int vocab = model.config().vocabSize();
        int capacity = longest + cfg.maxNewTokens();
        if (capacity > model.config().maxSeqLen()) {
            throw new IllegalArgumentException("a prompt of " + longest + " tokens plus " + cfg.maxNewTokens()
                    + " new tokens exceeds the model's maximum sequence length of " + model.config().maxSeqLen());
        }
        KvCacheDecoder dec = decoder(batch, capacity);
        int[] tokens = new int[batch * longest], mask = new int[batch * longest];
        for (int b = 0; b < batch; b++) {
            int[] p = prompts.get(b);
            for (int t = 0; t < p.length; t++) {
                int at = b * longest + longest - p.length + t;
                if (p[t] < 0 || p[t] >= vocab) {
                    throw new IllegalArgumentException("prompt " + b + " has token " + p[t] + " at " + t
                            + ", outside the model's vocabulary of " + vocab);
                }
                tokens[at] = p[t];
                mask[at] = 1;
            }
        }
        Sampler sampler = new Sampler(cfg);
        Rng rng = new Rng(cfg.seed());
        int[][] out = new int[batch][cfg.maxNewTokens()];
        float[][] logprobs = new float[batch][cfg.maxNewTokens()];
        boolean valued = model.heads().scalar();
        float[][] values = valued ? new float[batch][cfg.maxNewTokens()] : null;
        int[] count = new int[batch];
        String[] finish = new String[batch];
        String[] streamed = new String[batch];
        String[] seen = new String[batch];
        Arrays.fill(streamed, "");
        Arrays.fill(seen, "");
        float[] lp = new float[1];
        int[] next = new int[batch], nextMask = new int[batch];
        Tensor logits = dec.step(tokens, mask, longest);
        int active = batch;
        while (active > 0) {
            for (int b = 0; b < batch; b++) {
                nextMask[b] = 0;
                if (finish[b] != null) {
                    continue;
                }
                int tok = sampler.next(logits.data(), b * vocab, vocab, rng, lp);
                out[b][count[b]] = tok;
                logprobs[b][count[b]] = lp[0];
                if (valued) {
                    values[b][count[b]] = dec.values()[b];
                }
                count[b]++;
                next[b] = tok;
                nextMask[b] = 1;
                String reason = cfg.isEos(tok) ? "eos" : null;
                if (tokenizer != null && (listener != null || !cfg.stopStrings().isEmpty())) {
                    String text = tokenizer.decode(Arrays.copyOf(out[b], count[b]), true);
                    if (reason == null && stopped(text, seen[b], cfg.stopStrings())) {
                        reason = "stop";
                    }
                    seen[b] = text;
                    if (listener != null) {
                        String complete = completePrefix(text);
                        if (complete.length() > streamed[b].length() && complete.startsWith(streamed[b])) {
                            listener.onText(b, complete.substring(streamed[b].length()));
                            streamed[b] = complete;
                        }
                    }
                }
                if (reason == null && count[b] == cfg.maxNewTokens()) {
                    reason = "length";
                }
                if (reason != null) {
                    finish[b] = reason;
                    active--;
                }
            }
            if (active > 0) {
                logits = dec.step(next, nextMask, 1);
            }
        }
        List<Generation> result = new ArrayList<>(batch);
        for (int b = 0; b < batch; b++) {
            int[] toks = Arrays.copyOf(out[b], count[b]);
            String text = tokenizer == null ? null : tokenizer.decode(toks, true);
            if (listener != null && text != null && text.length() > streamed[b].length()
                    && text.startsWith(streamed[b])) {
                listener.onText(b, text.substring(streamed[b].length()));
            }
            result.add(new Generation(prompts.get(b).clone(), toks, Arrays.copyOf(logprobs[b], count[b]), text,
                    finish[b], valued ? Arrays.copyOf(values[b], count[b]) : null));
        }
        return result;
    }

    /** Whether a stop string ends in the text added since {@code before} (so one already seen is not counted twice). */
    private static boolean stopped(String text, String before, List<String> stops) {
        for (String s : stops) {
            int from = Math.max(0, Math.min(before.length(), text.length()) - s.length() + 1);
            if (text.indexOf(s, from) >= 0) {
                return true;
            }
        }
        return false;
    }

    /** The text without a trailing replacement character from a multi-byte character that is not complete yet. */
    private static String completePrefix(String text) {
        int end = text.length();
        while (end > 0 && text.charAt(end - 1) == '\uFFFD') {
            end--;
        }
        return text.substring(0, end);
    }

    private KvCacheDecoder decoder(int batch, int capacity) {
        if (decoder == null || decoder.batch() != batch || decoder.capacity() < capacity) {
            decoder = null; // a packed copy of the old decoder can go before the new one packs
            decoder = new KvCacheDecoder(model, batch, capacity, weightDtype);
        } else {
            decoder.reset();
            if (stale) {
                decoder.refreshPacked();
            }
        }
        stale = false;
        return decoder;
    }
}
