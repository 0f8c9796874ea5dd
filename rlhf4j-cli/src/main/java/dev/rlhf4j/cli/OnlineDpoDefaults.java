package dev.rlhf4j.cli;

import dev.rlhf4j.train.online.OnlineDpoConfig;

import java.util.Map;

/** {@code online-dpo}'s defaults: {@link OnlineDpoConfig#DEFAULTS} under TRL's names. */
final class OnlineDpoDefaults extends RecordDefaults {
    OnlineDpoDefaults() {
        super(OnlineDpoConfig.DEFAULTS, Map.of());
    }
}
