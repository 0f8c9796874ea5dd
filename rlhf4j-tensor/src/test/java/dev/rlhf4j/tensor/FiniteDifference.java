package dev.rlhf4j.tensor;

import java.util.function.ToDoubleFunction;

/**
 * Central finite differences in float64: {@code ∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / 2h}, the reference for
 * every kernel's backward. {@code f} is a float64 re-implementation of the kernel's forward contracted with a fixed
 * upstream gradient, so the difference quotient has error O(h²) and no float32 rounding.
 */
public final class FiniteDifference {
    public static final double H = 1e-5;

    private FiniteDifference() {
    }

    public static double[] gradient(ToDoubleFunction<double[]> f, double[] x) {
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double keep = x[i];
            x[i] = keep + H;
            double up = f.applyAsDouble(x);
            x[i] = keep - H;
            double down = f.applyAsDouble(x);
            x[i] = keep;
            g[i] = (up - down) / (2 * H);
        }
        return g;
    }

    /** Uniform values in [-scale, scale), rounded to float so that both precisions see the same inputs. */
    public static double[] random(Rng rng, int n, double scale) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) ((2 * rng.nextDouble() - 1) * scale);
        }
        return x;
    }

    public static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }
}
