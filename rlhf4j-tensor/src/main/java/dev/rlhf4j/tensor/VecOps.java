package dev.rlhf4j.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Small vectorised loops over float arrays shared by the kernels. Reductions sum the lanes in a fixed order
 * ({@link VMath#sum}) so results never depend on whether the JIT has compiled the loop.
 */
final class VecOps {
    private static final VectorSpecies<Float> S = Simd.F;
    private static final int L = Simd.L;

    private VecOps() {
    }

    static float sum(float[] a, int ao, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0, bound = S.loopBound(n);
        for (; i < bound; i += L) {
            acc = acc.add(FloatVector.fromArray(S, a, ao + i));
        }
        float s = VMath.sum(acc);
        for (; i < n; i++) {
            s += a[ao + i];
        }
        return s;
    }

    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        FloatVector acc = FloatVector.zero(S);
        int i = 0, bound = S.loopBound(n);
        for (; i < bound; i += L) {
            acc = FloatVector.fromArray(S, a, ao + i).fma(FloatVector.fromArray(S, b, bo + i), acc);
        }
        float s = VMath.sum(acc);
        for (; i < n; i++) {
            s += a[ao + i] * b[bo + i];
        }
        return s;
    }

    /** Σ (a[i] - c)². */
    static float sumSquaredDiff(float[] a, int ao, int n, float c) {
        FloatVector acc = FloatVector.zero(S);
        FloatVector cv = FloatVector.broadcast(S, c);
        int i = 0, bound = S.loopBound(n);
        for (; i < bound; i += L) {
            FloatVector d = FloatVector.fromArray(S, a, ao + i).sub(cv);
            acc = d.fma(d, acc);
        }
        float s = VMath.sum(acc);
        for (; i < n; i++) {
            float d = a[ao + i] - c;
            s += d * d;
        }
        return s;
    }

    static float max(float[] a, int ao, int n) {
        FloatVector acc = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
        int i = 0, bound = S.loopBound(n);
        for (; i < bound; i += L) {
            acc = acc.max(FloatVector.fromArray(S, a, ao + i));
        }
        float m = acc.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            m = Math.max(m, a[ao + i]);
        }
        return m;
    }

    /** y[i] += alpha * x[i]. */
    static void axpy(float alpha, float[] x, int xo, float[] y, int yo, int n) {
        FloatVector av = FloatVector.broadcast(S, alpha);
        int i = 0, bound = S.loopBound(n);
        for (; i < bound; i += L) {
            av.fma(FloatVector.fromArray(S, x, xo + i), FloatVector.fromArray(S, y, yo + i)).intoArray(y, yo + i);
        }
        for (; i < n; i++) {
            y[yo + i] += alpha * x[xo + i];
        }
    }

    /** a[i] = exp(a[i] - shift), returning Σ of the results. */
    static float expShiftSum(float[] a, int ao, int n, float shift) {
        FloatVector sv = FloatVector.broadcast(S, shift);
        FloatVector acc = FloatVector.zero(S);
        int i = 0, bound = S.loopBound(n);
        for (; i < bound; i += L) {
            FloatVector e = VMath.exp(FloatVector.fromArray(S, a, ao + i).sub(sv));
            e.intoArray(a, ao + i);
            acc = acc.add(e);
        }
        float s = VMath.sum(acc);
        for (; i < n; i++) {
            float e = VMath.exp(a[ao + i] - shift);
            a[ao + i] = e;
            s += e;
        }
        return s;
    }

    /** Σ exp(a[i] − shift), leaving a unchanged. */
    static float expShiftSumNoStore(float[] a, int ao, int n, float shift) {
        FloatVector sv = FloatVector.broadcast(S, shift);
        FloatVector acc = FloatVector.zero(S);
        int i = 0, bound = S.loopBound(n);
        for (; i < bound; i += L) {
            acc = acc.add(VMath.exp(FloatVector.fromArray(S, a, ao + i).sub(sv)));
        }
        float s = VMath.sum(acc);
        for (; i < n; i++) {
            s += VMath.exp(a[ao + i] - shift);
        }
        return s;
    }

    /** dst[i] = src[i] · f. */
    static void scaleInto(float[] src, int so, float[] dst, int d0, int n, float f) {
        int i = 0, bound = S.loopBound(n);
        for (; i < bound; i += L) {
            FloatVector.fromArray(S, src, so + i).mul(f).intoArray(dst, d0 + i);
        }
        for (; i < n; i++) {
            dst[d0 + i] = src[so + i] * f;
        }
    }

    /** y[i] = p[i] · (y[i] − c). */
    static void mulShifted(float[] p, int po, float[] y, int yo, int n, float c) {
        int i = 0, bound = S.loopBound(n);
        for (; i < bound; i += L) {
            FloatVector.fromArray(S, p, po + i).mul(FloatVector.fromArray(S, y, yo + i).sub(c)).intoArray(y, yo + i);
        }
        for (; i < n; i++) {
            y[yo + i] = p[po + i] * (y[yo + i] - c);
        }
    }

    static void scale(float[] a, int ao, int n, float f) {
        FloatVector fv = FloatVector.broadcast(S, f);
        int i = 0, bound = S.loopBound(n);
        for (; i < bound; i += L) {
            FloatVector.fromArray(S, a, ao + i).mul(fv).intoArray(a, ao + i);
        }
        for (; i < n; i++) {
            a[ao + i] *= f;
        }
    }
}
