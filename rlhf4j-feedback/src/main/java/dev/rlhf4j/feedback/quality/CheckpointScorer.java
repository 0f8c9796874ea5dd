package dev.rlhf4j.feedback.quality;

import dev.rlhf4j.model.chat.ChatTemplate;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.data.PairTokenization;
import dev.rlhf4j.train.reward.RewardObjective;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A {@link RewardScorer} over a reward checkpoint (what {@code rlhf4j reward train} writes), scoring exactly as
 * {@code rlhf4j reward score} does: a text prompt and response as {@link PairTokenization#encodeText} encodes a side
 * of a text pair, a conversation as the chat template renders prompt + answer for a chat pair; the raw score at the
 * last token ({@link RewardObjective#score}). Checkpoints are opened once and kept ({@link #open}).
 */
public final class CheckpointScorer implements RewardScorer {
    private static final int BATCH_SIZE = 16;
    private static final Map<String, CheckpointScorer> OPEN = new ConcurrentHashMap<>();

    private final Pretrained model;
    private final Tokenizer tokenizer;
    private final int maxLength;

    private CheckpointScorer(Pretrained model) {
        this.model = model;
        this.tokenizer = model.requireTokenizer();
        this.maxLength = Math.min(1024, model.model().config().maxSeqLen());
    }

    /**
     * The scorer of the reward checkpoint at {@code path}, opened on first use and kept while the path is not
     * modified (a checkpoint written again there is opened again).
     *
     * @throws UserError when the checkpoint cannot be read or is not a reward model
     */
    public static CheckpointScorer open(Path path) {
        Path p = path.toAbsolutePath().normalize();
        String key;
        try {
            key = p + "@" + Files.getLastModifiedTime(p).toMillis();
        } catch (IOException e) {
            throw new UserError("reward model " + path + ": cannot read it (" + e.getMessage() + ")", e);
        }
        CheckpointScorer kept = OPEN.get(key);
        if (kept != null) {
            return kept;
        }
        // opened outside the map's lock (it takes seconds); two first calls at once may both open it
        Pretrained pm;
        try {
            pm = Pretrained.open(p, null);
        } catch (IOException e) {
            throw new UserError("reward model " + path + ": cannot read it (" + e.getMessage() + ")", e);
        }
        if (!pm.model().heads().scalar()) {
            throw new UserError(path + ": not a reward model (it has no score head); train one with "
                    + "`rlhf4j reward train`");
        }
        OPEN.keySet().removeIf(old -> old.startsWith(p + "@"));
        return OPEN.computeIfAbsent(key, k -> new CheckpointScorer(pm));
    }

    @Override
    public synchronized float[] score(String prompt, List<String> responses) {
        List<int[]> sequences = new ArrayList<>(responses.size());
        for (String r : responses) {
            sequences.add(PairTokenization.encodeText(tokenizer, prompt, r, maxLength));
        }
        return run(sequences);
    }

    @Override
    public synchronized float[] score(List<ChatTemplate.Message> conversation, List<String> responses) {
        List<int[]> sequences = new ArrayList<>(responses.size());
        for (String r : responses) {
            List<ChatTemplate.Message> all = new ArrayList<>(conversation);
            all.add(new ChatTemplate.Message("assistant", r));
            // as PairTokenization encodes a chat pair's side: rendered whole, the template writes its own specials
            int[] ids = tokenizer.encode(model.chatTemplate().render(all, false), false);
            sequences.add(ids.length > maxLength ? Arrays.copyOf(ids, maxLength) : ids);
        }
        return run(sequences);
    }

    private float[] run(List<int[]> sequences) {
        double[] raw = RewardObjective.score(model.model(), sequences, BATCH_SIZE, maxLength, tokenizer.paddingId());
        float[] out = new float[raw.length];
        for (int i = 0; i < raw.length; i++) {
            out[i] = (float) raw[i];
        }
        return out;
    }
}
