package dev.rlhf4j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * Causal multi-head scaled dot-product attention with grouped-query heads (Ainslie et al. 2023) and a key-padding
 * mask, over a packed projection {@code qkv[b, t, (H + 2·Hkv)·d]} laid out {@code [q heads | k heads | v heads]}.
 * Query head h reads key/value head {@code h / (H / Hkv)}, as HF's {@code repeat_kv}.
 *
 * <p>{@code P = softmax(q·kᵀ / √d)} over the keys {@code s ≤ t} that the mask keeps, computed with the row maximum
 * subtracted; a query with no visible key gets a zero output (and zero gradient) rather than NaN. The forward saves
 * P ({@code [b, H, t, t]}, lower triangle) for the backward:
 * <pre>
 *   dV_s += Σ_t P[t,s]·dO_t     dP[t,s] = dO_t·V_s     dS = P ⊙ (dP − rowsum(P ⊙ dP))
 *   dQ_t = Σ_s dS[t,s]·K_s / √d     dK_s += Σ_t dS[t,s]·Q_t / √d
 * </pre>
 * The forward runs one task per (batch, query head); the backward one task per (batch, key/value head), so that
 * the heads sharing a key/value head add their gradients in a fixed order.
 */
public final class Attention {
    private static final VectorSpecies<Float> S = Simd.F;
    private static final int L = Simd.L;

    /** The sizes of one attention call. */
    public record Dims(int batch, int seq, int heads, int kvHeads, int headDim) {
        public Dims {
            if (batch <= 0 || seq <= 0 || heads <= 0 || kvHeads <= 0 || headDim <= 0) {
                throw new IllegalArgumentException("attention: all sizes must be positive: " + this);
            }
            if (heads % kvHeads != 0) {
                throw new IllegalArgumentException("attention: " + heads + " query heads are not a multiple of "
                        + kvHeads + " key/value heads");
            }
        }

        public int qkvWidth() {
            return (heads + 2 * kvHeads) * headDim;
        }

        public int outWidth() {
            return heads * headDim;
        }

        /** Floats needed to keep the attention probabilities for the backward. */
        public long probsSize() {
            return (long) batch * heads * seq * seq;
        }
    }

    /** Per-worker scratch buffers, owned by the caller (a model workspace) and grown on demand. */
    public static final class Scratch {
        private final float[][] a;
        private final float[][] b;
        private final float[][] c;
        private final float[][] e;

        public Scratch(int workers) {
            a = new float[workers][];
            b = new float[workers][];
            c = new float[workers][];
            e = new float[workers][];
        }

        private static float[] grow(float[][] slot, int worker, int n) {
            float[] x = slot[worker];
            if (x == null || x.length < n) {
                x = new float[n];
                slot[worker] = x;
            }
            return x;
        }
    }

    private Attention() {
    }

    /**
     * {@code out[b, t, H·d]} from {@code qkv}; {@code keyMask[b·T + t]} is nonzero for real tokens (null: all real);
     * {@code probs} receives P.
     */
    public static void forward(Dims dims, Tensor qkv, int[] keyMask, Tensor out, float[] probs, Scratch scratch) {
        check(dims, qkv, keyMask, out, probs);
        int B = dims.batch(), T = dims.seq(), H = dims.heads(), hd = dims.headDim();
        int rep = H / dims.kvHeads(), W = dims.qkvWidth(), OW = dims.outWidth();
        int tp = roundUp(T, L);
        float scale = (float) (1.0 / Math.sqrt(hd));
        float[] x = qkv.data(), o = out.data();
        int xo = qkv.offset(), oo = out.offset();
        Scratch sc = scratch != null ? scratch : new Scratch(Parallel.global().threads());
        Parallel.global().forTasks(B * H, (task, worker) -> {
            int b = task / H, h = task % H, g = h / rep;
            float[] kt = Scratch.grow(sc.a, worker, hd * tp);
            float[] row = Scratch.grow(sc.b, worker, tp);
            int kCol = (H + g) * hd, vCol = (H + dims.kvHeads() + g) * hd;
            // K of this head transposed to kt[d][s], so a query's scores are a vector loop over keys.
            for (int s = 0; s < T; s++) {
                int src = xo + (b * T + s) * W + kCol;
                for (int d = 0; d < hd; d++) {
                    kt[d * tp + s] = x[src + d];
                }
            }
            for (int d = 0; d < hd; d++) {
                Arrays.fill(kt, d * tp + T, d * tp + tp, 0f);
            }
            for (int t = 0; t < T; t++) {
                int n = t + 1;
                int qAt = xo + (b * T + t) * W + h * hd;
                scores(x, qAt, scale, kt, tp, hd, row, roundUp(n, L));
                float max = Float.NEGATIVE_INFINITY;
                for (int s = 0; s < n; s++) {
                    if (keyMask != null && keyMask[b * T + s] == 0) {
                        row[s] = Float.NEGATIVE_INFINITY;
                    } else if (row[s] > max) {
                        max = row[s];
                    }
                }
                int pAt = ((b * H + h) * T + t) * T;
                int outAt = oo + (b * T + t) * OW + h * hd;
                if (max == Float.NEGATIVE_INFINITY) {
                    Arrays.fill(probs, pAt, pAt + n, 0f);
                    Arrays.fill(o, outAt, outAt + hd, 0f);
                    continue;
                }
                float sum = VecOps.expShiftSum(row, 0, n, max);
                float inv = 1f / sum;
                for (int s = 0; s < n; s++) {
                    probs[pAt + s] = row[s] * inv;
                }
                weightedRows(probs, pAt, n, x, xo + b * T * W + vCol, W, hd, o, outAt);
            }
        });
    }

