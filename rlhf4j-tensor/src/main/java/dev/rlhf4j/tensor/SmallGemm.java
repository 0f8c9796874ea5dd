package dev.rlhf4j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code C = alpha·A·Bᵀ + beta·C} for a few rows of A (token-by-token generation: one row per sequence), as
 * vectorised dot products that stream each row of B (a weight matrix, {@code [out, in]}) once for all rows of A;
 * the lane sums of four dot products are folded together ({@link VMath#sum4}).
 * A native GEMM call costs more than the multiply at these sizes, and the work is bound by reading B anyway.
 * Parallel over fixed blocks of output columns when B is large, so results do not depend on the thread count.
 */
final class SmallGemm {
    /** At most this many rows of A take this path. */
    static final int MAX_ROWS = 8;
    private static final VectorSpecies<Float> S = Simd.F;
    private static final int L = Simd.L;
    /** Lane of the second of {@link VMath#sum4}'s four sums. */
    private static final int Q = VMath.SUM4_STRIDE;
    private static final int COL_BLOCK = 64;
    /** Below this many floats of B one thread does it all. */
    private static final long PARALLEL_FLOATS = 1L << 16;
    /**
     * Up to this k (a multiple of L) one row of A takes eight rows of B at a time ({@link #eightRows}); past it the
     * lane sums are a small part of a row's work and eight rows streamed at once gain nothing.
     */
    private static final int EIGHT_ROWS_MAX_K = 256;

    private SmallGemm() {
    }

    static void sgemmNT(int m, int n, int k, float alpha, float[] a, int aOff, int lda, float[] b, int bOff, int ldb,
                        float beta, float[] c, int cOff, int ldc) {
        if ((long) n * k < PARALLEL_FLOATS) {
            columns(0, n, m, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        Parallel.global().forBlocks(n, COL_BLOCK, (block, worker) -> {
            int j0 = block * COL_BLOCK;
            columns(j0, Math.min(n, j0 + COL_BLOCK), m, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        });
    }

    private static void columns(int j0, int j1, int m, int k, float alpha, float[] a, int aOff, int lda, float[] b,
                                int bOff, int ldb, float beta, float[] c, int cOff, int ldc) {
        if (m == 1) {
            oneRow(j0, j1, k, alpha, a, aOff, b, bOff, ldb, beta, c, cOff);
            return;
        }
        int full = k / L * L;
        VectorMask<Float> tail = S.indexInRange(full, k);
        int from = j0;
        if (VMath.SUM4) {
            // two rows of B at a time against every row of A: B streamed from memory once for all rows
            int j = j0;
            for (; j + 4 <= j1; j += 4) {
                // each pair of rows right after the last: the four rows of B are still in the first-level cache
                for (int i0 = 0; i0 < m; i0 += 2) {
                    rows2cols4(j, Math.min(2, m - i0), k, alpha, a, aOff + i0 * lda, lda, b, bOff, ldb, beta, c,
                            cOff + i0 * ldc, ldc);
                }
            }
            from = j;
            if (from == j1) {
                return;
            }
        }
        for (int i0 = 0; i0 < m; i0 += 4) {
            int rows = Math.min(4, m - i0);
            // unused rows repeat the last real row: same loads, results discarded
            int a0 = aOff + i0 * lda;
            int a1 = aOff + (i0 + Math.min(1, rows - 1)) * lda;
            int a2 = aOff + (i0 + Math.min(2, rows - 1)) * lda;
            int a3 = aOff + (i0 + Math.min(3, rows - 1)) * lda;
            for (int j = from; j < j1; j++) {
                int bj = bOff + j * ldb;
                FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S), s2 = FloatVector.zero(S),
                        s3 = FloatVector.zero(S);
                for (int p = 0; p < full; p += L) {
                    FloatVector bv = FloatVector.fromArray(S, b, bj + p);
                    s0 = FloatVector.fromArray(S, a, a0 + p).fma(bv, s0);
                    s1 = FloatVector.fromArray(S, a, a1 + p).fma(bv, s1);
                    s2 = FloatVector.fromArray(S, a, a2 + p).fma(bv, s2);
                    s3 = FloatVector.fromArray(S, a, a3 + p).fma(bv, s3);
                }
                if (full < k) {
                    // the last, partial vector: lanes past k load as zero
                    FloatVector bv = FloatVector.fromArray(S, b, bj + full, tail);
                    s0 = FloatVector.fromArray(S, a, a0 + full, tail).fma(bv, s0);
                    s1 = FloatVector.fromArray(S, a, a1 + full, tail).fma(bv, s1);
                    s2 = FloatVector.fromArray(S, a, a2 + full, tail).fma(bv, s2);
                    s3 = FloatVector.fromArray(S, a, a3 + full, tail).fma(bv, s3);
                }
                float d0, d1, d2, d3;
                if (VMath.SUM4) {
                    FloatVector r = VMath.sum4(s0, s1, s2, s3);
                    d0 = r.lane(0);
                    d1 = r.lane(Q);
                    d2 = r.lane(2 * Q);
                    d3 = r.lane(3 * Q);
                } else {
                    d0 = VMath.sum(s0);
                    d1 = VMath.sum(s1);
                    d2 = VMath.sum(s2);
                    d3 = VMath.sum(s3);
                }
                store(c, cOff + i0 * ldc + j, alpha * d0, beta);
                if (rows > 1) {
                    store(c, cOff + (i0 + 1) * ldc + j, alpha * d1, beta);
                }
                if (rows > 2) {
                    store(c, cOff + (i0 + 2) * ldc + j, alpha * d2, beta);
                }
                if (rows > 3) {
                    store(c, cOff + (i0 + 3) * ldc + j, alpha * d3, beta);
                }
            }
        }
    }

    /**
     * One or two rows of A (an unused second row repeats the first: same loads, results discarded) against rows
     * {@code j … j+3} of B: eight accumulators, four streams of B and six loads per eight FMAs (kept this small so
     * that the JIT's first tiers can compile it too). Each dot product is accumulated and folded exactly as the
     * one-column loop does it, so the results are the same bits.
     */
    private static void rows2cols4(int j, int m, int k, float alpha, float[] a, int aOff, int lda, float[] b, int bOff,
                                   int ldb, float beta, float[] c, int cOff, int ldc) {
        int full = k / L * L;
        int a0 = aOff, a1 = aOff + Math.min(1, m - 1) * lda;
        int b0 = bOff + j * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
        FloatVector s00 = FloatVector.zero(S), s01 = FloatVector.zero(S), s02 = FloatVector.zero(S),
                s03 = FloatVector.zero(S), s10 = FloatVector.zero(S), s11 = FloatVector.zero(S),
                s12 = FloatVector.zero(S), s13 = FloatVector.zero(S);
        for (int p = 0; p < full; p += L) {
            FloatVector x0 = FloatVector.fromArray(S, a, a0 + p), x1 = FloatVector.fromArray(S, a, a1 + p);
            FloatVector w = FloatVector.fromArray(S, b, b0 + p);
            s00 = x0.fma(w, s00);
            s10 = x1.fma(w, s10);
            w = FloatVector.fromArray(S, b, b1 + p);
            s01 = x0.fma(w, s01);
            s11 = x1.fma(w, s11);
            w = FloatVector.fromArray(S, b, b2 + p);
            s02 = x0.fma(w, s02);
            s12 = x1.fma(w, s12);
            w = FloatVector.fromArray(S, b, b3 + p);
            s03 = x0.fma(w, s03);
            s13 = x1.fma(w, s13);
        }
        if (full < k) {
            // the last, partial vector: lanes past k load as zero
            VectorMask<Float> tail = S.indexInRange(full, k);
            FloatVector x0 = FloatVector.fromArray(S, a, a0 + full, tail);
            FloatVector x1 = FloatVector.fromArray(S, a, a1 + full, tail);
            FloatVector w = FloatVector.fromArray(S, b, b0 + full, tail);
            s00 = x0.fma(w, s00);
            s10 = x1.fma(w, s10);
            w = FloatVector.fromArray(S, b, b1 + full, tail);
            s01 = x0.fma(w, s01);
            s11 = x1.fma(w, s11);
            w = FloatVector.fromArray(S, b, b2 + full, tail);
            s02 = x0.fma(w, s02);
            s12 = x1.fma(w, s12);
            w = FloatVector.fromArray(S, b, b3 + full, tail);
            s03 = x0.fma(w, s03);
            s13 = x1.fma(w, s13);
        }
        FloatVector r = VMath.sum4(s00, s01, s02, s03);
        store(c, cOff + j, alpha * r.lane(0), beta);
        store(c, cOff + j + 1, alpha * r.lane(Q), beta);
        store(c, cOff + j + 2, alpha * r.lane(2 * Q), beta);
        store(c, cOff + j + 3, alpha * r.lane(3 * Q), beta);
        if (m > 1) {
            r = VMath.sum4(s10, s11, s12, s13);
            store(c, cOff + ldc + j, alpha * r.lane(0), beta);
            store(c, cOff + ldc + j + 1, alpha * r.lane(Q), beta);
            store(c, cOff + ldc + j + 2, alpha * r.lane(2 * Q), beta);
            store(c, cOff + ldc + j + 3, alpha * r.lane(3 * Q), beta);
        }
    }

    /** One row of A against four rows of B at a time: four independent accumulators, A's chunk loaded once. */
    private static void oneRow(int j0, int j1, int k, float alpha, float[] a, int aOff, float[] b, int bOff, int ldb,
                               float beta, float[] c, int cOff) {
        int j = j0, full = k / L * L;
        VectorMask<Float> tail = S.indexInRange(full, k);
        if (VMath.SUM16 && k <= EIGHT_ROWS_MAX_K && k % L == 0) {
            for (; j + 8 <= j1; j += 8) {
                eightRows(k, alpha, a, aOff, b, bOff + j * ldb, ldb, beta, c, cOff + j);
            }
        }
        for (; j + 4 <= j1; j += 4) {
            int b0 = bOff + j * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
            FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S), s2 = FloatVector.zero(S),
                    s3 = FloatVector.zero(S);
            for (int p = 0; p < full; p += L) {
                FloatVector av = FloatVector.fromArray(S, a, aOff + p);
                s0 = FloatVector.fromArray(S, b, b0 + p).fma(av, s0);
                s1 = FloatVector.fromArray(S, b, b1 + p).fma(av, s1);
                s2 = FloatVector.fromArray(S, b, b2 + p).fma(av, s2);
                s3 = FloatVector.fromArray(S, b, b3 + p).fma(av, s3);
            }
            if (full < k) {
                // the last, partial vector: lanes past k load as zero
                FloatVector av = FloatVector.fromArray(S, a, aOff + full, tail);
                s0 = FloatVector.fromArray(S, b, b0 + full, tail).fma(av, s0);
                s1 = FloatVector.fromArray(S, b, b1 + full, tail).fma(av, s1);
                s2 = FloatVector.fromArray(S, b, b2 + full, tail).fma(av, s2);
                s3 = FloatVector.fromArray(S, b, b3 + full, tail).fma(av, s3);
            }
            float d0, d1, d2, d3;
            if (VMath.SUM4) {
                FloatVector r = VMath.sum4(s0, s1, s2, s3);
                d0 = r.lane(0);
                d1 = r.lane(Q);
                d2 = r.lane(2 * Q);
                d3 = r.lane(3 * Q);
            } else {
                d0 = VMath.sum(s0);
                d1 = VMath.sum(s1);
                d2 = VMath.sum(s2);
                d3 = VMath.sum(s3);
            }
            store(c, cOff + j, alpha * d0, beta);
            store(c, cOff + j + 1, alpha * d1, beta);
            store(c, cOff + j + 2, alpha * d2, beta);
            store(c, cOff + j + 3, alpha * d3, beta);
        }
        for (; j < j1; j++) {
            int bj = bOff + j * ldb;
            FloatVector s0 = FloatVector.zero(S);
            for (int p = 0; p < full; p += L) {
                s0 = FloatVector.fromArray(S, b, bj + p).fma(FloatVector.fromArray(S, a, aOff + p), s0);
            }
            if (full < k) {
                s0 = FloatVector.fromArray(S, b, bj + full, tail).fma(FloatVector.fromArray(S, a, aOff + full, tail),
                        s0);
            }
            store(c, cOff + j, alpha * VMath.sum(s0), beta);
        }
    }

    /**
     * One row of A against rows {@code 0 … 7} of B from {@code b0} ({@link VMath#SUM16} widths, k a multiple of L):
     * eight independent accumulators, A's chunk loaded once, and the eight lane sums folded together
     * ({@link VMath#sum8}) and stored with one masked vector write. At a small k (a 64-wide model) the lane sums
     * are much of the work, and this costs about half of what {@link VMath#sum4} and four lane extractions per
     * four rows do. (Sixteen rows would fold even more cheaply, but the JIT then stops inlining the folds.)
     */
    private static void eightRows(int k, float alpha, float[] a, int aOff, float[] b, int b0, int ldb, float beta,
                                  float[] c, int at) {
        FloatVector s0 = FloatVector.zero(S), s1 = FloatVector.zero(S), s2 = FloatVector.zero(S),
                s3 = FloatVector.zero(S), s4 = FloatVector.zero(S), s5 = FloatVector.zero(S),
                s6 = FloatVector.zero(S), s7 = FloatVector.zero(S);
        for (int p = 0; p < k; p += L) {
            FloatVector av = FloatVector.fromArray(S, a, aOff + p);
            s0 = FloatVector.fromArray(S, b, b0 + p).fma(av, s0);
            s1 = FloatVector.fromArray(S, b, b0 + ldb + p).fma(av, s1);
            s2 = FloatVector.fromArray(S, b, b0 + 2 * ldb + p).fma(av, s2);
            s3 = FloatVector.fromArray(S, b, b0 + 3 * ldb + p).fma(av, s3);
            s4 = FloatVector.fromArray(S, b, b0 + 4 * ldb + p).fma(av, s4);
            s5 = FloatVector.fromArray(S, b, b0 + 5 * ldb + p).fma(av, s5);
            s6 = FloatVector.fromArray(S, b, b0 + 6 * ldb + p).fma(av, s6);
            s7 = FloatVector.fromArray(S, b, b0 + 7 * ldb + p).fma(av, s7);
        }
        FloatVector r = VMath.sum8(s0, s1, s2, s3, s4, s5, s6, s7).mul(alpha);
        if (beta != 0f) {
            // as store(): alpha·sum + beta·c
            r = r.add(FloatVector.fromArray(S, c, at, VMath.LOW8).mul(beta));
        }
        r.intoArray(c, at, VMath.LOW8);
    }

    private static void store(float[] c, int at, float v, float beta) {
        c[at] = beta == 0f ? v : v + beta * c[at];
    }
}
