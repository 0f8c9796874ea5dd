package dev.rlhf4j.feedback.quality;

import dev.rlhf4j.feedback.store.Database;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Flag;
import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.NewItem;
import dev.rlhf4j.feedback.store.NewLabel;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.ProjectSettings;
import dev.rlhf4j.feedback.store.Response;
import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.Sampling;
import dev.rlhf4j.feedback.store.Task;
import dev.rlhf4j.feedback.store.TaskType;
import dev.rlhf4j.feedback.store.User;
import dev.rlhf4j.feedback.store.Verdict;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/** The quality report of labels made through a real SQLite store, against figures worked out by hand. */
class QualityTest {
    private static final double EPS = 1e-12;
    private static final double SCALE = 1e12;

    @TempDir
    Path tmp;
    private Database db;
    private FeedbackStore store;
    private final AtomicLong clock = new AtomicLong(1_000_000);
    private User ann;
    private User bob;
    private User cat;
    private int request;

    @BeforeEach
    void open() {
        db = Database.sqlite(tmp);
        store = new FeedbackStore(db, clock::get);
        ann = store.createUser("ann", "h", Role.ANNOTATOR);
        bob = store.createUser("bob", "h", Role.ANNOTATOR);
        cat = store.createUser("cat", "h", Role.ANNOTATOR);
    }

    @AfterEach
    void close() {
        db.close();
    }

    private Project project(TaskType type, int k, int annotators) {
        return store.createProject(new ProjectSettings(type.wireName(), type, "", k, 1.0, annotators,
                Sampling.DEFAULTS, null, null), null);
    }

    /** Takes {@code item} from {@code u}'s queue and labels it {@code seconds} later. */
    private Task take(User u, Item item, int seconds) {
        Task t = store.nextTask(item.projectId(), u.id()).orElseThrow();
        assertEquals(item.id(), t.item().id(), "the queue hands out items in order");
        clock.addAndGet(seconds * 1000L);
        return t;
    }

    /** A comparison with the responses at stored positions {@code left}, {@code right}; chosen by position. */
    private void compare(User u, Item item, int seconds, int left, int right, Verdict v, Integer chosen,
                         Set<Flag> flags) {
        List<Response> rs = take(u, item, seconds).responses();
        store.submit(NewLabel.comparison("r" + request++, item.id(), u.id(), rs.get(left).id(), rs.get(right).id(), v,
                chosen == null ? null : rs.get(chosen).id(), null, flags, ""));
    }

    private void rank(User u, Item item, int... best) {
        List<Response> rs = take(u, item, 1).responses();
        store.submit(NewLabel.ranking("r" + request++, item.id(), u.id(),
                Arrays.stream(best).mapToObj(i -> rs.get(i).id()).toList(), rs.stream().map(Response::id).toList(),
                null, null));
    }

    /** Scores a response by its length, and counts its calls. */
    private static final class LengthScorer implements RewardScorer {
        final AtomicInteger calls = new AtomicInteger();

        @Override
        public float[] score(String prompt, List<String> responses) {
            calls.incrementAndGet();
            float[] s = new float[responses.size()];
            for (int i = 0; i < s.length; i++) {
                s[i] = responses.get(i).length();
            }
            return s;
        }
    }

    @Test
    void comparisonAgreementPositionBiasTimesAndRewardModel() {
        Project p = project(TaskType.COMPARISON, 2, 3);
        List<Item> items = new ArrayList<>();
        for (int i = 1; i <= 4; i++) {
            items.add(store.addItems(p.id(), List.of(NewItem.of("q" + i, "short", "much longer"))).getFirst());
        }
        Item i1 = items.get(0);
        Item i2 = items.get(1);
        Item i3 = items.get(2);
        Item i4 = items.get(3);
        // categories in response terms (F first better, S second better, T tie, B both bad), and where the chosen
        // response was shown:       item1          item2          item3   item4
        //                     ann   F (right)      S (left)       T       F (left)
        //                     bob   F (left)       S (left)       B       S (right)
        //                     cat   S (right)      S (right)
        compare(ann, i1, 10, 1, 0, Verdict.BETTER, 0, Set.of(Flag.HARMFUL));
        compare(ann, i2, 20, 1, 0, Verdict.BETTER, 1, null);
        compare(ann, i3, 30, 0, 1, Verdict.TIE, null, null);
        compare(ann, i4, 100, 0, 1, Verdict.BETTER, 0, null);
        compare(bob, i1, 5, 0, 1, Verdict.BETTER, 0, Set.of(Flag.HARMFUL, Flag.UNTRUTHFUL));
        compare(bob, i2, 5, 1, 0, Verdict.BETTER, 1, null);
        compare(bob, i3, 5, 1, 0, Verdict.BOTH_BAD, null, null);
        compare(bob, i4, 5, 0, 1, Verdict.BETTER, 1, null);
        compare(cat, i1, 1, 0, 1, Verdict.BETTER, 1, null);
        compare(cat, i2, 3, 0, 1, Verdict.BETTER, 1, null);

        LengthScorer scorer = new LengthScorer();
        QualityReport r = Quality.report(store, p.id(), scorer);
        assertEquals(4, r.overlappedItemsLabelled());
        assertEquals(10, r.counts().labels());
        // pairs, over their common items:
        //   ann-bob on 4: [F,S,T,F] vs [F,S,B,S]: p_o = 2/4; marginals ann F2 S1 T1, bob F1 S2 B1;
        //           p_e = (2·1 + 1·2) / 16 = 0.25; κ = (0.5 − 0.25) / 0.75 = 1/3
        //   ann-cat on 2: [F,S] vs [S,S]: p_o = 1/2; p_e = (0.5·0 + 0.5·1) = 0.5; κ = 0
        //   bob-cat on 2: [F,S] vs [S,S]: the same, κ = 0
        assertEquals(round(List.of(new QualityReport.Pair("ann", "bob", 4, 0.5, 1.0 / 3, null),
                new QualityReport.Pair("ann", "cat", 2, 0.5, 0.0, null),
                new QualityReport.Pair("bob", "cat", 2, 0.5, 0.0, null))), round(r.pairs()));
        // project: pooled p_o = (2 + 1 + 1) / (4 + 2 + 2) = 0.5; κ weighted by items = (4/3 + 0 + 0) / 8 = 1/6
        assertEquals(0.5, r.percentAgreement(), EPS);
        assertEquals(1.0 / 6, r.cohensKappa(), EPS);
        assertNull(r.kendallTau());
        // position bias: 8 decisive, chosen on the left 4 times
        assertEquals(0.5, r.leftShare(), EPS);
        // the length scorer prefers the second response: S agrees, F does not: 5 of 8 decisive labels
        assertEquals(0.625, r.rewardModelAgreement(), EPS);
        assertEquals(8, r.rewardModelCompared());
        assertEquals(3, scorer.calls.get(), "items 1, 2 and 4 are scored once each");
        assertEquals(Map.of(Flag.HARMFUL, 2, Flag.UNTRUTHFUL, 1, Flag.OFF_TOPIC, 0), r.flags());

        QualityReport.Annotator a = r.annotators().get(0);
        // ann: 10, 20, 30, 100 s → median 25, mean 40; left 2 of 3 decisive; with bob and cat pooled:
        // p_o = (2 + 1) / 6 = 0.5, κ = (1/3·4 + 0·2) / 6 = 2/9; the reward model agrees with item 2 only
        assertEquals(round(new QualityReport.Annotator(ann.id(), "ann", 4, 25, 40, 2.0 / 3, 0.5, 2.0 / 9, null,
                1.0 / 3)), round(a));
        QualityReport.Annotator c = r.annotators().get(2);
        assertEquals(round(new QualityReport.Annotator(cat.id(), "cat", 2, 2, 2, 0.0, 0.5, 0.0, null, 1.0)), round(c));
        assertEquals(5, r.annotators().get(1).medianSeconds(), EPS);

        QualityReport none = Quality.report(store, p.id());
        assertNull(none.rewardModelAgreement(), "no reward model set on the project");
        assertEquals(0, none.rewardModelCompared());
    }

