package dev.rlhf4j.train.ppo;

import dev.rlhf4j.tensor.UserError;

import java.util.Locale;

/**
 * What PPO's critic is. {@link #SEPARATE}: its own model, started from the value model or the reward model (under
 * LoRA, the reward model's frozen weights with an adapter and a head of its own, so no second copy); {@link #SHARED}
 * (LoRA only): the policy's frozen base with its own adapter and head; {@link #VALUE_HEAD}: a scalar head on the
 * policy's own trunk, trained with it by one forward and backward (TRL's older
 * {@code AutoModelForCausalLMWithValueHead}), the value loss then shaping the policy's features too.
 */
public enum PpoCritic {
    SEPARATE, SHARED, VALUE_HEAD;

    /** The CLI's name: separate, shared, value-head. */
    public String cliName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    public static PpoCritic parse(String s) {
        for (PpoCritic c : values()) {
            if (c.cliName().equals(s) || c.name().equalsIgnoreCase(s)) {
                return c;
            }
        }
        throw new UserError("critic must be separate, shared or value-head, got '" + s + "'");
    }
}
