package dev.rlhf4j.cli;

import dev.rlhf4j.train.TrainingConfig;
import dev.rlhf4j.train.dpo.DpoConfig;
import dev.rlhf4j.train.grpo.GrpoConfig;
import dev.rlhf4j.train.ppo.PpoConfig;
import picocli.CommandLine;

import java.lang.reflect.RecordComponent;
import java.math.BigDecimal;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * The defaults of a training command's options, read from its config record ({@link TrainingConfig#DEFAULTS},
 * {@link PpoConfig#DEFAULTS}) under the option's snake_case name, so that they are written down once, in the
 * record. Options that are not record fields keep the default in their annotation. {@code --config FILE.yaml}
 * ({@link YamlDefaults}) sits in front of this and falls back to it.
 */
abstract class RecordDefaults implements CommandLine.IDefaultValueProvider {
    private final Map<String, String> values = new HashMap<>();

    /** {@code differences}: where the command starts elsewhere than the record; a null value: the annotation's. */
    RecordDefaults(Record defaults, Map<String, String> differences) {
        put(defaults);
        differences.forEach((k, v) -> {
            if (v == null) {
                values.remove(k);
            } else {
                values.put(k, v);
            }
        });
    }

    private void put(Record r) {
        for (RecordComponent c : r.getClass().getRecordComponents()) {
            Object v;
            try {
                v = c.getAccessor().invoke(r);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
            if (v instanceof Record nested) {
                put(nested); // the optimizer's fields are options of their own
            } else if (text(v) != null) {
                values.put(c.getName().replaceAll("([A-Z])", "_$1").toLowerCase(Locale.ROOT), text(v));
            }
        }
    }

    /** A value as a user would write it ({@code 5e-5} rather than {@code 5.0E-5}); null for "none". */
    private static String text(Object v) {
        return switch (v) {
            case null -> null;
            case Double d when d.isNaN() -> null;
            case Double d -> plain(new BigDecimal(d.toString()));
            case Float f -> plain(new BigDecimal(f.toString()));
            case Enum<?> e -> e.name().toLowerCase(Locale.ROOT);
            default -> v.toString();
        };
    }

    private static String plain(BigDecimal d) {
        BigDecimal s = d.stripTrailingZeros();
        if (s.signum() != 0 && s.abs().compareTo(new BigDecimal("0.001")) < 0) {
            // learning rates and epsilons: 5e-5, 2.5e-5, 1e-8
            String digits = s.unscaledValue().abs().toString();
            String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
            return (s.signum() < 0 ? "-" : "") + mantissa + "e" + (s.precision() - s.scale() - 1);
        }
        return s.scale() <= 0 ? s.setScale(1).toPlainString() : s.toPlainString();
    }

    @Override
    public String defaultValue(CommandLine.Model.ArgSpec arg) {
        if (!(arg instanceof CommandLine.Model.OptionSpec o) || !o.longestName().startsWith("--")) {
            return null;
        }
        return values.get(o.longestName().substring(2).replace('-', '_'));
    }

    /** Differences shared by the supervised commands: {@code --max-length -1} is 1024 or the model's maximum. */
    private static Map<String, String> training() {
        Map<String, String> d = new HashMap<>();
        d.put("max_length", null);
        return d;
    }

    /** {@code sft}, {@code reward train}. */
    static final class Training extends RecordDefaults {
        Training() {
            super(TrainingConfig.DEFAULTS, training());
        }
    }

    /** {@code pretrain}: a corpus is packed into full rows unless asked otherwise. */
    static final class Pretraining extends RecordDefaults {
        Pretraining() {
            super(TrainingConfig.DEFAULTS, withPacking());
        }

        private static Map<String, String> withPacking() {
            Map<String, String> d = training();
            d.put("packing", null);
            return d;
        }
    }

    /** {@code dpo}: TRL's DPOConfig, whose learning rate is 1e-6, with DPO's own settings. */
    static final class Dpo extends RecordDefaults {
        Dpo() {
            super(new Both(TrainingConfig.DEFAULTS, DpoConfig.DEFAULTS), withLearningRate());
        }

        private record Both(TrainingConfig training, DpoConfig dpo) {
        }

        private static Map<String, String> withLearningRate() {
            Map<String, String> d = training();
            d.put("learning_rate", "1e-6");
            return d;
        }
    }

    /** {@code ppo}: TRL's names; {@code --stop-token eos|none} is the record's {@code stopAtEos}. */
    static final class Ppo extends RecordDefaults {
        Ppo() {
            super(PpoConfig.DEFAULTS, Map.of("stop_token", PpoConfig.DEFAULTS.stopAtEos() ? "eos" : "none"));
        }
    }

    /**
     * {@code grpo}: TRL's names; {@code --stop-token eos|none} is the record's {@code stopAtEos}; {@code --kl-in} has
     * no default of its own (the estimator's: loss for grpo, reward for rloo and reinforce++).
     */
    static final class Grpo extends RecordDefaults {
        Grpo() {
            super(GrpoConfig.DEFAULTS, grpo());
        }

        private static Map<String, String> grpo() {
            Map<String, String> d = new HashMap<>();
            d.put("stop_token", GrpoConfig.DEFAULTS.stopAtEos() ? "eos" : "none");
            d.put("advantage", GrpoConfig.DEFAULTS.advantage().label());
            d.put("kl_in", null);
            return d;
        }
    }
}