    @Test
    void rankingsAgreeByKendallTauAndTheirPairsMeetTheRewardModel() {
        Project p = project(TaskType.RANKING, 3, 2);
        List<Item> items = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            items.add(store.addItems(p.id(), List.of(NewItem.of("q" + i, "r", "rr", "rrr"))).getFirst());
        }
        for (Item item : items) {
            rank(ann, item, 0, 1, 2);
        }
        rank(bob, items.get(0), 0, 1, 2); // τ = 1
        rank(bob, items.get(1), 2, 1, 0); // τ = −1
        rank(bob, items.get(2), 1, 0, 2); // one swap of n = 3: τ = 1 − 4/6 = 1/3
        QualityReport r = Quality.report(store, p.id(), new LengthScorer());
        double tau = (1 - 1 + 1.0 / 3) / 3;
        assertEquals(round(List.of(new QualityReport.Pair("ann", "bob", 3, null, null, tau))), round(r.pairs()));
        assertEquals(tau, r.kendallTau(), EPS);
        assertNull(r.percentAgreement());
        assertNull(r.cohensKappa());
        assertNull(r.leftShare());
        // the scorer prefers longer: ann (shortest first) 0 of 9 pairs; bob 0 + 3 + 1 of 9 → 4 of 18
        assertEquals(4.0 / 18, r.rewardModelAgreement(), EPS);
        assertEquals(18, r.rewardModelCompared());
        assertEquals(0.0, r.annotators().get(0).rewardModelAgreement(), EPS);
        assertEquals(4.0 / 9, r.annotators().get(1).rewardModelAgreement(), EPS);
    }

    @Test
    void categoriesAreInResponseTermsNotScreenSides() {
        Project p = project(TaskType.COMPARISON, 2, 2);
        Item item = store.addItems(p.id(), List.of(NewItem.of("q", "a", "b"))).getFirst();
        // both choose response "a", one seeing it left, the other right: they agree
        compare(ann, item, 1, 0, 1, Verdict.BETTER, 0, null);
        compare(bob, item, 1, 1, 0, Verdict.BETTER, 0, null);
        QualityReport r = Quality.report(store, p.id(), null);
        assertEquals(1.0, r.percentAgreement(), EPS);
        assertNull(r.cohensKappa(), "both always 'first better': expected agreement 1, κ undefined");
        assertEquals(0.5, r.leftShare(), EPS);
        assertNull(r.rewardModelAgreement());
    }

    /** Figures rounded to 12 decimals, so that records computed two ways compare equal. */
    private static QualityReport.Annotator round(QualityReport.Annotator a) {
        return new QualityReport.Annotator(a.userId(), a.name(), a.labels(), a.medianSeconds(), a.meanSeconds(),
                round(a.leftShare()), round(a.percentAgreement()), round(a.cohensKappa()), round(a.kendallTau()),
                round(a.rewardModelAgreement()));
    }

    private static List<QualityReport.Pair> round(List<QualityReport.Pair> pairs) {
        return pairs.stream().map(x -> new QualityReport.Pair(x.first(), x.second(), x.items(),
                round(x.percentAgreement()), round(x.cohensKappa()), round(x.kendallTau()))).toList();
    }

    private static Double round(Double x) {
        return x == null ? null : Math.round(x * SCALE) / SCALE;
    }
}
