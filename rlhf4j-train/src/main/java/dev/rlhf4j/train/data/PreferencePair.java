package dev.rlhf4j.train.data;

import dev.rlhf4j.tensor.UserError;

/**
 * One comparison of two responses to a prompt, as TRL's preference formats hold it: {@code chosen} is preferred to
 * {@code rejected}. The model reads {@code prompt + chosen} and {@code prompt + rejected} as one text each, so the
 * prompt carries its own separator (an HH-RLHF prompt ends with {@code "\n\nAssistant:"}, the response starts with
 * the space after it).
 *
 * @param margin how much better {@code chosen} is, as TRL's {@code margin} column: the reward model's loss becomes
 *               {@code −log σ(r_chosen − r_rejected − margin)}; 0 when the data gives none
 * @param group  the ranking this pair was expanded from (all C(K,2) pairs of one K-way ranking share it, numbered
 *               from 0 in file order), or −1 for a plain pair
 */
public record PreferencePair(String prompt, String chosen, String rejected, double margin, int group) {

    public PreferencePair {
        if (prompt == null || chosen == null || rejected == null) {
            throw new UserError("a preference pair needs a prompt, a chosen and a rejected text");
        }
        requireValid(margin, group);
    }

    /** A plain pair: no margin, no ranking. */
    public PreferencePair(String prompt, String chosen, String rejected) {
        this(prompt, chosen, rejected, 0, -1);
    }

    static void requireValid(double margin, int group) {
        if (!Double.isFinite(margin)) {
            throw new UserError("a preference margin must be finite, got " + margin);
        }
        if (group < -1) {
            throw new UserError("a ranking group is −1 (none) or a non-negative id, got " + group);
        }
    }
}
