package dev.rlhf4j.train.ppo;

import dev.rlhf4j.model.TokenBatch;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.generate.Generation;
import dev.rlhf4j.model.generate.GenerationConfig;
import dev.rlhf4j.model.generate.Generator;
import dev.rlhf4j.model.tokenizer.Tokenizer;

import java.util.ArrayList;
import java.util.List;

/**
 * Sampling episodes and running models over them. A batch of episodes is laid out right-padded, one episode per
 * row (prompt then response); the prediction of response token {@code t} is read at row position
 * {@code promptLength − 1 + t}, for the policy's log-probabilities and the critic's values alike (the value of the
 * state before the token).
 */
public final class Rollouts {

    private Rollouts() {
    }

    /** Episodes laid out for one forward pass, and where each response token's prediction is. */
    public record Layout(TokenBatch batch, int[] rows, int[] tokens, int[] start) {
        /** Number of response tokens. */
        public int count() {
            return rows.length;
        }
    }

    /** Lays out {@code episodes} right-padded with {@code padId} (masked, so only its range matters). */
    public static Layout layout(List<Episode> episodes, int padId) {
        int b = episodes.size(), seq = 0, total = 0;
        for (Episode e : episodes) {
            seq = Math.max(seq, e.length());
            total += e.responseTokens().length;
        }
        int[] tokens = new int[b * seq], mask = new int[b * seq];
        java.util.Arrays.fill(tokens, padId);
        int[] rows = new int[total], targets = new int[total], start = new int[b + 1];
        int k = 0;
        for (int i = 0; i < b; i++) {
            Episode e = episodes.get(i);
            int[] s = e.sequence();
            System.arraycopy(s, 0, tokens, i * seq, s.length);
            java.util.Arrays.fill(mask, i * seq, i * seq + s.length, 1);
            start[i] = k;
            int p = e.promptTokens().length;
            for (int t = 0; t < e.responseTokens().length; t++, k++) {
                rows[k] = i * seq + p - 1 + t;
                targets[k] = e.responseTokens()[t];
            }
        }
        start[b] = k;
        return new Layout(TokenBatch.of(tokens, mask, b, seq), rows, targets, start);
    }

    /**
     * Per-token log-probabilities of the responses under {@code model} (logits divided by {@code temperature}),
     * and per-token entropies when {@code entropy} is not null, computed {@code batchSize} episodes at a time.
     */
    public static void logProbs(Transformer model, List<Episode> episodes, float temperature, int batchSize,
                                int padId, double[][] logp, double[][] entropy) {
        logProbs(model, episodes, temperature, batchSize, padId, logp, entropy, null);
    }

    /**
     * As above, and, when {@code values} is not null, the model's scalar head before each response token from the
     * same forward (a value head on the policy's trunk).
     */
    public static void logProbs(Transformer model, List<Episode> episodes, float temperature, int batchSize,
                                int padId, double[][] logp, double[][] entropy, double[][] values) {
        for (int from = 0; from < episodes.size(); from += batchSize) {
            List<Episode> part = episodes.subList(from, Math.min(episodes.size(), from + batchSize));
            Layout l = layout(part, padId);
            model.forward(l.batch());
            float[] lp = new float[l.count()], h = entropy == null ? null : new float[l.count()];
            model.tokenLogProbs(l.rows(), l.tokens(), temperature, lp, h);
            float[] v = values == null ? null : new float[l.batch().rows()];
            if (v != null) {
                model.scalarHead(v);
            }
            for (int i = 0; i < part.size(); i++) {
                int n = l.start()[i + 1] - l.start()[i];
                logp[from + i] = new double[n];
                if (entropy != null) {
                    entropy[from + i] = new double[n];
                }
                if (v != null) {
                    values[from + i] = new double[n];
                }
                for (int t = 0; t < n; t++) {
                    logp[from + i][t] = lp[l.start()[i] + t];
                    if (entropy != null) {
                        entropy[from + i][t] = h[l.start()[i] + t];
                    }
                    if (v != null) {
                        values[from + i][t] = v[l.rows()[l.start()[i] + t]];
                    }
                }
            }
        }
    }

