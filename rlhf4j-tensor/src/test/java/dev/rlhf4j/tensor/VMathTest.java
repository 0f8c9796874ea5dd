package dev.rlhf4j.tensor;

import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VMathTest {

    private static float[] inputs() {
        Rng rng = new Rng(77);
        float[] x = new float[4096];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) ((rng.nextDouble() * 2 - 1) * (i % 3 == 0 ? 90 : i % 3 == 1 ? 10 : 1));
        }
        x[0] = 0f;
        x[1] = -0f;
        x[2] = -86.9f;
        x[3] = 87.9f;
        x[4] = Float.NEGATIVE_INFINITY;
        x[5] = -1000f;
        return x;
    }

    @Test
    void vectorAndScalarFormsGiveTheSameBits() {
        float[] x = inputs();
        float[] e = new float[Simd.L], t = new float[Simd.L], s = new float[Simd.L];
        for (int i = 0; i + Simd.L <= x.length; i += Simd.L) {
            FloatVector v = FloatVector.fromArray(Simd.F, x, i);
            VMath.exp(v).intoArray(e, 0);
            VMath.tanh(v).intoArray(t, 0);
            VMath.sigmoid(v).intoArray(s, 0);
            for (int j = 0; j < Simd.L; j++) {
                assertEquals(Float.floatToRawIntBits(VMath.exp(x[i + j])), Float.floatToRawIntBits(e[j]), "exp " + x[i
                        + j]);
                assertEquals(Float.floatToRawIntBits(VMath.tanh(x[i + j])), Float.floatToRawIntBits(t[j]), "tanh "
                        + x[i + j]);
                assertEquals(Float.floatToRawIntBits(VMath.sigmoid(x[i + j])), Float.floatToRawIntBits(s[j]),
                        "sigmoid " + x[i + j]);
            }
        }
    }

    @Test
    void expIsAccurateToAFewUlp() {
        for (float x : inputs()) {
            double exact = StrictMath.exp(x);
            float got = VMath.exp(x);
            if (x < -87f) {
                assertEquals(0f, got, "exp underflows to zero below -87: " + x);
            } else if (x <= 88f) {
                assertTrue(Math.abs(got - exact) <= 3 * Math.ulp((float) exact), "exp(" + x + ") = " + got + " vs "
                        + exact);
            } else {
                assertEquals((float) StrictMath.exp(88.0), got, 3 * Math.ulp((float) StrictMath.exp(88.0)));
            }
            if (Math.abs(x) < 20) {
                assertEquals(StrictMath.tanh(x), VMath.tanh(x), 2e-7, "tanh " + x);
                assertEquals(1 / (1 + StrictMath.exp(-x)), VMath.sigmoid(x), 2e-7, "sigmoid " + x);
            }
        }
        assertTrue(Float.isNaN(VMath.exp(Float.NaN)));
    }

    @Test
    void laneSumIsInLaneOrder() {
        float[] v = new float[Simd.L];
        v[0] = 1e8f;
        for (int i = 1; i < v.length; i++) {
            v[i] = 1f;
        }
        float expected = v[0];
        for (int i = 1; i < v.length; i++) {
            expected += v[i];
        }
        assertEquals(expected, VMath.sum(FloatVector.fromArray(Simd.F, v, 0)));
    }

    @Test
    void sum4PutsEachVectorsLaneSumAtItsLane() {
        org.junit.jupiter.api.Assumptions.assumeTrue(VMath.SUM4, "sum4 folds 4, 8 or 16 lanes");
        int L = Simd.L;
        Rng rng = new Rng(5);
        for (int trial = 0; trial < 200; trial++) {
            float[][] v = new float[4][L];
            boolean integers = trial % 2 == 0;
            for (float[] row : v) {
                for (int i = 0; i < L; i++) {
                    // small integers: every partial sum is exact, so any order gives the exact sum
                    row[i] = integers ? rng.nextInt(2001) - 1000 : (float) ((2 * rng.nextDouble() - 1) * 1e3);
                }
            }
            FloatVector r = VMath.sum4(FloatVector.fromArray(Simd.F, v[0], 0), FloatVector.fromArray(Simd.F, v[1], 0),
                    FloatVector.fromArray(Simd.F, v[2], 0), FloatVector.fromArray(Simd.F, v[3], 0));
            for (int k = 0; k < 4; k++) {
                double exact = 0, abs = 0;
                for (float x : v[k]) {
                    exact += x;
                    abs += Math.abs(x);
                }
                float got = r.lane(k * VMath.SUM4_STRIDE);
                if (integers) {
                    assertEquals((float) exact, got, "vector " + k);
                } else {
                    // a tree of log2(L) additions: each partial sum rounded at most log2(L) times
                    double tol = Math.log(L) / Math.log(2) * Math.ulp(1.0f) / 2 * abs;
                    assertTrue(Math.abs(got - exact) <= tol, "vector " + k + ": " + got + " vs " + exact);
                }
            }
        }
    }
}
