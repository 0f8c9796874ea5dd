package dev.rlhf4j.tensor;

/**
 * Seeded pseudo-random numbers whose whole state can be saved and restored (so a resumed run draws the same
 * numbers): xoshiro256++ (Blackman and Vigna 2019) seeded through SplitMix64, with normal deviates from
 * Marsaglia's polar method (the spare deviate is part of the state).
 */
public final class Rng {
    private long s0, s1, s2, s3;
    private boolean hasSpare;
    private double spare;

    public Rng(long seed) {
        long x = seed;
        x += 0x9E3779B97F4A7C15L;
        s0 = mix(x);
        x += 0x9E3779B97F4A7C15L;
        s1 = mix(x);
        x += 0x9E3779B97F4A7C15L;
        s2 = mix(x);
        x += 0x9E3779B97F4A7C15L;
        s3 = mix(x);
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    public long nextLong() {
        long result = Long.rotateLeft(s0 + s3, 23) + s0;
        long t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = Long.rotateLeft(s3, 45);
        return result;
    }

    /** Uniform in [0, 1) with 53 random bits. */
    public double nextDouble() {
        return (nextLong() >>> 11) * 0x1.0p-53;
    }

    /** Uniform in [0, 1) with 24 random bits. */
    public float nextFloat() {
        return (nextLong() >>> 40) * 0x1.0p-24f;
    }

    /** Uniform in [0, bound), without modulo bias. */
    public int nextInt(int bound) {
        if (bound <= 0) {
            throw new IllegalArgumentException("bound must be positive, got " + bound);
        }
        long limit = (1L << 32) - ((1L << 32) % bound);
        long r;
        do {
            r = nextLong() >>> 32;
        } while (r >= limit);
        return (int) (r % bound);
    }

    /** Standard normal deviate. */
    public double nextGaussian() {
        if (hasSpare) {
            hasSpare = false;
            return spare;
        }
        double u, v, s;
        do {
            u = 2 * nextDouble() - 1;
            v = 2 * nextDouble() - 1;
            s = u * u + v * v;
        } while (s >= 1 || s == 0);
        double f = Math.sqrt(-2 * StrictMath.log(s) / s);
        spare = v * f;
        hasSpare = true;
        return u * f;
    }

    /** Fills {@code t} with normal deviates of the given standard deviation. */
    public void fillNormal(Tensor t, double std) {
        float[] d = t.data();
        for (int i = t.offset(), end = t.offset() + t.size(); i < end; i++) {
            d[i] = (float) (nextGaussian() * std);
        }
    }

    /** The complete state, for checkpoints. */
    public long[] state() {
        return new long[] {s0, s1, s2, s3, hasSpare ? 1 : 0, Double.doubleToRawLongBits(spare)};
    }

    /** Restores a state returned by {@link #state()}. */
    public void setState(long[] state) {
        if (state.length != 6) {
            throw new IllegalArgumentException("RNG state must have 6 words, got " + state.length);
        }
        s0 = state[0];
        s1 = state[1];
        s2 = state[2];
        s3 = state[3];
        hasSpare = state[4] != 0;
        spare = Double.longBitsToDouble(state[5]);
    }
}
