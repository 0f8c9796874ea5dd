package dev.rlhf4j.train.ppo;

import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.train.reward.RewardObjective;
import dev.rlhf4j.train.reward.RewardStats;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A reward model's score of each episode, read at the last token of prompt + response (the end-of-sequence token
 * when the policy emitted one, as the reward model saw in training), optionally normalised with the mean and std
 * stored with the model and clipped.
 *
 * <p>When the reward model's tokenizer is the policy's (the same vocabulary, token for token), the policy's tokens
 * are scored as they are. Otherwise each episode is re-tokenised from its text with the reward model's tokenizer
 * ({@code encode(prompt + response)}, followed by its EOS where the policy's response ended with one), which is
 * what a reward model trained on text expects.
 */
public final class RewardModelReward implements RewardFunction {
    private final Transformer model;
    private final Tokenizer tokenizer;
    private final boolean sameTokenizer;
    private final RewardStats stats;
    private final double clip;
    private final int batchSize;

    /**
     * @param stats  the stored reward statistics to normalise with, or null for raw scores
     * @param clip   scores are clipped to [−clip, clip] after normalisation; 0 = no clipping
     */
    public RewardModelReward(Transformer model, Tokenizer tokenizer, Tokenizer policyTokenizer, RewardStats stats,
                             double clip, int batchSize) {
        if (!model.heads().scalar()) {
            throw new IllegalArgumentException("the reward model has no scalar head (score.weight): is it a causal "
                    + "LM instead of a *ForSequenceClassification model?");
        }
        if (clip < 0) {
            throw new IllegalArgumentException("reward clip must be >= 0 (0 = off), got " + clip);
        }
        this.model = model;
        this.tokenizer = tokenizer;
        this.sameTokenizer = same(tokenizer, policyTokenizer);
        this.stats = stats;
        this.clip = clip;
        this.batchSize = batchSize;
    }

    /** Whether the two tokenizers map every id to the same token string. */
    public static boolean same(Tokenizer a, Tokenizer b) {
        if (a == b) {
            return true;
        }
        if (a.vocabSize() != b.vocabSize() || !a.eosId().equals(b.eosId())) {
            return false;
        }
        for (int i = 0; i < a.vocabSize(); i++) {
            if (!java.util.Objects.equals(a.token(i), b.token(i))) {
                return false;
            }
        }
        return true;
    }

    /** Whether episodes are re-tokenised from text. */
    public boolean retokenizes() {
        return !sameTokenizer;
    }

    @Override
    public double[] score(List<Episode> episodes) {
        int max = model.config().maxSeqLen();
        List<int[]> seqs = new ArrayList<>(episodes.size());
        for (Episode e : episodes) {
            int[] s = sameTokenizer ? e.sequence() : retokenize(e);
            // keep the end: the reward is read at the last token
            seqs.add(s.length > max ? Arrays.copyOfRange(s, s.length - max, s.length) : s);
        }
        double[] raw = RewardObjective.score(model, seqs, batchSize, max, 0);
        for (int i = 0; i < raw.length; i++) {
            double r = stats == null ? raw[i] : stats.normalize(raw[i]);
            raw[i] = clip > 0 ? Math.max(-clip, Math.min(clip, r)) : r;
        }
        return raw;
    }

    private int[] retokenize(Episode e) {
        int[] ids = tokenizer.encode(e.prompt() + e.response(), true);
        if (e.eos() && tokenizer.eosId().isPresent()) {
            ids = Arrays.copyOf(ids, ids.length + 1);
            ids[ids.length - 1] = tokenizer.eosId().getAsInt();
        }
        return ids;
    }

    @Override
    public String describe() {
        return "reward model (" + model.parameterCount() + " parameters" + (stats != null ? ", normalised" : "")
                + (sameTokenizer ? "" : ", re-tokenised from text") + ")";
    }
}
