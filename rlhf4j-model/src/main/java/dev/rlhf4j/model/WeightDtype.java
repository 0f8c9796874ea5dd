package dev.rlhf4j.model;

import dev.rlhf4j.tensor.Bf16Matrix;
import dev.rlhf4j.tensor.F32Matrix;
import dev.rlhf4j.tensor.Q8Matrix;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.WeightMatrix;

import java.util.Locale;

/**
 * How a model's matrices are stored: float32 (trainable), or packed for a frozen model and for generation, bfloat16
 * (half the bytes, 8 significant bits) or GGUF's Q8_0 (int8 with a scale per 32 weights). Arithmetic is float32 in
 * every case.
 */
public enum WeightDtype {
    FP32("fp32"), BF16("bf16"), Q8_0("q8_0");

    private final String label;

    WeightDtype(String label) {
        this.label = label;
    }

    /** The name on the command line and in reports: fp32, bf16 or q8_0. */
    public String label() {
        return label;
    }

    /** fp32, bf16 or q8_0 (any case; f32 and float32, bfloat16, q8 also accepted). */
    public static WeightDtype parse(String s) {
        return switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "fp32", "f32", "float32" -> FP32;
            case "bf16", "bfloat16" -> BF16;
            case "q8_0", "q8" -> Q8_0;
            default -> throw new IllegalArgumentException("weight dtype must be fp32, bf16 or q8_0, got '" + s + "'");
        };
    }

    /** {@code w} in this storage: a view of it for FP32, else a packed copy (rounded to nearest or quantised). */
    public WeightMatrix pack(Tensor w) {
        return switch (this) {
            case FP32 -> new F32Matrix(w);
            case BF16 -> Bf16Matrix.of(w);
            case Q8_0 -> Q8Matrix.quantize(w);
        };
    }
}
