package dev.rlhf4j.cli;

import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.tensor.UserError;
import picocli.CommandLine;

import java.util.Iterator;
import java.util.List;
import java.util.Locale;

/**
 * The values an option takes from a fixed list, given to picocli as both the option's converter and its completion
 * candidates: a value not in the list is a usage error while the command line is parsed (before any work), and a
 * value from a {@code --config} file gets the same check. Matching ignores case; the value is passed on in lower case.
 */
abstract class Choice implements CommandLine.ITypeConverter<String>, Iterable<String> {
    private final List<String> values;

    Choice(String... values) {
        this.values = List.of(values);
    }

    @Override
    public String convert(String value) {
        String v = value.strip().toLowerCase(Locale.ROOT);
        if (!values.contains(v)) {
            throw new CommandLine.TypeConversionException("'" + value + "' is not one of " + String.join(", ", values));
        }
        return v;
    }

    @Override
    public Iterator<String> iterator() {
        return values.iterator();
    }

    /**
     * {@code --report-to} of the training commands and ppo (HF's {@code report_to}, with what rlhf4j has): one target
     * or several comma-separated ({@code jsonl,tensorboard}).
     */
    static final class ReportTo extends Choice {
        ReportTo() {
            super(dev.rlhf4j.train.RunReport.NAMES.toArray(String[]::new));
        }

        @Override
        public String convert(String value) {
            try {
                return dev.rlhf4j.train.RunReport.check(value.strip());
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** {@code --lr-scheduler-type}. */
    static final class LrScheduler extends Choice {
        LrScheduler() {
            super("linear", "cosine", "constant");
        }
    }

    /** {@code --save-dtype} of the training commands and ppo. */
    static final class SaveDtype extends Choice {
        SaveDtype() {
            super("f32", "bf16");
        }

        /** The dtype named by a {@code --save-dtype} value. */
        static Safetensors.DType dtype(String name) {
            return switch (name.toLowerCase(Locale.ROOT)) {
                case "f32" -> Safetensors.DType.F32;
                case "bf16" -> Safetensors.DType.BF16;
                default -> throw new UserError("--save-dtype must be f32 or bf16, got '" + name + "'");
            };
        }
    }

    /** {@code convert --dtype}. */
    static final class ConvertDtype extends Choice {
        ConvertDtype() {
            super("f32", "bf16", "f16", "float32", "bfloat16", "float16");
        }
    }

    /** {@code ppo --stop-token}. */
    static final class StopToken extends Choice {
        StopToken() {
            super("eos", "none");
        }
    }

    /** {@code ppo --kl-estimator}. */
    static final class KlEstimator extends Choice {
        KlEstimator() {
            super("k1", "k3");
        }
    }

    /** {@code grpo --advantage}. */
    static final class Advantage extends Choice {
        Advantage() {
            super("grpo", "rloo", "reinforce++");
        }
    }

    /** {@code grpo --loss-type}. */
    static final class GrpoLossType extends Choice {
        GrpoLossType() {
            super("grpo", "bnpo", "dr_grpo");
        }
    }

    /** {@code grpo --kl-in}. */
    static final class KlIn extends Choice {
        KlIn() {
            super("loss", "reward");
        }
    }

    /** {@code simulate-preferences --judge}. */
    static final class Judge extends Choice {
        Judge() {
            super("happy-endings");
        }
    }

    /** {@code bench --gemm}. */
    static final class GemmBackend extends Choice {
        GemmBackend() {
            super("auto", "blas", "java");
        }
    }

    /** {@code bench --only}. */
    static final class BenchMeasurement extends Choice {
        BenchMeasurement() {
            super("train", "decode", "gemm", "ppo", "dpo");
        }
    }
}
