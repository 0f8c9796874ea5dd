package dev.rlhf4j.feedback.quality;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;

/**
 * Agreement between two raters: percent agreement and Cohen's κ over categorical labels of the same items, and
 * Kendall's τ between two rankings of the same responses.
 */
public final class Agreement {
    private Agreement() {
    }

    /** The share of items on which the two raters gave the same category; null when there are no items. */
    public static <T> Double percentAgreement(List<T> first, List<T> second) {
        check(first, second);
        if (first.isEmpty()) {
            return null;
        }
        int same = 0;
        for (int i = 0; i < first.size(); i++) {
            if (first.get(i).equals(second.get(i))) {
                same++;
            }
        }
        return same / (double) first.size();
    }

    /**
     * Cohen's κ = (p_o − p_e) / (1 − p_e) (Cohen 1960): p_o the observed agreement, p_e the agreement expected by
     * chance, Σ_c p_first(c) · p_second(c) over the categories with each rater's own marginal shares. Null when there
     * are no items or p_e = 1 (both raters always gave the one same category: κ is 0/0, undefined).
     */
    public static <T> Double cohensKappa(List<T> first, List<T> second) {
        check(first, second);
        int n = first.size();
        if (n == 0) {
            return null;
        }
        Map<T, Integer> a = new HashMap<>();
        Map<T, Integer> b = new HashMap<>();
        int same = 0;
        for (int i = 0; i < n; i++) {
            a.merge(first.get(i), 1, Integer::sum);
            b.merge(second.get(i), 1, Integer::sum);
            if (first.get(i).equals(second.get(i))) {
                same++;
            }
        }
        double observed = same / (double) n;
        double expected = 0;
        for (Map.Entry<T, Integer> e : a.entrySet()) {
            expected += (e.getValue() / (double) n) * (b.getOrDefault(e.getKey(), 0) / (double) n);
        }
        if (expected >= 1 - 1e-12) {
            return null;
        }
        return (observed - expected) / (1 - expected);
    }

    /**
     * Kendall's τ between two rankings of the same n ≥ 2 things, each listing them all once, best first:
     * (concordant − discordant) / (n(n−1)/2) over all pairs. Rankings have no ties, so this τ-a is also τ-b.
     *
     * @throws IllegalArgumentException when the two do not rank the same things, each once
     */
    public static <T> double kendallTau(List<T> first, List<T> second) {
        int n = first.size();
        if (n < 2 || second.size() != n) {
            throw new IllegalArgumentException("Kendall's tau needs two rankings of the same n >= 2 things, got "
                    + n + " and " + second.size());
        }
        Map<T, Integer> rankInSecond = new HashMap<>();
        for (int i = 0; i < n; i++) {
            rankInSecond.put(second.get(i), i);
        }
        boolean distinct = rankInSecond.size() == n && new HashSet<>(first).size() == n;
        int[] r = new int[n];
        for (int i = 0; i < n; i++) {
            Integer j = rankInSecond.get(first.get(i));
            if (j == null || !distinct) {
                throw new IllegalArgumentException("the two rankings do not hold the same things, each once");
            }
            r[i] = j;
        }
        // pairs (i, j), i above j in the first ranking: concordant when also in that order in the second
        long concordant = 0;
        long discordant = 0;
        for (int i = 0; i < n; i++) {
            for (int j = i + 1; j < n; j++) {
                if (r[i] < r[j]) {
                    concordant++;
                } else {
                    discordant++;
                }
            }
        }
        return (concordant - discordant) / (n * (n - 1) / 2.0);
    }

    private static void check(List<?> first, List<?> second) {
        if (first.size() != second.size()) {
            throw new IllegalArgumentException("two raters' labels of the same items, got " + first.size() + " and "
                    + second.size());
        }
    }
}
