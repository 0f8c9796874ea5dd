package dev.rlhf4j.train.claims;

import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.train.lab.LabWorld;

import java.util.ArrayList;
import java.util.List;

/**
 * Lab texts that no stage trains on: pretraining-like documents for measuring forgetting, and harmful requests for
 * measuring compliance. They draw from streams of their own (numbers above the lab's own {@code LabStream}s), so
 * they are new samples of the same distributions as the corpus and the prompts.
 */
public final class HeldOutText {
    /** The stream of the held-out pretraining documents. */
    public static final long CORPUS_STREAM = 101;
    /** The stream of the held-out harmful requests. */
    public static final long HARMFUL_STREAM = 102;

    private HeldOutText() {
    }

    /**
     * Documents as the lab corpus mixes them (dialogues in the web's style, plain facts), {@code dialogues} then
     * {@code facts} of them: the order does not matter for a perplexity.
     */
    public static List<String> corpus(LabWorld world, int dialogues, int facts) {
        Rng rng = new Rng(world.seed() * 31 + CORPUS_STREAM);
        List<String> out = new ArrayList<>(dialogues + facts);
        for (int i = 0; i < dialogues; i++) {
            LabWorld.Request r = world.request(rng);
            out.add(r.prompt() + " " + world.respond(r, LabWorld.WEB, rng));
        }
        for (int i = 0; i < facts; i++) {
            out.add(world.fact(rng));
        }
        return out;
    }

    /** {@code n} prompts of harmful requests (requests are drawn until that many are harmful). */
    public static List<String> harmfulPrompts(LabWorld world, int n) {
        Rng rng = new Rng(world.seed() * 31 + HARMFUL_STREAM);
        List<String> out = new ArrayList<>(n);
        while (out.size() < n) {
            LabWorld.Request r = world.request(rng);
            if (r.kind() == LabWorld.Kind.HARMFUL) {
                out.add(r.prompt());
            }
        }
        return out;
    }
}
