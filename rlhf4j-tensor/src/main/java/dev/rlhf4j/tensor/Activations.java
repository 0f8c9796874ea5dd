package dev.rlhf4j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Element-wise activations with their backward: GELU in its tanh form (GPT-2; PyTorch
 * {@code F.gelu(x, approximate="tanh")}), SiLU, and the SwiGLU product {@code silu(gate) * up} of Llama's MLP
 * (Shazeer 2020) over a fused {@code [gate | up]} projection.
 */
public final class Activations {
    private static final VectorSpecies<Float> S = Simd.F;
    private static final int L = Simd.L;
    private static final float GELU_K = (float) Math.sqrt(2.0 / Math.PI);
    private static final float GELU_C = 0.044715f;
    private static final int BLOCK = 4096;

    private Activations() {
    }

    /** {@code out = 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))}. */
    public static void geluForward(Tensor x, Tensor out) {
        sameSize("gelu", x, out);
        float[] xd = x.data(), od = out.data();
        int xo = x.offset(), oo = out.offset(), n = x.size();
        Parallel.global().forBlocks(n, BLOCK, (block, worker) -> {
            int lo = block * BLOCK, hi = Math.min(n, lo + BLOCK);
            int i = lo;
            FloatVector half = FloatVector.broadcast(S, 0.5f), one = FloatVector.broadcast(S, 1f);
            for (; i + L <= hi; i += L) {
                FloatVector v = FloatVector.fromArray(S, xd, xo + i);
                FloatVector u = v.mul(v).mul(v).mul(GELU_C).add(v).mul(GELU_K);
                v.mul(half).mul(VMath.tanh(u).add(one)).intoArray(od, oo + i);
            }
            for (; i < hi; i++) {
                float v = xd[xo + i];
                float u = ((v * v * v) * GELU_C + v) * GELU_K;
                od[oo + i] = 0.5f * v * (1f + VMath.tanh(u));
            }
        });
    }

    /** {@code dx = dout · gelu'(x)}; {@code dx} may be the same tensor as {@code dout}. */
    public static void geluBackward(Tensor x, Tensor dout, Tensor dx) {
        sameSize("gelu backward", x, dout);
        sameSize("gelu backward", x, dx);
        float[] xd = x.data(), gd = dout.data(), dd = dx.data();
        int xo = x.offset(), go = dout.offset(), d0 = dx.offset(), n = x.size();
        Parallel.global().forBlocks(n, BLOCK, (block, worker) -> {
            int lo = block * BLOCK, hi = Math.min(n, lo + BLOCK);
            int i = lo;
            FloatVector half = FloatVector.broadcast(S, 0.5f), one = FloatVector.broadcast(S, 1f);
            for (; i + L <= hi; i += L) {
                FloatVector v = FloatVector.fromArray(S, xd, xo + i);
                FloatVector v2 = v.mul(v);
                FloatVector t = VMath.tanh(v2.mul(v).mul(GELU_C).add(v).mul(GELU_K));
                FloatVector du = v2.mul(3f * GELU_C).add(one).mul(GELU_K);
                FloatVector grad = half.mul(one.add(t)).add(v.mul(half).mul(one.sub(t.mul(t))).mul(du));
                grad.mul(FloatVector.fromArray(S, gd, go + i)).intoArray(dd, d0 + i);
            }
            for (; i < hi; i++) {
                float v = xd[xo + i];
                float t = VMath.tanh(((v * v * v) * GELU_C + v) * GELU_K);
                float du = ((v * v) * (3f * GELU_C) + 1f) * GELU_K;
                float grad = 0.5f * (1f + t) + 0.5f * v * (1f - t * t) * du;
                dd[d0 + i] = grad * gd[go + i];
            }
        });
    }

    /** {@code out = x σ(x)}. */
    public static void siluForward(Tensor x, Tensor out) {
        sameSize("silu", x, out);
        float[] xd = x.data(), od = out.data();
        int xo = x.offset(), oo = out.offset(), n = x.size();
        Parallel.global().forBlocks(n, BLOCK, (block, worker) -> {
            int lo = block * BLOCK, hi = Math.min(n, lo + BLOCK);
            int i = lo;
            for (; i + L <= hi; i += L) {
                FloatVector v = FloatVector.fromArray(S, xd, xo + i);
                v.mul(sigmoid(v)).intoArray(od, oo + i);
            }
            for (; i < hi; i++) {
                float v = xd[xo + i];
                od[oo + i] = v * sigmoid(v);
            }
        });
    }

