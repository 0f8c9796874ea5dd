package dev.rlhf4j.feedback.quality;

import dev.rlhf4j.feedback.store.Flag;
import dev.rlhf4j.feedback.store.ProjectCounts;

import java.util.ArrayList;
import java.util.LinkedHashMap;
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
    /**
     * The report as JSON fields in snake_case ({@code "percent_agreement"}, {@code "cohens_kappa"}, ...), flags by
     * their wire names, for {@code rlhf4j feedback stats --json} and the API; null figures stay null.
     */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("project_id", projectId);
        m.put("items", counts.items());
        m.put("ready_items", counts.readyItems());
        m.put("labels", counts.labels());
        m.put("complete_items", counts.completeItems());
        m.put("overlapped_items_labelled", overlappedItemsLabelled);
        m.put("percent_agreement", percentAgreement);
        m.put("cohens_kappa", cohensKappa);
        m.put("kendall_tau", kendallTau);
        m.put("left_share", leftShare);
        m.put("reward_model_agreement", rewardModelAgreement);
        m.put("reward_model_compared", rewardModelCompared);
        Map<String, Integer> f = new LinkedHashMap<>();
        flags.forEach((flag, n) -> f.put(flag.wireName(), n));
        m.put("flags", f);
        List<Map<String, Object>> people = new ArrayList<>();
        for (Annotator a : annotators) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("user_id", a.userId());
            o.put("name", a.name());
            o.put("labels", a.labels());
            o.put("median_seconds", a.medianSeconds());
            o.put("mean_seconds", a.meanSeconds());
            o.put("left_share", a.leftShare());
            o.put("percent_agreement", a.percentAgreement());
            o.put("cohens_kappa", a.cohensKappa());
            o.put("kendall_tau", a.kendallTau());
            o.put("reward_model_agreement", a.rewardModelAgreement());
            people.add(o);
        }
        m.put("annotators", people);
        List<Map<String, Object>> ps = new ArrayList<>();
        for (Pair p : pairs) {
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("first", p.first());
            o.put("second", p.second());
            o.put("items", p.items());
            o.put("percent_agreement", p.percentAgreement());
            o.put("cohens_kappa", p.cohensKappa());
            o.put("kendall_tau", p.kendallTau());
            ps.add(o);
        }
        m.put("pairs", ps);
        return m;
    }

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
