package dev.rlhf4j.train.claims;

/**
 * A quantity measured once per seed, summarised over seeds: the mean and the sample standard deviation (n − 1 in
 * the denominator: with three seeds the spread is itself a rough estimate, and the population formula would make it
 * look smaller than it is).
 *
 * @param n    seeds measured
 * @param mean mean over seeds
 * @param std  sample standard deviation over seeds; 0 with one seed
 */
public record SeedStats(int n, double mean, double std) {

    public static SeedStats of(double[] perSeed) {
        if (perSeed.length == 0) {
            throw new IllegalArgumentException("no seeds to summarise");
        }
        double s = 0;
        for (double v : perSeed) {
            s += v;
        }
        double m = s / perSeed.length, q = 0;
        for (double v : perSeed) {
            q += (v - m) * (v - m);
        }
        return new SeedStats(perSeed.length, m, perSeed.length < 2 ? 0 : Math.sqrt(q / (perSeed.length - 1)));
    }

    /** The standard error of the mean, std / √n. */
    public double stderr() {
        return std / Math.sqrt(n);
    }

    /** "mean ± std" with {@code digits} decimals. */
    public String format(int digits) {
        String f = "%." + digits + "f";
        return String.format(f + " ± " + f, mean, std);
    }
}