    /** The critic's value before each response token, {@code batchSize} episodes at a time. */
    public static void values(Transformer critic, List<Episode> episodes, int batchSize, int padId,
                              double[][] values) {
        for (int from = 0; from < episodes.size(); from += batchSize) {
            List<Episode> part = episodes.subList(from, Math.min(episodes.size(), from + batchSize));
            Layout l = layout(part, padId);
            critic.forward(l.batch());
            float[] v = new float[l.batch().rows()];
            critic.scalarHead(v);
            for (int i = 0; i < part.size(); i++) {
                int n = l.start()[i + 1] - l.start()[i];
                values[from + i] = new double[n];
                for (int t = 0; t < n; t++) {
                    values[from + i][t] = v[l.rows()[l.start()[i] + t]];
                }
            }
        }
    }

    /**
     * A prompt's tokens as the policy sees them: {@code encode(text, true)} for plain text, {@code encode(text,
     * false)} for a rendered conversation.
     */
    public static int[] encodePrompt(Tokenizer tokenizer, Prompt prompt) {
        int[] ids = tokenizer.encode(prompt.text(), !prompt.chat());
        if (ids.length == 0) {
            throw new IllegalArgumentException((prompt.source() == null ? "" : prompt.source() + ": ")
                    + "prompt encodes to no tokens: '" + prompt.text() + "'");
        }
        return ids;
    }

    /**
     * Samples one response per prompt with the batched generator, {@code batchSize} prompts at a time (see
     * {@link #sampleChunk}). Responses end at the first of {@code eosIds} (kept) or after {@code maxNewTokens}.
     */
    public static List<Episode> sample(Generator generator, Tokenizer tokenizer, List<String> prompts,
                                       List<int[]> promptTokens, int maxNewTokens, float temperature, long seed,
                                       int[] eosIds, int batchSize) {
        List<Episode> out = new ArrayList<>(prompts.size());
        for (int from = 0; from < prompts.size(); from += batchSize) {
            int to = Math.min(prompts.size(), from + batchSize);
            out.addAll(sampleChunk(generator, tokenizer, prompts.subList(from, to), promptTokens.subList(from, to),
                    maxNewTokens, temperature, seed, from, eosIds));
        }
        return out;
    }

    /**
     * Samples one response per prompt as one batch: the chunk at offset {@code from} of a larger batch, its sampler
     * seeded from {@code seed} and {@code from} alone, so a chunk sampled anywhere (another thread, a cluster's
     * worker) gives the same episodes.
     */
    public static List<Episode> sampleChunk(Generator generator, Tokenizer tokenizer, List<String> prompts,
                                            List<int[]> promptTokens, int maxNewTokens, float temperature, long seed,
                                            long from, int[] eosIds) {
        return sampleChunkWithLogprobs(generator, tokenizer, prompts, promptTokens, maxNewTokens, temperature, seed,
                from, eosIds).episodes();
    }

    /**
     * Episodes sampled as one batch, with the sampling policy's log-probability of each response token at the
     * sampling temperature, and, when the policy has a scalar head (a value head on its trunk), that head's value
     * before each token (else null), both taken from the decoding step that sampled the token.
     */
    public record Sampled(List<Episode> episodes, double[][] logprobs, double[][] values) {
    }

    /** {@link #sampleChunk}, keeping what the decoding steps computed of each token (see {@link Sampled}). */
    public static Sampled sampleChunkWithLogprobs(Generator generator, Tokenizer tokenizer, List<String> prompts,
                                                  List<int[]> promptTokens, int maxNewTokens, float temperature,
                                                  long seed, long from, int[] eosIds) {
        GenerationConfig cfg = new GenerationConfig(maxNewTokens, temperature, 0, 1f, seed * 1_000_003L + from,
                eosIds, List.of());
        List<Generation> g = generator.generate(promptTokens, cfg);
        int n = prompts.size();
        List<Episode> out = new ArrayList<>(n);
        double[][] logp = new double[n][];
        double[][] values = n > 0 && g.get(0).values() != null ? new double[n][] : null;
        for (int i = 0; i < n; i++) {
            Generation gen = g.get(i);
            out.add(new Episode(prompts.get(i), promptTokens.get(i), gen.tokens(),
                    tokenizer.decode(gen.tokens(), true), "eos".equals(gen.finishReason())));
            logp[i] = widen(gen.logprobs());
            if (values != null) {
                values[i] = widen(gen.values());
            }
        }
        return new Sampled(out, logp, values);
    }

    private static double[] widen(float[] x) {
        double[] d = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            d[i] = x[i];
        }
        return d;
    }

    /** Sums of per-token values per episode. */
    public static double[] sums(double[][] x) {
        double[] s = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            for (double v : x[i]) {
                s[i] += v;
            }
        }
        return s;
    }
}
