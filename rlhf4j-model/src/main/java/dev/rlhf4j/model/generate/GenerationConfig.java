package dev.rlhf4j.model.generate;
import dev.rlhf4j.tensor.UserError;

import java.util.List;

/**
 * How to generate, with HF's names: {@code maxNewTokens}; {@code temperature} (0 = greedy); {@code topK} (0 = off);
 * {@code topP} (1 = off); the {@code seed} of the sampler; the ids that end a sequence ({@code eosIds}); and
 * {@code stopStrings} that end it once they appear in its text.
 */
public record GenerationConfig(int maxNewTokens, float temperature, int topK, float topP, long seed, int[] eosIds,
                               List<String> stopStrings) {

    public GenerationConfig {
        if (maxNewTokens <= 0) {
            throw new UserError("max new tokens must be positive, got " + maxNewTokens);
        }
        if (!(temperature >= 0f) || Float.isInfinite(temperature)) {
            throw new UserError("temperature must be a finite number >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new UserError("top-k must be >= 0 (0 = off), got " + topK);
        }
        if (!(topP > 0f && topP <= 1f)) {
            throw new UserError("top-p must be in (0, 1], got " + topP);
        }
        eosIds = eosIds == null ? new int[0] : eosIds.clone();
        stopStrings = stopStrings == null ? List.of() : List.copyOf(stopStrings);
        for (String s : stopStrings) {
            if (s.isEmpty()) {
                throw new UserError("stop strings must not be empty");
            }
        }
    }

    /** Sampling at temperature 1 with no filtering, as PPO rollouts do. */
    public static GenerationConfig sampling(int maxNewTokens, long seed, int... eosIds) {
        return new GenerationConfig(maxNewTokens, 1f, 0, 1f, seed, eosIds, List.of());
    }

    /** Greedy decoding. */
    public static GenerationConfig greedy(int maxNewTokens, int... eosIds) {
        return new GenerationConfig(maxNewTokens, 0f, 0, 1f, 0, eosIds, List.of());
    }

    boolean isEos(int token) {
        for (int e : eosIds) {
            if (e == token) {
                return true;
            }
        }
        return false;
    }
}
