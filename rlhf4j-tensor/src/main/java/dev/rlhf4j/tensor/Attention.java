package dev.rlhf4j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
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
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, S.vectorShape());
    /** Lane of the second of {@link VMath#sum4}'s four sums. */
    private static final int Q4 = VMath.SUM4_STRIDE;
    /** Queries (or keys) handled together by the register-tiled loops. */
    private static final int TILE = 4;

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

    /**
     * Per-worker scratch buffers, owned by the caller (a model workspace) and grown on demand: to the pool's worker
     * count at the start of each kernel (the shared pool can be replaced by one of another size between calls), and
     * each worker's buffer to the size it needs.
     */
    public static final class Scratch {
        private float[][] a = new float[0][];
        private float[][] b = new float[0][];
        private float[][] c = new float[0][];

        public Scratch() {
        }

        /** Room for {@code workers} workers from the start. */
        public Scratch(int workers) {
            forWorkers(workers);
        }

        /** Makes room for {@code workers} workers; called before a parallel region, never inside one. */
        Scratch forWorkers(int workers) {
            if (a.length < workers) {
                a = Arrays.copyOf(a, workers);
                b = Arrays.copyOf(b, workers);
                c = Arrays.copyOf(c, workers);
            }
            return this;
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
        forward(dims, qkv, keyMask, null, out, probs, scratch);
    }

    /**
     * As {@link #forward(Dims, Tensor, int[], Tensor, float[], Scratch)}, with several documents packed in one row:
     * the query at row {@code b·T + t} sees only keys {@code s ≥ keyStart[b·T + t]} (the first position of its
     * document), so no attention crosses a document boundary. {@code keyStart} null means 0 everywhere. The backward
     * needs nothing more: the saved probabilities are zero for the keys a query does not see.
     */
    public static void forward(Dims dims, Tensor qkv, int[] keyMask, int[] keyStart, Tensor out, float[] probs,
                               Scratch scratch) {
        check(dims, qkv, keyMask, out, probs);
        if (keyStart != null && keyStart.length < dims.batch() * dims.seq()) {
            throw new IllegalArgumentException("attention: " + keyStart.length + " segment starts for "
                    + dims.batch() * dims.seq() + " positions");
        }
        int B = dims.batch(), T = dims.seq(), H = dims.heads(), hd = dims.headDim();
        int rep = H / dims.kvHeads(), W = dims.qkvWidth(), OW = dims.outWidth();
        int tp = roundUp(T, L);
        float scale = (float) (1.0 / Math.sqrt(hd));
        float[] x = qkv.data(), o = out.data();
        int xo = qkv.offset(), oo = out.offset();
        Parallel pool = Parallel.global();
        Scratch sc = (scratch != null ? scratch : new Scratch()).forWorkers(pool.threads());
        pool.forTasks(B * H, (task, worker) -> {
            int b = task / H, h = task % H, g = h / rep;
            float[] kt = Scratch.grow(sc.a, worker, hd * tp);
            float[] rows = Scratch.grow(sc.b, worker, TILE * tp);
            int kCol = (H + g) * hd, vCol = (H + dims.kvHeads() + g) * hd;
            transpose(x, xo + b * T * W + kCol, W, T, hd, kt, tp);
            int vBase = xo + b * T * W + vCol;
            int pBase = (b * H + h) * T * T;
            int t0 = 0;
            for (; t0 + TILE <= T; t0 += TILE) {
                int q0 = xo + (b * T + t0) * W + h * hd;
                scores4(x, q0, q0 + W, q0 + 2 * W, q0 + 3 * W, scale, kt, tp, hd, rows, roundUp(t0 + TILE, L));
                for (int r = 0; r < TILE; r++) {
                    softmaxRow(rows, r * tp, keyMask, b * T, t0 + r, start(keyStart, b * T + t0 + r), probs,
                            pBase + (t0 + r) * T, t0 + TILE);
                }
                int p0 = pBase + t0 * T, o0 = oo + (b * T + t0) * OW + h * hd;
                weighted4(probs, p0, p0 + T, p0 + 2 * T, p0 + 3 * T, t0 + TILE, x, vBase, W, hd, o,
                        o0, o0 + OW, o0 + 2 * OW, o0 + 3 * OW, 1f);
            }
            for (int t = t0; t < T; t++) {
                int qAt = xo + (b * T + t) * W + h * hd;
                scores(x, qAt, scale, kt, tp, hd, rows, 0, roundUp(t + 1, L));
                int pAt = pBase + t * T;
                softmaxRow(rows, 0, keyMask, b * T, t, start(keyStart, b * T + t), probs, pAt, Math.min(T, t0 + TILE));
                weightedRows(probs, pAt, t + 1, x, vBase, W, hd, o, oo + (b * T + t) * OW + h * hd);
            }
        });
    }

    /**
     * P[t, s] for {@code s ≤ t} from the scores in {@code row[at + s]}: masked keys excluded, maximum subtracted;
     * zeros for {@code t < s < zeroTo} (the rest of the row's tile) and for a row without any visible key.
     */
    private static void softmaxRow(float[] row, int at, int[] keyMask, int maskBase, int t, int first, float[] probs,
                                   int pAt, int zeroTo) {
        int n = t + 1;
        if (first < 0 || first > t) {
            throw new IllegalArgumentException("attention: segment start " + first + " for position " + t
                    + " is not in [0, " + t + "]");
        }
        Arrays.fill(row, at, at + first, Float.NEGATIVE_INFINITY);
        float max = Float.NEGATIVE_INFINITY;
        if (keyMask == null) {
            max = VecOps.max(row, at + first, n - first);
        } else {
            for (int s = first; s < n; s++) {
                if (keyMask[maskBase + s] == 0) {
                    row[at + s] = Float.NEGATIVE_INFINITY;
                } else if (row[at + s] > max) {
                    max = row[at + s];
                }
            }
        }
        if (max == Float.NEGATIVE_INFINITY) {
            Arrays.fill(probs, pAt, pAt + Math.max(n, zeroTo), 0f);
            return;
        }
        float sum = VecOps.expShiftSum(row, at, n, max);
        VecOps.scaleInto(row, at, probs, pAt, n, 1f / sum);
        if (zeroTo > n) {
            Arrays.fill(probs, pAt + n, pAt + zeroTo, 0f);
        }
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
        Parallel pool = Parallel.global();
        Scratch sc = (scratch != null ? scratch : new Scratch()).forWorkers(pool.threads());
        pool.forTasks(B * Hkv, (task, worker) -> {
            int b = task / Hkv, g = task % Hkv;
            int kCol = (H + g) * hd, vCol = (H + Hkv + g) * hd;
            float[] vt = Scratch.grow(sc.a, worker, hd * tp);
            float[] ds = Scratch.grow(sc.b, worker, T * tp);
            float[] acc = Scratch.grow(sc.c, worker, 2 * T * hd); // dK then dV, [s][d] each
            Arrays.fill(acc, 0, 2 * T * hd, 0f);
            int dvOff = T * hd;
            transpose(x, xo + b * T * W + vCol, W, T, hd, vt, tp);
            int kBase = xo + b * T * W + kCol;
            for (int h = g * rep; h < (g + 1) * rep; h++) {
                int pBase = (b * H + h) * T * T;
                int gBase = goo + b * T * OW + h * hd;
                int qBase = xo + b * T * W + h * hd;
                // dS[t, s] = P[t, s] (dP[t, s] − Σ_s' P[t, s'] dP[t, s']),  dP[t, s] = dO_t · V_s
                int t0 = 0;
                for (; t0 + TILE <= T; t0 += TILE) {
                    int g0 = gBase + t0 * OW;
                    scores4(go, g0, g0 + OW, g0 + 2 * OW, g0 + 3 * OW, 1f, vt, tp, hd, ds, t0 * tp,
                            roundUp(t0 + TILE, L));
                    for (int r = 0; r < TILE; r++) {
                        scoreGrad(ds, (t0 + r) * tp, probs, pBase + (t0 + r) * T, t0 + r, t0 + TILE);
                    }
                    int d0 = gxo + (b * T + t0) * W + h * hd, s0 = t0 * tp;
                    weighted4(ds, s0, s0 + tp, s0 + 2 * tp, s0 + 3 * tp, t0 + TILE, x, kBase, W, hd, gx,
                            d0, d0 + W, d0 + 2 * W, d0 + 3 * W, scale);
                }
                for (int t = t0; t < T; t++) {
                    scores(go, gBase + t * OW, 1f, vt, tp, hd, ds, t * tp, roundUp(t + 1, L));
                    scoreGrad(ds, t * tp, probs, pBase + t * T, t, Math.min(tp, t0 + TILE));
                    int dqAt = gxo + (b * T + t) * W + h * hd;
                    weightedRows(ds, t * tp, t + 1, x, kBase, W, hd, gx, dqAt);
                    for (int d = 0; d < hd; d++) {
                        gx[dqAt + d] *= scale;
                    }
                }
                // dK_s += scale Σ_t dS[t, s] Q_t;  dV_s += Σ_t P[t, s] dO_t  (t ≥ s)
                int s0 = 0;
                for (; s0 + TILE <= T; s0 += TILE) {
                    transposed4(ds, s0 * tp, tp, s0, T, x, qBase + s0 * W, W, hd, acc, s0 * hd, scale);
                    transposed4(probs, pBase + s0 * T, T, s0, T, go, gBase + s0 * OW, OW, hd, acc, dvOff + s0 * hd, 1f);
                }
                for (int s = s0; s < T; s++) {
                    for (int t = s; t < T; t++) {
                        float dsv = ds[t * tp + s] * scale, p = probs[pBase + t * T + s];
                        if (dsv != 0f) {
                            VecOps.axpy(dsv, x, qBase + t * W, acc, s * hd, hd);
                        }
                        if (p != 0f) {
                            VecOps.axpy(p, go, gBase + t * OW, acc, dvOff + s * hd, hd);
                        }
                    }
                }
            }
            for (int s = 0; s < T; s++) {
                int row0 = gxo + (b * T + s) * W;
                System.arraycopy(acc, s * hd, gx, row0 + kCol, hd);
                System.arraycopy(acc, dvOff + s * hd, gx, row0 + vCol, hd);
            }
        });
    }

    /**
     * Copies the keys and values of {@code dims.seq()} new tokens (rows of {@code qkv}, RoPE already applied) into a
     * generation cache at slots {@code [start, start + seq)}. Both caches hold, per (batch, key/value head), tiles
     * of L slots (L the vector length), each tile transposed: {@code kc[(b·Hkv + g)·cap·hd + (s/L)·hd·L + d·L +
     * s%L]}, and the same for {@code vc}. So a query's scores and its weighted sum of values are vector loops over
     * slots, and the slots a query reads are one contiguous run of memory (which the hardware prefetches; rows of
     * {@code cap} slots per dimension would be {@code 2·hd} short streams). {@code cap} must be a multiple of
     * {@link #cacheAlign()}.
     */
    public static void appendToCache(Dims dims, Tensor qkv, float[] kc, float[] vc, int cap, int start) {
        int B = dims.batch(), Tn = dims.seq(), H = dims.heads(), Hkv = dims.kvHeads(), hd = dims.headDim();
        int W = dims.qkvWidth();
        checkCache(dims, qkv, kc, vc, cap, start);
        float[] x = qkv.data();
        int xo = qkv.offset();
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < Tn; t++) {
                int row = xo + (b * Tn + t) * W, slot = start + t;
                for (int g = 0; g < Hkv; g++) {
                    int kAt = row + (H + g) * hd, vAt = row + (H + Hkv + g) * hd;
                    int at = (b * Hkv + g) * hd * cap + slot / L * hd * L + slot % L;
                    for (int d = 0; d < hd; d++) {
                        kc[at + d * L] = x[kAt + d];
                        vc[at + d * L] = x[vAt + d];
                    }
                }
            }
        }
    }

    /** Generation caches must have a capacity that is a multiple of this (the vector length). */
    public static int cacheAlign() {
        return L;
    }

    /**
     * Attention of {@code dims.seq()} new queries (rows of {@code qkv}, at cache slots {@code [start, start + seq)})
     * over the cache filled by {@link #appendToCache}: query t sees slots {@code s ≤ start + t} that
     * {@code keyMask[b·cap + s]} keeps (null: all). Writes {@code out[b·seq + t, H·hd]}; nothing is kept for a
     * backward.
     *
     * <p>One task per (sequence, key/value head): the query heads that share a key/value head are taken two at a
     * time, so each cached key and value is read once for both. Per query: scores {@code q·k_s/√d} for the visible
     * slots, {@code e_s = exp(score_s − max)}, then {@code out = (Σ_s e_s·v_s) / Σ_s e_s} (the normalisation is
     * applied to the {@code hd} outputs rather than to every weight).
     */
    public static void forwardCached(Dims dims, Tensor qkv, float[] kc, float[] vc, int cap, int start, int[] keyMask,
                                     Tensor out, Scratch scratch) {
        int B = dims.batch(), Tn = dims.seq(), H = dims.heads(), Hkv = dims.kvHeads(), hd = dims.headDim();
        int rep = H / Hkv, W = dims.qkvWidth(), OW = dims.outWidth();
        checkCache(dims, qkv, kc, vc, cap, start);
        if (out.rows() != B * Tn || out.cols() != OW) {
            throw new IllegalArgumentException("attention: output " + out.shapeString() + " should be [" + B * Tn + ", "
                    + OW + "]");
        }
        if (keyMask != null && keyMask.length < B * cap) {
            throw new IllegalArgumentException("attention: cache mask of " + keyMask.length + " for " + B + " x "
                    + cap);
        }
        float scale = (float) (1.0 / Math.sqrt(hd));
        float[] x = qkv.data(), o = out.data();
        int xo = qkv.offset(), oo = out.offset();
        Parallel pool = Parallel.global();
        Scratch sc = (scratch != null ? scratch : new Scratch()).forWorkers(pool.threads());
        Parallel.TaskBody body = (task, worker) -> {
            int b = task / Hkv, g = task % Hkv;
            // two score rows, one per query head of a pair
            float[] rows = Scratch.grow(sc.b, worker, 2 * cap);
            int base = (b * Hkv + g) * hd * cap;
            // does any visible slot hold padding? (usually none once a prompt is past its left padding)
            boolean padded = keyMask != null && anyZero(keyMask, b * cap, b * cap + start + Tn);
            for (int t = 0; t < Tn; t++) {
                int n = start + t + 1, nUp = roundUp(n, L);
                int qRow = xo + (b * Tn + t) * W, oRow = oo + (b * Tn + t) * OW;
                int h = g * rep, hEnd = h + rep;
                for (; h + 2 <= hEnd; h += 2) {
                    int q0 = qRow + h * hd, o0 = oRow + h * hd;
                    scores2(x, q0, q0 + hd, scale, kc, base, hd, rows, cap, nUp);
                    float inv0 = softmaxCached(rows, 0, n, padded ? keyMask : null, b * cap);
                    float inv1 = softmaxCached(rows, cap, n, padded ? keyMask : null, b * cap);
                    if (inv0 != 0f && inv1 != 0f) {
                        weighted2(rows, cap, n, vc, base, hd, inv0, inv1, o, o0, o0 + hd);
                    } else {
                        cachedOutput(rows, 0, n, vc, base, hd, inv0, o, o0);
                        cachedOutput(rows, cap, n, vc, base, hd, inv1, o, o0 + hd);
                    }
                }
                if (h < hEnd) {
                    int q0 = qRow + h * hd;
                    scores1(x, q0, scale, kc, base, hd, rows, nUp);
                    float inv = softmaxCached(rows, 0, n, padded ? keyMask : null, b * cap);
                    cachedOutput(rows, 0, n, vc, base, hd, inv, o, oRow + h * hd);
                }
            }
        };
        long work = (long) B * H * Tn * (start + Tn) * hd;
        if (work < (1L << 15)) {
            for (int task = 0; task < B * Hkv; task++) {
                body.run(task, 0);
            }
        } else {
            pool.forTasks(B * Hkv, body);
        }
    }

    /** Whether {@code a[from, to)} holds a zero. */
    private static boolean anyZero(int[] a, int from, int to) {
        int i = from;
        for (; i + I.length() <= to; i += I.length()) {
            if (IntVector.fromArray(I, a, i).compare(VectorOperators.EQ, 0).anyTrue()) {
                return true;
            }
        }
        for (; i < to; i++) {
            if (a[i] == 0) {
                return true;
            }
        }
        return false;
    }

    /**
     * Softmax numerators of one cached query's scores {@code row[at, at + n)} in place ({@code e_s = exp(score_s −
     * max)}, 0 for slots the mask drops), returning {@code 1 / Σ e_s}, or 0 when no slot is visible. The row must
     * have room up to the next multiple of L.
     */
    private static float softmaxCached(float[] row, int at, int n, int[] keyMask, int maskAt) {
        int full = n / L * L;
        VectorMask<Float> tail = S.indexInRange(full, n);
        float max;
        if (keyMask == null) {
            FloatVector m = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
            for (int s = 0; s < full; s += L) {
                m = m.max(FloatVector.fromArray(S, row, at + s));
            }
            if (full < n) {
                m = m.max(FloatVector.fromArray(S, row, at + full, tail));
            }
            max = m.reduceLanes(VectorOperators.MAX);
        } else {
            max = Float.NEGATIVE_INFINITY;
            for (int s = 0; s < n; s++) {
                if (keyMask[maskAt + s] == 0) {
                    row[at + s] = Float.NEGATIVE_INFINITY;
                } else if (row[at + s] > max) {
                    max = row[at + s];
                }
            }
        }
        if (max == Float.NEGATIVE_INFINITY) {
            return 0f;
        }
        // the row has room up to the next multiple of L: the last vector is whole, its lanes past n left out of the
        // sum (they may hold anything; the weighted sums mask them off too)
        FloatVector shift = FloatVector.broadcast(S, max), sum = FloatVector.zero(S);
        for (int s = 0; s < full; s += L) {
            FloatVector e = VMath.exp(FloatVector.fromArray(S, row, at + s).sub(shift));
            e.intoArray(row, at + s);
            sum = sum.add(e);
        }
        if (full < n) {
            FloatVector e = VMath.exp(FloatVector.fromArray(S, row, at + full).sub(shift));
            e.intoArray(row, at + full);
            sum = sum.add(e, tail);
        }
        return 1f / VMath.sum(sum);
    }

    /** One query's output {@code out[at, at + hd) = inv·Σ_s e_s·v_s}, or zeros when {@code inv} is 0 (no key). */
    private static void cachedOutput(float[] e, int eAt, int n, float[] vt, int base, int hd, float inv,
                                     float[] out, int at) {
        if (inv == 0f) {
            Arrays.fill(out, at, at + hd, 0f);
        } else {
            weighted1(e, eAt, n, vt, base, hd, inv, out, at);
        }
    }

    /**
     * Scores of two queries against the tiled keys: {@code out[s] = alpha Σ_d q0[d]·k_s[d]} and the same for q1 into
     * {@code out[off2 + s]}, for {@code s < n} (a multiple of L). Each key vector is loaded once for both.
     */
    private static void scores2(float[] q, int q0, int q1, float alpha, float[] kt, int kAt, int hd, float[] out,
                                int off2, int n) {
        int s = 0, tile = hd * L;
        for (; s + 2 * L <= n; s += 2 * L) {
            FloatVector a00 = FloatVector.zero(S), a01 = FloatVector.zero(S), a10 = FloatVector.zero(S),
                    a11 = FloatVector.zero(S);
            int m = kAt + s * hd;
            for (int d = 0; d < hd; d++, m += L) {
                FloatVector x0 = FloatVector.broadcast(S, q[q0 + d]), x1 = FloatVector.broadcast(S, q[q1 + d]);
                FloatVector k0 = FloatVector.fromArray(S, kt, m), k1 = FloatVector.fromArray(S, kt, m + tile);
                a00 = x0.fma(k0, a00);
                a01 = x0.fma(k1, a01);
                a10 = x1.fma(k0, a10);
                a11 = x1.fma(k1, a11);
            }
            a00.mul(alpha).intoArray(out, s);
            a01.mul(alpha).intoArray(out, s + L);
            a10.mul(alpha).intoArray(out, off2 + s);
            a11.mul(alpha).intoArray(out, off2 + s + L);
        }
        for (; s < n; s += L) {
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S);
            int m = kAt + s * hd;
            for (int d = 0; d < hd; d++, m += L) {
                FloatVector k0 = FloatVector.fromArray(S, kt, m);
                a0 = FloatVector.broadcast(S, q[q0 + d]).fma(k0, a0);
                a1 = FloatVector.broadcast(S, q[q1 + d]).fma(k0, a1);
            }
            a0.mul(alpha).intoArray(out, s);
            a1.mul(alpha).intoArray(out, off2 + s);
        }
    }

    /** {@link #scores2} for one query, into {@code out[0, n)}. */
    private static void scores1(float[] q, int q0, float alpha, float[] kt, int kAt, int hd, float[] out, int n) {
        int s = 0, tile = hd * L;
        for (; s + 2 * L <= n; s += 2 * L) {
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S);
            int m = kAt + s * hd;
            for (int d = 0; d < hd; d++, m += L) {
                FloatVector x0 = FloatVector.broadcast(S, q[q0 + d]);
                a0 = x0.fma(FloatVector.fromArray(S, kt, m), a0);
                a1 = x0.fma(FloatVector.fromArray(S, kt, m + tile), a1);
            }
            a0.mul(alpha).intoArray(out, s);
            a1.mul(alpha).intoArray(out, s + L);
        }
        for (; s < n; s += L) {
            FloatVector a0 = FloatVector.zero(S);
            int m = kAt + s * hd;
            for (int d = 0; d < hd; d++, m += L) {
                a0 = FloatVector.broadcast(S, q[q0 + d]).fma(FloatVector.fromArray(S, kt, m), a0);
            }
            a0.mul(alpha).intoArray(out, s);
        }
    }

    /**
     * Two queries' outputs from their numerators {@code e[s]} and {@code e[off2 + s]} over the tiled values:
     * {@code out0[d] = inv0·Σ_{s<n} e[s]·v_s[d]}, likewise out1; four dimensions at a time, their lane sums
     * folded together ({@link VMath#sum4}), each value vector loaded once for both queries. Slots from n to the
     * next multiple of L are masked off (they may hold an earlier sequence's values).
     */
    private static void weighted2(float[] e, int off2, int n, float[] vt, int base, int hd, float inv0,
                                  float inv1, float[] out, int o0, int o1) {
        int d = 0;
        int full = n / L * L;
        VectorMask<Float> tail = S.indexInRange(full, n);
        for (; VMath.SUM4 && d + 4 <= hd; d += 4) {
            // dimension d of slots [s, s + L) is the vector at base + s·hd + d·L
            int v0 = base + d * L, v1 = v0 + L, v2 = v1 + L, v3 = v2 + L;
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                    a3 = FloatVector.zero(S), b0 = FloatVector.zero(S), b1 = FloatVector.zero(S),
                    b2 = FloatVector.zero(S), b3 = FloatVector.zero(S);
            for (int s = 0; s < full; s += L) {
                int t = s * hd;
                FloatVector e0 = FloatVector.fromArray(S, e, s), e1 = FloatVector.fromArray(S, e, off2 + s);
                FloatVector x0 = FloatVector.fromArray(S, vt, v0 + t), x1 = FloatVector.fromArray(S, vt, v1 + t),
                        x2 = FloatVector.fromArray(S, vt, v2 + t), x3 = FloatVector.fromArray(S, vt, v3 + t);
                a0 = x0.fma(e0, a0);
                a1 = x1.fma(e0, a1);
                a2 = x2.fma(e0, a2);
                a3 = x3.fma(e0, a3);
                b0 = x0.fma(e1, b0);
                b1 = x1.fma(e1, b1);
                b2 = x2.fma(e1, b2);
                b3 = x3.fma(e1, b3);
            }
            if (full < n) {
                int t = full * hd;
                FloatVector e0 = FloatVector.fromArray(S, e, full, tail),
                        e1 = FloatVector.fromArray(S, e, off2 + full, tail);
                FloatVector x0 = FloatVector.fromArray(S, vt, v0 + t, tail),
                        x1 = FloatVector.fromArray(S, vt, v1 + t, tail),
                        x2 = FloatVector.fromArray(S, vt, v2 + t, tail),
                        x3 = FloatVector.fromArray(S, vt, v3 + t, tail);
                a0 = x0.fma(e0, a0);
                a1 = x1.fma(e0, a1);
                a2 = x2.fma(e0, a2);
                a3 = x3.fma(e0, a3);
                b0 = x0.fma(e1, b0);
                b1 = x1.fma(e1, b1);
                b2 = x2.fma(e1, b2);
                b3 = x3.fma(e1, b3);
            }
            FloatVector ra = VMath.sum4(a0, a1, a2, a3), rb = VMath.sum4(b0, b1, b2, b3);
            out[o0 + d] = ra.lane(0) * inv0;
            out[o0 + d + 1] = ra.lane(Q4) * inv0;
            out[o0 + d + 2] = ra.lane(2 * Q4) * inv0;
            out[o0 + d + 3] = ra.lane(3 * Q4) * inv0;
            out[o1 + d] = rb.lane(0) * inv1;
            out[o1 + d + 1] = rb.lane(Q4) * inv1;
            out[o1 + d + 2] = rb.lane(2 * Q4) * inv1;
            out[o1 + d + 3] = rb.lane(3 * Q4) * inv1;
        }
        for (; d < hd; d++) {
            out[o0 + d] = weightedDim(e, 0, n, vt, base + d * L, hd, full, tail) * inv0;
            out[o1 + d] = weightedDim(e, off2, n, vt, base + d * L, hd, full, tail) * inv1;
        }
    }

    /** {@link #weighted2} for one query. */
    private static void weighted1(float[] e, int eAt, int n, float[] vt, int base, int hd, float inv,
                                  float[] out, int o) {
        int d = 0;
        int full = n / L * L;
        VectorMask<Float> tail = S.indexInRange(full, n);
        for (; VMath.SUM4 && d + 4 <= hd; d += 4) {
            // dimension d of slots [s, s + L) is the vector at base + s·hd + d·L
            int v0 = base + d * L, v1 = v0 + L, v2 = v1 + L, v3 = v2 + L;
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                    a3 = FloatVector.zero(S);
            for (int s = 0; s < full; s += L) {
                int t = s * hd;
                FloatVector e0 = FloatVector.fromArray(S, e, eAt + s);
                a0 = FloatVector.fromArray(S, vt, v0 + t).fma(e0, a0);
                a1 = FloatVector.fromArray(S, vt, v1 + t).fma(e0, a1);
                a2 = FloatVector.fromArray(S, vt, v2 + t).fma(e0, a2);
                a3 = FloatVector.fromArray(S, vt, v3 + t).fma(e0, a3);
            }
            if (full < n) {
                int t = full * hd;
                FloatVector e0 = FloatVector.fromArray(S, e, eAt + full, tail);
                a0 = FloatVector.fromArray(S, vt, v0 + t, tail).fma(e0, a0);
                a1 = FloatVector.fromArray(S, vt, v1 + t, tail).fma(e0, a1);
                a2 = FloatVector.fromArray(S, vt, v2 + t, tail).fma(e0, a2);
                a3 = FloatVector.fromArray(S, vt, v3 + t, tail).fma(e0, a3);
            }
            FloatVector r = VMath.sum4(a0, a1, a2, a3);
            out[o + d] = r.lane(0) * inv;
            out[o + d + 1] = r.lane(Q4) * inv;
            out[o + d + 2] = r.lane(2 * Q4) * inv;
            out[o + d + 3] = r.lane(3 * Q4) * inv;
        }
        for (; d < hd; d++) {
            out[o + d] = weightedDim(e, eAt, n, vt, base + d * L, hd, full, tail) * inv;
        }
    }

    /**
     * {@code Σ_{s<n} e[eAt + s]·v_s[d]} for one dimension d (its vectors at {@code vAt + s·hd}), with the slots from
     * {@code full} on masked by {@code tail}.
     */
    private static float weightedDim(float[] e, int eAt, int n, float[] vt, int vAt, int hd, int full,
                                     VectorMask<Float> tail) {
        FloatVector a = FloatVector.zero(S);
        for (int s = 0; s < full; s += L) {
            a = FloatVector.fromArray(S, vt, vAt + s * hd).fma(FloatVector.fromArray(S, e, eAt + s), a);
        }
        if (full < n) {
            a = FloatVector.fromArray(S, vt, vAt + full * hd, tail).fma(FloatVector.fromArray(S, e, eAt + full, tail),
                    a);
        }
        return VMath.sum(a);
    }

    private static void checkCache(Dims dims, Tensor qkv, float[] kc, float[] vc, int cap, int start) {
        int rows = dims.batch() * dims.seq();
        if (qkv.cols() != dims.qkvWidth() || qkv.rows() != rows) {
            throw new IllegalArgumentException("attention: qkv " + qkv.shapeString() + " should be [" + rows + ", "
                    + dims.qkvWidth() + "] for " + dims);
        }
        if (cap % L != 0 || start < 0 || start + dims.seq() > cap) {
            throw new IllegalArgumentException("attention: slots [" + start + ", " + (start + dims.seq())
                    + ") do not fit a cache of " + cap + " (a multiple of " + L + ")");
        }
        long need = (long) dims.batch() * dims.kvHeads() * dims.headDim() * cap;
        if (kc.length < need || vc.length < need) {
            throw new IllegalArgumentException("attention: cache arrays hold " + Math.min(kc.length, vc.length)
                    + " floats, need " + need);
        }
    }

    private static int start(int[] keyStart, int row) {
        return keyStart == null ? 0 : keyStart[row];
    }

    /** Turns dP into dS in place for row t (stored at {@code ds[at..]}): zero for {@code t < s < zeroTo}. */
    private static void scoreGrad(float[] ds, int at, float[] probs, int pAt, int t, int zeroTo) {
        int n = t + 1;
        float dot = VecOps.dot(probs, pAt, ds, at, n);
        VecOps.mulShifted(probs, pAt, ds, at, n, dot);
        if (zeroTo > n) {
            Arrays.fill(ds, at + n, at + zeroTo, 0f);
        }
    }

    /** {@code mt[d·tp + s] = m[mAt + s·stride + d]} for s < rows, zero-padded to tp. */
    private static void transpose(float[] m, int mAt, int stride, int rows, int hd, float[] mt, int tp) {
        for (int s = 0; s < rows; s++) {
            int src = mAt + s * stride;
            for (int d = 0; d < hd; d++) {
                mt[d * tp + s] = m[src + d];
            }
        }
        for (int d = 0; d < hd; d++) {
            Arrays.fill(mt, d * tp + rows, d * tp + tp, 0f);
        }
    }

    /**
     * Four rows at once: {@code out[r·tp + s] = alpha Σ_d q_r[d] · mt[d][s]} for {@code s < n} (n a multiple of the
     * vector length), a 4 x 2-vector register tile walking the head dimension (each loaded key vector is used four
     * times).
     */
    private static void scores4(float[] q, int q0, int q1, int q2, int q3, float alpha, float[] mt, int tp, int hd,
                                float[] out, int n) {
        scores4(q, q0, q1, q2, q3, alpha, mt, tp, hd, out, 0, n);
    }

    private static void scores4(float[] q, int q0, int q1, int q2, int q3, float alpha, float[] mt, int tp, int hd,
                                float[] out, int outAt, int n) {
        int s = 0;
        for (; s + 2 * L <= n; s += 2 * L) {
            FloatVector a00 = FloatVector.zero(S), a01 = FloatVector.zero(S), a10 = FloatVector.zero(S),
                    a11 = FloatVector.zero(S), a20 = FloatVector.zero(S), a21 = FloatVector.zero(S),
                    a30 = FloatVector.zero(S), a31 = FloatVector.zero(S);
            for (int d = 0; d < hd; d++) {
                int m = d * tp + s;
                FloatVector k0 = FloatVector.fromArray(S, mt, m), k1 = FloatVector.fromArray(S, mt, m + L);
                FloatVector b0 = FloatVector.broadcast(S, q[q0 + d]);
                a00 = b0.fma(k0, a00);
                a01 = b0.fma(k1, a01);
                FloatVector b1 = FloatVector.broadcast(S, q[q1 + d]);
                a10 = b1.fma(k0, a10);
                a11 = b1.fma(k1, a11);
                FloatVector b2 = FloatVector.broadcast(S, q[q2 + d]);
                a20 = b2.fma(k0, a20);
                a21 = b2.fma(k1, a21);
                FloatVector b3 = FloatVector.broadcast(S, q[q3 + d]);
                a30 = b3.fma(k0, a30);
                a31 = b3.fma(k1, a31);
            }
            a00.mul(alpha).intoArray(out, outAt + s);
            a01.mul(alpha).intoArray(out, outAt + s + L);
            a10.mul(alpha).intoArray(out, outAt + tp + s);
            a11.mul(alpha).intoArray(out, outAt + tp + s + L);
            a20.mul(alpha).intoArray(out, outAt + 2 * tp + s);
            a21.mul(alpha).intoArray(out, outAt + 2 * tp + s + L);
            a30.mul(alpha).intoArray(out, outAt + 3 * tp + s);
            a31.mul(alpha).intoArray(out, outAt + 3 * tp + s + L);
        }
        for (; s < n; s += L) {
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                    a3 = FloatVector.zero(S);
            for (int d = 0; d < hd; d++) {
                FloatVector k0 = FloatVector.fromArray(S, mt, d * tp + s);
                a0 = FloatVector.broadcast(S, q[q0 + d]).fma(k0, a0);
                a1 = FloatVector.broadcast(S, q[q1 + d]).fma(k0, a1);
                a2 = FloatVector.broadcast(S, q[q2 + d]).fma(k0, a2);
                a3 = FloatVector.broadcast(S, q[q3 + d]).fma(k0, a3);
            }
            a0.mul(alpha).intoArray(out, outAt + s);
            a1.mul(alpha).intoArray(out, outAt + tp + s);
            a2.mul(alpha).intoArray(out, outAt + 2 * tp + s);
            a3.mul(alpha).intoArray(out, outAt + 3 * tp + s);
        }
    }

    /**
     * Four rows at once: {@code out_r[d] = alpha Σ_{s<n} w_r[s] · m[s][d]} (overwriting), rows of m at
     * {@code mAt + s·stride}; each loaded row of m is used by the four weight rows.
     */
    private static void weighted4(float[] w, int w0, int w1, int w2, int w3, int n, float[] m, int mAt, int stride,
                                  int hd, float[] out, int o0, int o1, int o2, int o3, float alpha) {
        int d = 0;
        for (; d + 2 * L <= hd; d += 2 * L) {
            FloatVector a00 = FloatVector.zero(S), a01 = FloatVector.zero(S), a10 = FloatVector.zero(S),
                    a11 = FloatVector.zero(S), a20 = FloatVector.zero(S), a21 = FloatVector.zero(S),
                    a30 = FloatVector.zero(S), a31 = FloatVector.zero(S);
            for (int s = 0; s < n; s++) {
                int at = mAt + s * stride + d;
                FloatVector v0 = FloatVector.fromArray(S, m, at), v1 = FloatVector.fromArray(S, m, at + L);
                FloatVector p0 = FloatVector.broadcast(S, w[w0 + s]);
                a00 = p0.fma(v0, a00);
                a01 = p0.fma(v1, a01);
                FloatVector p1 = FloatVector.broadcast(S, w[w1 + s]);
                a10 = p1.fma(v0, a10);
                a11 = p1.fma(v1, a11);
                FloatVector p2 = FloatVector.broadcast(S, w[w2 + s]);
                a20 = p2.fma(v0, a20);
                a21 = p2.fma(v1, a21);
                FloatVector p3 = FloatVector.broadcast(S, w[w3 + s]);
                a30 = p3.fma(v0, a30);
                a31 = p3.fma(v1, a31);
            }
            a00.mul(alpha).intoArray(out, o0 + d);
            a01.mul(alpha).intoArray(out, o0 + d + L);
            a10.mul(alpha).intoArray(out, o1 + d);
            a11.mul(alpha).intoArray(out, o1 + d + L);
            a20.mul(alpha).intoArray(out, o2 + d);
            a21.mul(alpha).intoArray(out, o2 + d + L);
            a30.mul(alpha).intoArray(out, o3 + d);
            a31.mul(alpha).intoArray(out, o3 + d + L);
        }
        for (; d + L <= hd; d += L) {
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                    a3 = FloatVector.zero(S);
            for (int s = 0; s < n; s++) {
                FloatVector v0 = FloatVector.fromArray(S, m, mAt + s * stride + d);
                a0 = FloatVector.broadcast(S, w[w0 + s]).fma(v0, a0);
                a1 = FloatVector.broadcast(S, w[w1 + s]).fma(v0, a1);
                a2 = FloatVector.broadcast(S, w[w2 + s]).fma(v0, a2);
                a3 = FloatVector.broadcast(S, w[w3 + s]).fma(v0, a3);
            }
            a0.mul(alpha).intoArray(out, o0 + d);
            a1.mul(alpha).intoArray(out, o1 + d);
            a2.mul(alpha).intoArray(out, o2 + d);
            a3.mul(alpha).intoArray(out, o3 + d);
        }
        for (; d < hd; d++) {
            float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f;
            for (int s = 0; s < n; s++) {
                float v = m[mAt + s * stride + d];
                a0 += w[w0 + s] * v;
                a1 += w[w1 + s] * v;
                a2 += w[w2 + s] * v;
                a3 += w[w3 + s] * v;
            }
            out[o0 + d] = a0 * alpha;
            out[o1 + d] = a1 * alpha;
            out[o2 + d] = a2 * alpha;
            out[o3 + d] = a3 * alpha;
        }
    }

    /**
     * Four keys at once: {@code acc[(s0+k)·hd + d] += alpha Σ_{t=s0}^{tEnd−1} w[t][s0+k] · m_t[d]} for k < 4, with
     * weight row t at {@code wAt + (t − s0)·wStride} and m row t at {@code mAt + (t − s0)·mStride}. Weights above the
     * diagonal ({@code s > t}) must be zero.
     */
    private static void transposed4(float[] w, int wAt, int wStride, int s0, int tEnd, float[] m, int mAt,
                                    int mStride, int hd, float[] acc, int accAt, float alpha) {
        int rows = tEnd - s0;
        int d = 0;
        for (; d + 2 * L <= hd; d += 2 * L) {
            FloatVector a00 = FloatVector.zero(S), a01 = FloatVector.zero(S), a10 = FloatVector.zero(S),
                    a11 = FloatVector.zero(S), a20 = FloatVector.zero(S), a21 = FloatVector.zero(S),
                    a30 = FloatVector.zero(S), a31 = FloatVector.zero(S);
            for (int i = 0; i < rows; i++) {
                int at = mAt + i * mStride + d, wr = wAt + i * wStride + s0;
                FloatVector v0 = FloatVector.fromArray(S, m, at), v1 = FloatVector.fromArray(S, m, at + L);
                FloatVector p0 = FloatVector.broadcast(S, w[wr]);
                a00 = p0.fma(v0, a00);
                a01 = p0.fma(v1, a01);
                FloatVector p1 = FloatVector.broadcast(S, w[wr + 1]);
                a10 = p1.fma(v0, a10);
                a11 = p1.fma(v1, a11);
                FloatVector p2 = FloatVector.broadcast(S, w[wr + 2]);
                a20 = p2.fma(v0, a20);
                a21 = p2.fma(v1, a21);
                FloatVector p3 = FloatVector.broadcast(S, w[wr + 3]);
                a30 = p3.fma(v0, a30);
                a31 = p3.fma(v1, a31);
            }
            addInto(acc, accAt + d, a00, alpha);
            addInto(acc, accAt + d + L, a01, alpha);
            addInto(acc, accAt + hd + d, a10, alpha);
            addInto(acc, accAt + hd + d + L, a11, alpha);
            addInto(acc, accAt + 2 * hd + d, a20, alpha);
            addInto(acc, accAt + 2 * hd + d + L, a21, alpha);
            addInto(acc, accAt + 3 * hd + d, a30, alpha);
            addInto(acc, accAt + 3 * hd + d + L, a31, alpha);
        }
        for (; d + L <= hd; d += L) {
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                    a3 = FloatVector.zero(S);
            for (int i = 0; i < rows; i++) {
                int wr = wAt + i * wStride + s0;
                FloatVector v0 = FloatVector.fromArray(S, m, mAt + i * mStride + d);
                a0 = FloatVector.broadcast(S, w[wr]).fma(v0, a0);
                a1 = FloatVector.broadcast(S, w[wr + 1]).fma(v0, a1);
                a2 = FloatVector.broadcast(S, w[wr + 2]).fma(v0, a2);
                a3 = FloatVector.broadcast(S, w[wr + 3]).fma(v0, a3);
            }
            addInto(acc, accAt + d, a0, alpha);
            addInto(acc, accAt + hd + d, a1, alpha);
            addInto(acc, accAt + 2 * hd + d, a2, alpha);
            addInto(acc, accAt + 3 * hd + d, a3, alpha);
        }
        for (; d < hd; d++) {
            float a0 = 0f, a1 = 0f, a2 = 0f, a3 = 0f;
            for (int i = 0; i < rows; i++) {
                int wr = wAt + i * wStride + s0;
                float v = m[mAt + i * mStride + d];
                a0 += w[wr] * v;
                a1 += w[wr + 1] * v;
                a2 += w[wr + 2] * v;
                a3 += w[wr + 3] * v;
            }
            acc[accAt + d] += a0 * alpha;
            acc[accAt + hd + d] += a1 * alpha;
            acc[accAt + 2 * hd + d] += a2 * alpha;
            acc[accAt + 3 * hd + d] += a3 * alpha;
        }
    }

    private static void addInto(float[] acc, int at, FloatVector v, float alpha) {
        FloatVector.fromArray(S, acc, at).add(v.mul(alpha)).intoArray(acc, at);
    }

    /** One row: {@code out[outAt + s] = alpha Σ_d q[d] · mt[d][s]} for {@code s < n} (n a multiple of L). */
    private static void scores(float[] q, int qAt, float alpha, float[] mt, int tp, int hd, float[] out, int outAt,
                               int n) {
        scoresFrom(q, qAt, alpha, mt, 0, tp, hd, out, outAt, n);
    }

    /** Four blocks of keys at a time, so that four independent accumulators hide the FMA latency. */
    private static void scoresFrom(float[] q, int qAt, float alpha, float[] mt, int mtAt, int tp, int hd, float[] out,
                                   int outAt, int n) {
        int s = 0;
        for (; s + 4 * L <= n; s += 4 * L) {
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                    a3 = FloatVector.zero(S);
            for (int d = 0; d < hd; d++) {
                FloatVector qd = FloatVector.broadcast(S, q[qAt + d]);
                int m = mtAt + d * tp + s;
                a0 = qd.fma(FloatVector.fromArray(S, mt, m), a0);
                a1 = qd.fma(FloatVector.fromArray(S, mt, m + L), a1);
                a2 = qd.fma(FloatVector.fromArray(S, mt, m + 2 * L), a2);
                a3 = qd.fma(FloatVector.fromArray(S, mt, m + 3 * L), a3);
            }
            a0.mul(alpha).intoArray(out, outAt + s);
            a1.mul(alpha).intoArray(out, outAt + s + L);
            a2.mul(alpha).intoArray(out, outAt + s + 2 * L);
            a3.mul(alpha).intoArray(out, outAt + s + 3 * L);
        }
        for (; s < n; s += L) {
            FloatVector a0 = FloatVector.zero(S);
            for (int d = 0; d < hd; d++) {
                a0 = FloatVector.broadcast(S, q[qAt + d]).fma(FloatVector.fromArray(S, mt, mtAt + d * tp + s), a0);
            }
            a0.mul(alpha).intoArray(out, outAt + s);
        }
    }

    /** One row: {@code out[outAt + d] = Σ_{s<n} w[wAt + s] · m[mAt + s·stride + d]} for {@code d < hd}. */
    private static void weightedRows(float[] w, int wAt, int n, float[] m, int mAt, int stride, int hd,
                                     float[] out, int outAt) {
        int d = 0;
        for (; d + L <= hd; d += L) {
            // four partial sums over interleaved keys hide the FMA latency; combined in a fixed order
            FloatVector a0 = FloatVector.zero(S), a1 = FloatVector.zero(S), a2 = FloatVector.zero(S),
                    a3 = FloatVector.zero(S);
            int s = 0;
            for (; s + 4 <= n; s += 4) {
                int at = mAt + s * stride + d;
                a0 = FloatVector.broadcast(S, w[wAt + s]).fma(FloatVector.fromArray(S, m, at), a0);
                a1 = FloatVector.broadcast(S, w[wAt + s + 1]).fma(FloatVector.fromArray(S, m, at + stride), a1);
                a2 = FloatVector.broadcast(S, w[wAt + s + 2]).fma(FloatVector.fromArray(S, m, at + 2 * stride), a2);
                a3 = FloatVector.broadcast(S, w[wAt + s + 3]).fma(FloatVector.fromArray(S, m, at + 3 * stride), a3);
            }
            for (; s < n; s++) {
                a0 = FloatVector.broadcast(S, w[wAt + s]).fma(FloatVector.fromArray(S, m, mAt + s * stride + d), a0);
            }
            a0.add(a1).add(a2.add(a3)).intoArray(out, outAt + d);
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
