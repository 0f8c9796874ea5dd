package dev.rlhf4j.bench;

import dev.rlhf4j.tensor.Activations;
import dev.rlhf4j.tensor.AdamW;
import dev.rlhf4j.tensor.Attention;
import dev.rlhf4j.tensor.CrossEntropy;
import dev.rlhf4j.tensor.LayerNorm;
import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.Parallel;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.concurrent.TimeUnit;

/**
 * The non-GEMM kernels of a GPT-2-small training step on 4 x 256 tokens: attention forward and backward,
 * LayerNorm, GELU, cross-entropy over the full vocabulary for 256 rows, and AdamW over 10M parameters.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class KernelBench {
    private static final int B = 4, T = 256, H = 12, HD = 64, D = 768, V = 50257, CE_ROWS = 256;

    private final Attention.Dims dims = new Attention.Dims(B, T, H, H, HD);
    private Tensor qkv, att, datt, dqkv, x, y, w, bias, fc, act, logits, logitsWork;
    private float[] probs, mean, rstd;
    private int[] targets;
    private Attention.Scratch scratch;
    private ParamArena params, grads;
    private AdamW adamw;

    @Setup(Level.Trial)
    public void setup() {
        Rng rng = new Rng(3);
        int n = B * T;
        qkv = Tensor.zeros(n, 3 * D);
        rng.fillNormal(qkv, 1);
        att = Tensor.zeros(n, D);
        datt = Tensor.zeros(n, D);
        rng.fillNormal(datt, 1);
        dqkv = Tensor.zeros(n, 3 * D);
        probs = new float[(int) dims.probsSize()];
        scratch = new Attention.Scratch(Parallel.global().threads());
        x = Tensor.zeros(n, D);
        rng.fillNormal(x, 1);
        y = Tensor.zeros(n, D);
        w = Tensor.zeros(D);
        w.fill(1f);
        bias = Tensor.zeros(D);
        mean = new float[n];
        rstd = new float[n];
        fc = Tensor.zeros(n, 4 * D);
        rng.fillNormal(fc, 1);
        act = Tensor.zeros(n, 4 * D);
        logits = Tensor.zeros(CE_ROWS, V);
        rng.fillNormal(logits, 2);
        logitsWork = Tensor.zeros(CE_ROWS, V);
        targets = new int[CE_ROWS];
        for (int i = 0; i < CE_ROWS; i++) {
            targets[i] = rng.nextInt(V);
        }
        params = new ParamArena.Layout().add("w", true, 10_000_000).allocate();
        grads = params.zerosLike();
        rng.fillNormal(grads.get("w"), 1);
        adamw = new AdamW(AdamW.Config.defaults(0.1f), params);
        Attention.forward(dims, qkv, null, att, probs, scratch);
    }

    @Benchmark
    public Tensor attentionForward() {
        Attention.forward(dims, qkv, null, att, probs, scratch);
        return att;
    }

    @Benchmark
    public Tensor attentionBackward() {
        Attention.backward(dims, datt, qkv, probs, dqkv, scratch);
        return dqkv;
    }

    @Benchmark
    public Tensor layerNormForward() {
        LayerNorm.forward(x, w, bias, y, mean, rstd, 1e-5f);
        return y;
    }

    @Benchmark
    public Tensor geluForward() {
        Activations.geluForward(fc, act);
        return act;
    }

    @Benchmark
    public double crossEntropyFused() {
        logitsWork.copyFrom(logits);
        return CrossEntropy.forward(logitsWork, targets, null, 1f / CE_ROWS, true, null);
    }

    @Benchmark
    public ParamArena adamW() {
        adamw.update(params, grads, 1e-4f);
        return params;
    }
}
