package dev.rlhf4j.train.claims;

import java.util.List;

/**
 * What the seeds say about a claim, decided from the per-seed difference d_s between the arm the claim favours and
 * the arm it argues against (each seed's two arms share world, base, SFT model and data, so the difference is
 * paired): <em>supported</em> when the mean difference is positive and larger than twice its standard error over
 * seeds (std / √n), <em>contradicted</em> when it is negative by as much, <em>inconclusive</em> otherwise or with
 * fewer than two seeds. Twice the standard error is a rule of thumb, not a significance test: with three seeds a
 * t-test at 95% would ask for 4.3 standard errors.
 */
public enum Verdict {
    SUPPORTED, CONTRADICTED, INCONCLUSIVE;

    /** The rule, in words, for reports. */
    public static final String RULE = "for each test, d = (favoured arm − other arm) per seed, paired by seed; "
            + "supported when mean(d) > 0 and mean(d) > 2·std(d)/√n, contradicted when mean(d) < 0 and "
            + "|mean(d)| > 2·std(d)/√n, inconclusive otherwise or with fewer than 2 seeds (std: sample standard "
            + "deviation over seeds). A claim is supported when all its tests are, contradicted when any is, "
            + "inconclusive otherwise. Twice the standard error is a rule of thumb, not a 95% test (with 3 seeds a "
            + "t-test would ask for 4.3 standard errors).";

    /** The verdict on per-seed differences (positive favours the claim). */
    public static Verdict decide(double[] differences) {
        for (double d : differences) {
            if (!Double.isFinite(d)) {
                return INCONCLUSIVE;
            }
        }
        if (differences.length < 2) {
            return INCONCLUSIVE;
        }
        SeedStats s = SeedStats.of(differences);
        double margin = 2 * s.stderr();
        if (s.mean() > 0 && s.mean() > margin) {
            return SUPPORTED;
        }
        if (s.mean() < 0 && -s.mean() > margin) {
            return CONTRADICTED;
        }
        return INCONCLUSIVE;
    }

    /** A claim's verdict from its tests' verdicts. */
    public static Verdict combine(List<Verdict> tests) {
        if (tests.isEmpty()) {
            return INCONCLUSIVE;
        }
        if (tests.contains(CONTRADICTED)) {
            return CONTRADICTED;
        }
        return tests.stream().allMatch(v -> v == SUPPORTED) ? SUPPORTED : INCONCLUSIVE;
    }

    /** The verdict as results.json and the reports write it. */
    public String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
