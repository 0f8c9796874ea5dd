package dev.rlhf4j.feedback.quality;

import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Flag;
import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.Label;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.Response;
import dev.rlhf4j.feedback.store.StoreConflict;
import dev.rlhf4j.feedback.store.TaskType;
import dev.rlhf4j.feedback.store.User;
import dev.rlhf4j.feedback.store.Verdict;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Computes a project's {@link QualityReport} from its stored labels.
 *
 * <ul>
 *   <li><b>Comparisons</b> are compared in the responses' own terms, not the screen's: each label is one of
 *       <i>first better</i>, <i>second better</i> (first and second by the responses' stored positions, since each
 *       person saw them in their own random order), <i>tie</i> or <i>both bad</i>. For each pair of people, over the
 *       items both labelled: percent agreement and Cohen's κ ({@link Agreement}). The project's percent agreement
 *       pools every pair's items (agreeing item-pairs over all item-pairs); its κ is the mean of the pairs' κ
 *       weighted by the items each pair shares (pairs whose κ is undefined left out). A person's figures are the
 *       same over the pairs they are in.</li>
 *   <li><b>Rankings</b>: Kendall's τ between two people's rankings of an item, averaged over every (pair, item):
 *       for a pair, over its items; for the project and a person, over all theirs.</li>
 *   <li><b>Position bias</b>: the share of decisive comparisons (a better response chosen) won by the response
 *       shown on the left; 0.5 is unbiased.</li>
 *   <li><b>Reward model</b>: the share of decisive comparisons, and of the (better, worse) pairs of each ranking,
 *       where the reward model scores the people's better response strictly higher.</li>
 *   <li><b>Time</b>: from handing an item out to submitting its label ({@link Label#durationMillis}).</li>
 * </ul>
 */
public final class Quality {
    /** A comparison label in response terms (see the class comment). */
    enum Category {
        FIRST_BETTER, SECOND_BETTER, TIE, BOTH_BAD
    }

    private Quality() {
    }

    /**
     * The report of project {@code projectId}, with the agreement of the project's reward model (its
     * {@code reward_model} checkpoint, opened once and kept) when it has one.
     *
     * @throws IllegalArgumentException (a UserError) when the reward model cannot be opened, naming its path
     */
    public static QualityReport report(FeedbackStore store, long projectId) {
        Project p = store.project(projectId).orElseThrow(() -> new StoreConflict("no project " + projectId));
        String rm = p.settings().rewardModel();
        boolean scores = rm != null && p.taskType() != TaskType.DEMONSTRATION;
        return report(store, projectId, scores ? CheckpointScorer.open(Path.of(rm)) : null);
    }

    /**
     * The report of project {@code projectId}; {@code rewardModel} scores responses for the reward-model
     * agreement (null: not reported).
     */
    public static QualityReport report(FeedbackStore store, long projectId, RewardScorer rewardModel) {
        store.project(projectId).orElseThrow(() -> new StoreConflict("no project " + projectId));
        List<Label> labels = store.labels(projectId);
        Map<Long, Item> items = new HashMap<>();
        store.items(projectId).forEach(i -> items.put(i.id(), i));
        Map<Long, List<Response>> responses = store.responsesOfProject(projectId);
        Map<Long, String> names = new HashMap<>();
        for (User u : store.users()) {
            names.put(u.id(), u.name());
        }

        // labels by item and by person, in id order so that pairs are always (lower id, higher id)
        Map<Long, List<Label>> byItem = new TreeMap<>();
        Map<Long, List<Label>> byUser = new TreeMap<>();
        Map<Flag, Integer> flags = new EnumMap<>(Flag.class);
        for (Flag f : Flag.values()) {
            flags.put(f, 0);
        }
        for (Label l : labels) {
            byItem.computeIfAbsent(l.itemId(), x -> new ArrayList<>()).add(l);
            byUser.computeIfAbsent(l.userId(), x -> new ArrayList<>()).add(l);
            l.flags().forEach(f -> flags.merge(f, 1, Integer::sum));
        }
        int overlapped = (int) byItem.values().stream().filter(ls -> ls.size() >= 2).count();

        // agreement of every pair of people on their common items
        Map<List<Long>, PairData> pairData = new TreeMap<>((x, y) -> x.get(0).equals(y.get(0))
                ? Long.compare(x.get(1), y.get(1)) : Long.compare(x.get(0), y.get(0)));
        for (List<Label> ls : byItem.values()) {
            List<Label> sorted = new ArrayList<>(ls);
            sorted.sort((x, y) -> Long.compare(x.userId(), y.userId()));
            for (int i = 0; i < sorted.size(); i++) {
                for (int j = i + 1; j < sorted.size(); j++) {
                    Label a = sorted.get(i);
                    Label b = sorted.get(j);
                    PairData d = pairData.computeIfAbsent(List.of(a.userId(), b.userId()), k -> new PairData());
                    d.items++;
                    switch (a.kind()) {
                        case COMPARISON -> {
                            List<Response> rs = responses.getOrDefault(a.itemId(), List.of());
                            d.first.add(category(a, rs));
                            d.second.add(category(b, rs));
                        }
                        case RANKING -> d.taus.add(Agreement.kendallTau(a.ranking(), b.ranking()));
                        case DEMONSTRATION -> {
                            // written text: no agreement measure
                        }
                    }
                }
            }
        }
        List<QualityReport.Pair> pairs = new ArrayList<>();
        for (Map.Entry<List<Long>, PairData> e : pairData.entrySet()) {
            PairData d = e.getValue();
            pairs.add(new QualityReport.Pair(names.get(e.getKey().get(0)), names.get(e.getKey().get(1)), d.items,
                    Agreement.percentAgreement(d.first, d.second), Agreement.cohensKappa(d.first, d.second),
                    mean(d.taus)));
        }

        // the reward model's verdicts, one per decisive comparison label or ranking pair
        Map<Long, float[]> scores = new HashMap<>();
        Map<Long, int[]> rewardByUser = new HashMap<>();
        int[] reward = new int[2];
        if (rewardModel != null) {
            for (Label l : labels) {
                int[] mine = rewardByUser.computeIfAbsent(l.userId(), x -> new int[2]);
                for (long[] better : preferences(l)) {
                    Item item = items.get(l.itemId());
                    List<Response> rs = responses.getOrDefault(item.id(), List.of());
                    float[] s = scores.computeIfAbsent(item.id(), id -> score(rewardModel, item, rs));
                    boolean agrees = s[position(rs, better[0])] > s[position(rs, better[1])];
                    for (int[] counts : new int[][] {reward, mine}) {
                        counts[0] += agrees ? 1 : 0;
                        counts[1]++;
                    }
                }
            }
        }

        List<QualityReport.Annotator> annotators = new ArrayList<>();
        for (Map.Entry<Long, List<Label>> e : byUser.entrySet()) {
            long user = e.getKey();
            List<Label> ls = e.getValue();
            double[] seconds = ls.stream().mapToDouble(l -> l.durationMillis() / 1000.0).sorted().toArray();
            Pooled pooled = pool(pairData, user);
            int[] rm = rewardByUser.get(user);
            annotators.add(new QualityReport.Annotator(user, names.get(user), ls.size(), median(seconds),
                    Arrays.stream(seconds).average().orElse(0), leftShare(ls), pooled.percent(), pooled.kappa(),
                    pooled.tau(), rm == null || rm[1] == 0 ? null : rm[0] / (double) rm[1]));
        }
        Pooled all = pool(pairData, null);
        return new QualityReport(projectId, store.counts(projectId), overlapped, all.percent(), all.kappa(),
                all.tau(), leftShare(labels), reward[1] == 0 ? null : reward[0] / (double) reward[1], reward[1],
                flags, annotators, pairs);
    }

    /** A comparison label in response terms; {@code rs} are the item's responses in stored order. */
    static Category category(Label l, List<Response> rs) {
        return switch (l.verdict()) {
            case TIE -> Category.TIE;
            case BOTH_BAD -> Category.BOTH_BAD;
            case BETTER -> position(rs, l.chosenResponseId()) == 0 ? Category.FIRST_BETTER : Category.SECOND_BETTER;
        };
    }

    /** The (better, worse) response ids a label states: one for a decisive comparison, C(K,2) for a ranking. */
    private static List<long[]> preferences(Label l) {
        List<long[]> out = new ArrayList<>();
        if (l.kind() == TaskType.COMPARISON && l.verdict() == Verdict.BETTER) {
            long rejected = l.chosenResponseId().equals(l.leftResponseId()) ? l.rightResponseId()
                    : l.leftResponseId();
            out.add(new long[] {l.chosenResponseId(), rejected});
        } else if (l.kind() == TaskType.RANKING) {
            for (int i = 0; i < l.ranking().size(); i++) {
                for (int j = i + 1; j < l.ranking().size(); j++) {
                    out.add(new long[] {l.ranking().get(i), l.ranking().get(j)});
                }
            }
        }
        return out;
    }

    private static float[] score(RewardScorer scorer, Item item, List<Response> rs) {
        List<String> texts = rs.stream().map(Response::text).toList();
        float[] s = item.isChat() ? scorer.score(item.messages(), texts) : scorer.score(item.prompt(), texts);
        if (s.length != texts.size()) {
            throw new IllegalStateException("the reward scorer gave " + s.length + " scores for " + texts.size()
                    + " responses");
        }
        return s;
    }

    private static int position(List<Response> rs, long responseId) {
        for (int i = 0; i < rs.size(); i++) {
            if (rs.get(i).id() == responseId) {
                return i;
            }
        }
        throw new IllegalStateException("response " + responseId + " is not one of its item's");
    }

    /** The share of decisive comparisons among {@code labels} whose chosen response was shown on the left. */
    static Double leftShare(List<Label> labels) {
        int decisive = 0;
        int left = 0;
        for (Label l : labels) {
            if (l.kind() == TaskType.COMPARISON && l.verdict() == Verdict.BETTER) {
                decisive++;
                if (l.chosenResponseId().equals(l.leftResponseId())) {
                    left++;
                }
            }
        }
        return decisive == 0 ? null : left / (double) decisive;
    }

    private static double median(double[] sorted) {
        if (sorted.length == 0) {
            return 0;
        }
        int mid = sorted.length / 2;
        return sorted.length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    private static Double mean(List<Double> xs) {
        return xs.isEmpty() ? null : xs.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
    }

    /** Two people's labels of their common items, as categories (comparisons) or τ per item (rankings). */
    private static final class PairData {
        int items;
        final List<Category> first = new ArrayList<>();
        final List<Category> second = new ArrayList<>();
        final List<Double> taus = new ArrayList<>();
    }

    private record Pooled(Double percent, Double kappa, Double tau) {
    }

    /** The pairs' figures pooled as the class comment says: all pairs, or those {@code user} is in. */
    private static Pooled pool(Map<List<Long>, PairData> pairs, Long user) {
        int agreeing = 0;
        int compared = 0;
        double kappaSum = 0;
        int kappaItems = 0;
        List<Double> taus = new ArrayList<>();
        for (Map.Entry<List<Long>, PairData> e : pairs.entrySet()) {
            if (user != null && !e.getKey().contains(user)) {
                continue;
            }
            PairData d = e.getValue();
            for (int i = 0; i < d.first.size(); i++) {
                agreeing += d.first.get(i) == d.second.get(i) ? 1 : 0;
                compared++;
            }
            Double kappa = Agreement.cohensKappa(d.first, d.second);
            if (kappa != null) {
                kappaSum += kappa * d.first.size();
                kappaItems += d.first.size();
            }
            taus.addAll(d.taus);
        }
        return new Pooled(compared == 0 ? null : agreeing / (double) compared,
                kappaItems == 0 ? null : kappaSum / kappaItems, mean(taus));
    }
}
