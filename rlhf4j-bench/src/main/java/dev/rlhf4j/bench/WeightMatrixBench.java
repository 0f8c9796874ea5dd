package dev.rlhf4j.bench;

import dev.rlhf4j.tensor.Bf16Matrix;
import dev.rlhf4j.tensor.F32Matrix;
import dev.rlhf4j.tensor.Q8Matrix;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.WeightMatrix;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * A linear layer during batched decoding, {@code y[n, out] = x[n, in]·Wᵀ}, with W stored as float32, bfloat16 or
 * Q8_0: GPT-2 small's MLP up-projection ({@code c_fc}, 3072×768) and its tied output head (50257×768). At n = 4 the
 * multiply is bound by reading W, so the time should follow {@link WeightMatrix#bytes()}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class WeightMatrixBench {
    /** out×in of W. */
    @Param({"3072x768", "50257x768"})
    public String shape;
    @Param({"f32", "bf16", "q8_0"})
    public String dtype;
    @Param({"4"})
    public int n;

    private WeightMatrix w;
    private Tensor x, y;

    @Setup(Level.Trial)
    public void setup() {
        String[] p = shape.split("x");
        int out = Integer.parseInt(p[0]), in = Integer.parseInt(p[1]);
        Rng rng = new Rng(5);
        Tensor f = Tensor.zeros(out, in);
        rng.fillNormal(f, 0.02f);
        w = switch (dtype) {
            case "f32" -> new F32Matrix(f);
            case "bf16" -> Bf16Matrix.of(f);
            case "q8_0" -> Q8Matrix.quantize(f);
            default -> throw new IllegalArgumentException("dtype " + dtype);
        };
        x = Tensor.zeros(n, in);
        rng.fillNormal(x, 1f);
        y = Tensor.zeros(n, out);
    }

    @Benchmark
    public float forward() {
        w.forward(x, null, y);
        return y.data()[0];
    }
}