    /**
     * Backward: writes {@code dqkv} (overwritten) from {@code dout}, using the saved {@code probs}. Positions of
     * masked keys get zero gradient.
     */
    public static void backward(Dims dims, Tensor dout, Tensor qkv, float[] probs, Tensor dqkv, Scratch scratch) {
        check(dims, qkv, null, dout, probs);
        if (dqkv.size() != qkv.size() || dqkv.cols() != qkv.cols()) {
            throw new IllegalArgumentException("attention backward: dqkv " + dqkv.shapeString() + " must match qkv "
                    + qkv.shapeString());
        }
        int B = dims.batch(), T = dims.seq(), H = dims.heads(), Hkv = dims.kvHeads(), hd = dims.headDim();
        int rep = H / Hkv, W = dims.qkvWidth(), OW = dims.outWidth();
        int tp = roundUp(T, L);
        float scale = (float) (1.0 / Math.sqrt(hd));
        float[] x = qkv.data(), go = dout.data(), gx = dqkv.data();
        int xo = qkv.offset(), goo = dout.offset(), gxo = dqkv.offset();
        Scratch sc = scratch != null ? scratch : new Scratch(Parallel.global().threads());
        Parallel.global().forTasks(B * Hkv, (task, worker) -> {
            int b = task / Hkv, g = task % Hkv;
            int kCol = (H + g) * hd, vCol = (H + Hkv + g) * hd;
            float[] vt = Scratch.grow(sc.a, worker, hd * tp);
            float[] row = Scratch.grow(sc.b, worker, tp);
            float[] dk = Scratch.grow(sc.c, worker, 2 * T * hd); // dK then dV, [s][d] each
            float[] dq = Scratch.grow(sc.e, worker, hd);
            Arrays.fill(dk, 0, 2 * T * hd, 0f);
            int dvOff = T * hd;
            for (int s = 0; s < T; s++) {
                int src = xo + (b * T + s) * W + vCol;
                for (int d = 0; d < hd; d++) {
                    vt[d * tp + s] = x[src + d];
                }
            }
            for (int d = 0; d < hd; d++) {
                Arrays.fill(vt, d * tp + T, d * tp + tp, 0f);
            }
            int kBase = xo + b * T * W + kCol;
            for (int h = g * rep; h < (g + 1) * rep; h++) {
                for (int t = 0; t < T; t++) {
                    int n = t + 1;
                    int pAt = ((b * H + h) * T + t) * T;
                    int gAt = goo + (b * T + t) * OW + h * hd;
                    int qAt = xo + (b * T + t) * W + h * hd;
                    // dP[t, s] = dO_t · V_s
                    scores(go, gAt, 1f, vt, tp, hd, row, roundUp(n, L));
                    float dot = VecOps.dot(probs, pAt, row, 0, n);
                    for (int s = 0; s < n; s++) {
                        row[s] = probs[pAt + s] * (row[s] - dot); // dS
                    }
                    // dQ_t = scale · Σ_s dS[s] K_s
                    weightedRows(row, 0, n, x, kBase, W, hd, dq, 0);
                    int dqAt = gxo + (b * T + t) * W + h * hd;
                    for (int d = 0; d < hd; d++) {
                        gx[dqAt + d] = dq[d] * scale;
                    }
                    // dK_s += scale · dS[s] Q_t;  dV_s += P[t, s] dO_t
                    for (int s = 0; s < n; s++) {
                        float ds = row[s] * scale, p = probs[pAt + s];
                        if (ds != 0f) {
                            VecOps.axpy(ds, x, qAt, dk, s * hd, hd);
                        }
                        if (p != 0f) {
                            VecOps.axpy(p, go, gAt, dk, dvOff + s * hd, hd);
                        }
                    }
                }
            }
            for (int s = 0; s < T; s++) {
                int row0 = gxo + (b * T + s) * W;
                System.arraycopy(dk, s * hd, gx, row0 + kCol, hd);
                System.arraycopy(dk, dvOff + s * hd, gx, row0 + vCol, hd);
            }
        });
    }

