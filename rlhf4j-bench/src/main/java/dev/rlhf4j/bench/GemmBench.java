package dev.rlhf4j.bench;

import dev.rlhf4j.tensor.Gemm;
import dev.rlhf4j.tensor.OpenBlas;
import dev.rlhf4j.tensor.Rng;
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
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * GEMM {@code C = A·Bᵀ} of transformer shapes: rlhf4j's pool-parallel GEMM on each backend, and the raw OpenBLAS
 * call with OpenBLAS's own threads (the baseline of the "≥ 95% of raw BLAS" target).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class GemmBench {
    /** m x n x k: GPT-2-small's MLP up-projection on 1024 tokens, its attention projection, a dim-64 model's. */
    @Param({"1024x3072x768", "1024x768x768", "8192x256x64"})
    public String shape;

    private int m, n, k;
    private float[] a, b, c;

    @Setup(Level.Trial)
    public void setup() {
        String[] p = shape.split("x");
        m = Integer.parseInt(p[0]);
        n = Integer.parseInt(p[1]);
        k = Integer.parseInt(p[2]);
        Rng rng = new Rng(1);
        a = new float[m * k];
        b = new float[n * k];
        c = new float[m * n];
        for (int i = 0; i < a.length; i++) {
            a[i] = rng.nextFloat();
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = rng.nextFloat();
        }
    }

    @TearDown(Level.Trial)
    public void restore() {
        Gemm.setBackend(Gemm.autoBackend());
    }

    @Benchmark
    public float[] rlhf4jBlas() {
        Gemm.setBackend(Gemm.Backend.BLAS);
        Gemm.matmulNT(a, b, c, m, n, k, false);
        return c;
    }

    @Benchmark
    public float[] rlhf4jJava() {
        Gemm.setBackend(Gemm.Backend.JAVA);
        Gemm.matmulNT(a, b, c, m, n, k, false);
        return c;
    }

    @Benchmark
    public float[] rawOpenBlasThreads() {
        OpenBlas.setThreads(Runtime.getRuntime().availableProcessors());
        try {
            Gemm.blasRaw(false, true, m, n, k, 1f, a, 0, k, b, 0, k, 0f, c, 0, n);
        } finally {
            OpenBlas.setThreads(1);
        }
        return c;
    }
}