    /** {@code dx = dout · σ(x)(1 + x(1 − σ(x)))}; {@code dx} may be the same tensor as {@code dout}. */
    public static void siluBackward(Tensor x, Tensor dout, Tensor dx) {
        sameSize("silu backward", x, dout);
        sameSize("silu backward", x, dx);
        float[] xd = x.data(), gd = dout.data(), dd = dx.data();
        int xo = x.offset(), go = dout.offset(), d0 = dx.offset(), n = x.size();
        Parallel.global().forBlocks(n, BLOCK, (block, worker) -> {
            int lo = block * BLOCK, hi = Math.min(n, lo + BLOCK);
            for (int i = lo; i < hi; i++) {
                float v = xd[xo + i];
                float s = sigmoid(v);
                dd[d0 + i] = gd[go + i] * s * (1f + v * (1f - s));
            }
        });
    }

    /**
     * SwiGLU over a fused projection: {@code gateUp} is {@code [n, 2h]} with the gate in columns {@code [0, h)} and
     * the up projection in {@code [h, 2h)}; {@code out[n, h] = silu(gate) * up}.
     */
    public static void swigluForward(Tensor gateUp, Tensor out) {
        int n = gateUp.rows(), h = out.cols();
        checkSwiglu(gateUp, out);
        float[] in = gateUp.data(), od = out.data();
        int io = gateUp.offset(), oo = out.offset();
        Parallel.global().forRange(n, 8 * h, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int g0 = io + r * 2 * h, u0 = g0 + h, o0 = oo + r * h;
                int j = 0;
                for (; j + L <= h; j += L) {
                    FloatVector g = FloatVector.fromArray(S, in, g0 + j);
                    FloatVector u = FloatVector.fromArray(S, in, u0 + j);
                    g.mul(sigmoid(g)).mul(u).intoArray(od, o0 + j);
                }
                for (; j < h; j++) {
                    float g = in[g0 + j];
                    od[o0 + j] = g * sigmoid(g) * in[u0 + j];
                }
            }
        });
    }

    /** Backward of {@link #swigluForward}: writes {@code dGateUp} (overwritten) from {@code dout}. */
    public static void swigluBackward(Tensor gateUp, Tensor dout, Tensor dGateUp) {
        int n = gateUp.rows(), h = dout.cols();
        checkSwiglu(gateUp, dout);
        sameSize("swiglu backward", gateUp, dGateUp);
        float[] in = gateUp.data(), gd = dout.data(), dd = dGateUp.data();
        int io = gateUp.offset(), go = dout.offset(), d0 = dGateUp.offset();
        Parallel.global().forRange(n, 16 * h, (lo, hi) -> {
            for (int r = lo; r < hi; r++) {
                int g0 = io + r * 2 * h, u0 = g0 + h, o0 = go + r * h, dg0 = d0 + r * 2 * h, du0 = dg0 + h;
                for (int j = 0; j < h; j++) {
                    float g = in[g0 + j], u = in[u0 + j], dy = gd[o0 + j];
                    float s = sigmoid(g);
                    float silu = g * s;
                    dd[dg0 + j] = dy * u * s * (1f + g * (1f - s));
                    dd[du0 + j] = dy * silu;
                }
            }
        });
    }

    private static float sigmoid(float x) {
        return VMath.sigmoid(x);
    }

    private static FloatVector sigmoid(FloatVector x) {
        return VMath.sigmoid(x);
    }

    private static void sameSize(String what, Tensor a, Tensor b) {
        if (a.size() != b.size()) {
            throw new IllegalArgumentException(what + ": shapes " + a.shapeString() + " and " + b.shapeString()
                    + " differ in size");
        }
    }

    private static void checkSwiglu(Tensor gateUp, Tensor out) {
        if (gateUp.cols() != 2 * out.cols() || gateUp.rows() != out.rows()) {
            throw new IllegalArgumentException("swiglu: fused gate/up " + gateUp.shapeString()
                    + " must be [n, 2h] for output " + out.shapeString());
        }
    }
}
