package dev.rlhf4j.feedback.quality;

import dev.rlhf4j.feedback.store.Flag;
import dev.rlhf4j.feedback.store.ProjectCounts;

import java.util.List;
import java.util.Map;

/**
 * The quality figures of a project (null where there is nothing to compute them from): progress; agreement on the
 * overlapped items (percent agreement and Cohen's κ over pairs of people for comparisons, Kendall's τ for
 * rankings); position bias (share of decisive comparisons won by the response shown on the left); agreement of the
 * project's reward model with the people; flag counts; and the same per annotator and per pair of annotators.
 */
public record QualityReport(long projectId, ProjectCounts counts, int overlappedItemsLabelled,
                            Double percentAgreement, Double cohensKappa, Double kendallTau, Double leftShare,
                            Double rewardModelAgreement, int rewardModelCompared, Map<Flag, Integer> flags,
                            List<Annotator> annotators, List<Pair> pairs) {
    /** One person's figures: labels given, median and mean seconds per item, and the same agreement measures. */
    public record Annotator(long userId, String name, int labels, double medianSeconds, double meanSeconds,
                            Double leftShare, Double percentAgreement, Double cohensKappa, Double kendallTau,
                            Double rewardModelAgreement) {
    }

    /** Two people on the items both labelled. */
    public record Pair(String first, String second, int items, Double percentAgreement, Double cohensKappa,
                       Double kendallTau) {
    }
}