    /**
     * {@code out[s] = alpha · Σ_d q[d] · mt[d][s]} for {@code s < n} (n a multiple of the vector length): the dot
     * products of one query with all keys, as FMAs over blocks of keys kept in registers.
     */
    private static void scores(float[] q, int qAt, float alpha, float[] mt, int tp, int hd, float[] out, int n) {
        int s = 0;
        for (; s + 4 * L <= n; s += 4 * L) {
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S), a3 = FloatVector.zero(S);
            for (int d = 0; d < hd; d++) {
                FloatVector qd = FloatVector.broadcast(S, q[qAt + d]);
                int m = d * tp + s;
                a0 = qd.fma(FloatVector.fromArray(S, mt, m), a0);
                a1 = qd.fma(FloatVector.fromArray(S, mt, m + L), a1);
                a2 = qd.fma(FloatVector.fromArray(S, mt, m + 2 * L), a2);
                a3 = qd.fma(FloatVector.fromArray(S, mt, m + 3 * L), a3);
            }
            a0.mul(alpha).intoArray(out, s);
            a1.mul(alpha).intoArray(out, s + L);
            a2.mul(alpha).intoArray(out, s + 2 * L);
            a3.mul(alpha).intoArray(out, s + 3 * L);
        }
        for (; s < n; s += L) {
            FloatVector a0 = FloatVector.zero(S);
            for (int d = 0; d < hd; d++) {
                a0 = FloatVector.broadcast(S, q[qAt + d]).fma(FloatVector.fromArray(S, mt, d * tp + s), a0);
            }
            a0.mul(alpha).intoArray(out, s);
        }
    }

    /** {@code out[d] = Σ_{s<n} w[s] · m[s][d]} for {@code d < hd}, row s of m starting at {@code mAt + s·stride}. */
    private static void weightedRows(float[] w, int wAt, int n, float[] m, int mAt, int stride, int hd,
                                     float[] out, int outAt) {
        int d = 0;
        for (; d + L <= hd; d += L) {
            FloatVector acc = FloatVector.zero(S);
            for (int s = 0; s < n; s++) {
                float ws = w[wAt + s];
                if (ws != 0f) {
                    acc = FloatVector.broadcast(S, ws).fma(FloatVector.fromArray(S, m, mAt + s * stride + d), acc);
                }
            }
            acc.intoArray(out, outAt + d);
        }
        for (; d < hd; d++) {
            float acc = 0f;
            for (int s = 0; s < n; s++) {
                acc += w[wAt + s] * m[mAt + s * stride + d];
            }
            out[outAt + d] = acc;
        }
    }

    private static int roundUp(int n, int m) {
        return (n + m - 1) / m * m;
    }

    private static void check(Dims dims, Tensor qkv, int[] keyMask, Tensor out, float[] probs) {
        int rows = dims.batch() * dims.seq();
        if (qkv.cols() != dims.qkvWidth() || qkv.rows() != rows) {
            throw new IllegalArgumentException("attention: qkv " + qkv.shapeString() + " should be [" + dims.batch()
                    + ", " + dims.seq() + ", " + dims.qkvWidth() + "] for " + dims);
        }
        if (out.cols() != dims.outWidth() || out.rows() != rows) {
            throw new IllegalArgumentException("attention: output " + out.shapeString() + " should be [" + dims.batch()
                    + ", " + dims.seq() + ", " + dims.outWidth() + "] for " + dims);
        }
        if (probs.length < dims.probsSize()) {
            throw new IllegalArgumentException("attention: probability buffer of " + probs.length + " floats, need "
                    + dims.probsSize());
        }
        if (keyMask != null && keyMask.length < rows) {
            throw new IllegalArgumentException("attention: mask of " + keyMask.length + " entries for " + rows
                    + " positions");
        }
    }
}
