package dev.rlhf4j.feedback.store;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The store's behaviour, the same on every database: subclasses open a new, empty one ({@link #open()}). The
 * store's clock is the test's ({@link #clock}), so expiry is tested without waiting.
 */
abstract class FeedbackStoreContract {
    protected final AtomicLong clock = new AtomicLong(1_700_000_000_000L);
    protected Database db;
    protected FeedbackStore store;
    private int requests;

    /** A new, empty database, migrated. */
    protected abstract Database open() throws Exception;

    @BeforeEach
    void openStore() throws Exception {
        db = open();
        store = new FeedbackStore(db, clock::get);
    }

    @AfterEach
    void closeStore() {
        if (db != null) {
            db.close();
        }
    }

    private User user(String name) {
        return store.createUser(name, "hash-" + name, Role.ANNOTATOR);
    }

    private Project project(String name, TaskType type, int k, double overlap, int annotators) {
        return store.createProject(new ProjectSettings(name, type, "# Guide", k, overlap, annotators,
                Sampling.DEFAULTS, null, null), null);
    }

    private static List<NewItem> comparisons(int n) {
        List<NewItem> items = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            items.add(NewItem.of("prompt " + i, "a" + i, "b" + i));
        }
        return items;
    }

    private NewLabel better(Item item, User u) {
        List<Response> rs = store.responses(item.id());
        return NewLabel.comparison("req-" + requests++, item.id(), u.id(), rs.get(0).id(), rs.get(1).id(),
                Verdict.BETTER, rs.get(0).id(), null, null, "");
    }

    // ------------------------------------------------------------ people

    @Test
    void userNamesAreUniqueAndChecked() {
        User ann = user("ann");
        assertEquals(Optional.of(ann), store.userByName("ann"));
        assertEquals("hash-ann", store.credentials("ann").orElseThrow().passwordHash());
        assertThrows(StoreConflict.class, () -> user("ann"));
        assertThrows(IllegalArgumentException.class, () -> user("a b"));
        assertThrows(IllegalArgumentException.class, () -> user(""));
        assertEquals(List.of(ann), store.users());
        store.setRole(ann.id(), Role.ADMIN);
        assertEquals(1, store.countAdmins());
        store.setDisabled(ann.id(), true);
        assertEquals(0, store.countAdmins(), "a disabled admin does not count");
        assertTrue(store.user(ann.id()).orElseThrow().disabled());
    }

    @Test
    void disablingEndsSessionsAndRevokesTokens() {
        User ann = user("ann");
        store.createSession("s1", ann.id(), "csrf", clock.get() + 60_000);
        long token = store.createApiToken(ann.id(), "script", "t1");
        assertEquals(Optional.of(ann), store.userForApiToken("t1"));
        store.setDisabled(ann.id(), true);
        assertTrue(store.session("s1").isEmpty());
        assertTrue(store.userForApiToken("t1").isEmpty());
        store.setDisabled(ann.id(), false);
        assertTrue(store.userForApiToken("t1").isEmpty(), "a revoked token stays revoked");
        assertFalse(store.revokeApiToken(token, ann.id()));
    }

    @Test
    void apiTokensAreRevokedByTheirOwnerOnly() {
        User ann = user("ann");
        User bob = user("bob");
        long token = store.createApiToken(ann.id(), "script", "t1");
        assertFalse(store.revokeApiToken(token, bob.id()));
        assertTrue(store.userForApiToken("t1").isPresent());
        assertTrue(store.revokeApiToken(token, ann.id()));
        assertTrue(store.userForApiToken("t1").isEmpty());
    }

    @Test
    void invitationsAreUsedOnceAndExpire() {
        User admin = user("admin");
        store.createInvitation("inv", Role.VIEWER, admin.id(), clock.get() + 1000);
        assertEquals(Optional.of(Role.VIEWER), store.invitationRole("inv"));
        User v = store.redeemInvitation("inv", "vic", "h");
        assertEquals(Role.VIEWER, v.role());
        assertTrue(store.invitationRole("inv").isEmpty());
        assertThrows(StoreConflict.class, () -> store.redeemInvitation("inv", "other", "h"));
        assertTrue(store.userByName("other").isEmpty());

        store.createInvitation("late", Role.ANNOTATOR, admin.id(), clock.get() + 1000);
        clock.addAndGet(1000);
        assertTrue(store.invitationRole("late").isEmpty());
        assertThrows(StoreConflict.class, () -> store.redeemInvitation("late", "tardy", "h"));
        assertTrue(store.userByName("tardy").isEmpty());

        store.createInvitation("taken", Role.ANNOTATOR, admin.id(), clock.get() + 1000);
        assertThrows(StoreConflict.class, () -> store.redeemInvitation("taken", "vic", "h"), "name taken");
        assertTrue(store.invitationRole("taken").isPresent(), "a failed redeem leaves the invitation unused");
    }

    /**
     * Runs {@code attempts} at the same moment, each on its own thread, and counts those that succeeded; a
     * {@link StoreConflict} is a refusal, any other exception fails the test (through ExecutionException).
     */
    private static int atOnce(List<Runnable> attempts) throws Exception {
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(attempts.size());
        try {
            List<Future<Boolean>> results = new ArrayList<>();
            for (Runnable attempt : attempts) {
                results.add(pool.submit(() -> {
                    start.await();
                    try {
                        attempt.run();
                        return true;
                    } catch (StoreConflict e) {
                        return false;
                    }
                }));
            }
            start.countDown();
            int succeeded = 0;
            for (Future<Boolean> f : results) {
                succeeded += f.get(60, TimeUnit.SECONDS) ? 1 : 0;
            }
            return succeeded;
        } finally {
            pool.shutdown();
        }
    }

    @Test
    void anInvitationRedeemedTwiceAtOnceMakesOneAccount() throws Exception {
        User admin = user("admin");
        for (int round = 0; round < 5; round++) {
            String token = "inv" + round;
            store.createInvitation(token, Role.ANNOTATOR, admin.id(), clock.get() + 60_000);
            String x = "x" + round;
            String y = "y" + round;
            assertEquals(1, atOnce(List.of(() -> store.redeemInvitation(token, x, "h"),
                    () -> store.redeemInvitation(token, y, "h"))), "round " + round);
            int accounts = (store.userByName(x).isPresent() ? 1 : 0) + (store.userByName(y).isPresent() ? 1 : 0);
            assertEquals(1, accounts, "round " + round);
        }
    }

    @Test
    void oneNameTakenTwiceAtOnceMakesOneAccountAndOneConflict() throws Exception {
        for (int round = 0; round < 5; round++) {
            String name = "same" + round;
            // the unique index's own error (a StoreException) would fail the test instead of counting as refused
            assertEquals(1, atOnce(List.of(() -> store.createUser(name, "h", Role.ANNOTATOR),
                    () -> store.createUser(name, "h", Role.ANNOTATOR))), "round " + round);
            assertTrue(store.userByName(name).isPresent());
        }
    }

    @Test
    void sessionsExpireByTheStoreClock() {
        User ann = user("ann");
        store.createSession("s1", ann.id(), "csrf-1", clock.get() + 1000);
        Session s = store.session("s1").orElseThrow();
        assertEquals(ann, s.user());
        assertEquals("csrf-1", s.csrfToken());
        clock.addAndGet(999);
        assertTrue(store.session("s1").isPresent());
        clock.addAndGet(1);
        assertTrue(store.session("s1").isEmpty());
        store.createSession("s2", ann.id(), "csrf-2", clock.get() + 1000);
        store.deleteExpiredSessions();
        assertTrue(store.session("s2").isPresent());
        store.deleteSession("s2");
        assertTrue(store.session("s2").isEmpty());
    }

    // ------------------------------------------------------------ projects and items

    @Test
    void projectsHaveUniqueNamesCheckedSettingsAndAFixedTaskOnceTheyHaveItems() {
        Project p = project("p", TaskType.COMPARISON, 2, 0.1, 2);
        assertEquals(Optional.of(p), store.projectByName("p"));
        assertThrows(StoreConflict.class, () -> project("p", TaskType.RANKING, 3, 0, 2));
        assertThrows(IllegalArgumentException.class, () -> new ProjectSettings("q", TaskType.COMPARISON, "", 3, 0,
                2, null, null, null));
        assertThrows(IllegalArgumentException.class, () -> new ProjectSettings("q", TaskType.RANKING, "", 10, 0, 2,
                null, null, null));
        assertThrows(IllegalArgumentException.class, () -> new ProjectSettings("q", TaskType.RANKING, "", 3, 1.5, 2,
                null, null, null));
        assertThrows(IllegalArgumentException.class, () -> new Sampling(1, 0, 10));

        // before items, anything may change; after, not the task or K
        ProjectSettings ranking = new ProjectSettings("p", TaskType.RANKING, "", 4, 0.2, 3, Sampling.DEFAULTS,
                " /models/policy ", "");
        Project changed = store.updateProject(p.id(), ranking);
        assertEquals(TaskType.RANKING, store.project(p.id()).orElseThrow().taskType());
        assertEquals("/models/policy", changed.settings().policyModel());
        assertNull(changed.settings().rewardModel());
        store.addItems(p.id(), List.of(NewItem.of("x", "1", "2", "3", "4")));
        assertThrows(StoreConflict.class, () -> store.updateProject(p.id(), ProjectSettings.of("p",
                TaskType.COMPARISON, "")));
        assertThrows(StoreConflict.class, () -> store.updateProject(p.id(), new ProjectSettings("p",
                TaskType.RANKING, "", 3, 0.2, 3, Sampling.DEFAULTS, null, null)));
        store.updateProject(p.id(), new ProjectSettings("renamed", TaskType.RANKING, "new", 4, 0.5, 2,
                new Sampling(0.7, 0.9, 64), null, null));
        assertEquals(0.7, store.projectByName("renamed").orElseThrow().settings().sampling().temperature());
        project("other", TaskType.DEMONSTRATION, 0, 0, 2);
        assertThrows(StoreConflict.class, () -> store.updateProject(p.id(), new ProjectSettings("other",
                TaskType.RANKING, "", 4, 0.5, 2, null, null, null)));
        assertEquals(List.of("renamed", "other"), store.projects().stream().map(Project::name).toList());
    }

    @Test
    void itemsHaveAllTheirResponsesOrNoneAndExternalIdsAreAddedOnce() {
        Project p = project("p", TaskType.COMPARISON, 2, 0, 2);
        assertThrows(IllegalArgumentException.class, () -> store.addItems(p.id(), List.of(NewItem.of("ok", "a",
                "b"), NewItem.of("one", "a"))));
        assertEquals(0, store.items(p.id()).size(), "a refused batch adds nothing");
        List<NewItem> batch = List.of(new NewItem("q1", null, "e1", List.of("a", "b")),
                new NewItem("q2", null, "e2", List.of()), new NewItem("q1 again", null, "e1", List.of("c", "d")),
                new NewItem("q3", null, null, List.of("e", "f")));
        assertEquals(3, store.addItems(p.id(), batch).size(), "e1 twice in one batch is added once");
        assertEquals(0, store.addItems(p.id(), batch.subList(0, 2)).size());
        assertEquals(new ProjectCounts(3, 2, 0, 0), store.counts(p.id()));
        Item q2 = store.items(p.id()).get(1);
        assertEquals(List.of(q2), store.itemsMissingResponses(p.id()));
        store.addResponses(q2.id(), List.of("sampled"), "model");
        assertThrows(StoreConflict.class, () -> store.addResponses(q2.id(), List.of("x", "y"), "model"));
        store.addResponses(q2.id(), List.of("second"), "model");
        List<Response> rs = store.responses(q2.id());
        assertEquals(List.of(0, 1), rs.stream().map(Response::position).toList());
        assertEquals("model", rs.get(0).source());
        assertTrue(store.itemsMissingResponses(p.id()).isEmpty());
        // the same external id in another project is another item
        Project other = project("other", TaskType.COMPARISON, 2, 0, 2);
        assertEquals(1, store.addItems(other.id(), batch.subList(0, 1)).size());
    }

    @Test
    void itemsResponsesAndLabelsAreFoundByAPrefixOfTheirExternalIds() {
        // every item to two people
        Project p = project("p", TaskType.COMPARISON, 2, 1, 2);
        Project other = project("other", TaskType.COMPARISON, 2, 0, 2);
        store.addItems(p.id(), List.of(new NewItem("q", null, "r1-0", List.of("a", "b")),
                new NewItem("q", null, "r10-0", List.of("c", "d")), new NewItem("q", null, "r1-1", List.of("e", "f")),
                new NewItem("q", null, "rx-0", List.of("g", "h")), new NewItem("q", null, null, List.of("i", "j")),
                new NewItem("q", null, "é1-0", List.of("k", "l"))));
        store.addItems(other.id(), List.of(new NewItem("q", null, "r1-2", List.of("m", "n"))));
        List<Item> round1 = store.itemsByExternalIdPrefix(p.id(), "r1-");
        assertEquals(List.of("r1-0", "r1-1"), round1.stream().map(Item::externalId).toList());
        // no LIKE wildcards, no case folding; a prefix of characters, not bytes
        assertEquals(List.of(), store.itemsByExternalIdPrefix(p.id(), "r_-"));
        assertEquals(List.of(), store.itemsByExternalIdPrefix(p.id(), "R1-"));
        assertEquals(List.of("é1-0"), store.itemsByExternalIdPrefix(p.id(), "é1").stream().map(Item::externalId)
                .toList());
        assertEquals(5, store.itemsByExternalIdPrefix(p.id(), "").size(), "every item that has an external id");
        var responses = store.responsesByExternalIdPrefix(p.id(), "r1-");
        assertEquals(List.of(round1.get(0).id(), round1.get(1).id()), List.copyOf(responses.keySet()));
        assertEquals(List.of("e", "f"), responses.get(round1.get(1).id()).stream().map(Response::text).toList());

        User ann = user("ann");
        User bob = user("bob");
        for (Item i : store.items(p.id())) {
            store.submit(better(i, ann));
        }
        store.submit(better(round1.get(1), bob));
        List<Label> all = store.labelsByExternalIdPrefix(p.id(), "r1-", null);
        assertEquals(List.of(round1.get(0).id(), round1.get(1).id(), round1.get(1).id()),
                all.stream().map(Label::itemId).toList());
        assertEquals(List.of(bob.id()), store.labelsByExternalIdPrefix(p.id(), "r1-", bob.id()).stream()
                .map(Label::userId).toList());
        assertEquals(List.of(), store.labelsByExternalIdPrefix(other.id(), "r1-", null));

        // closing: r1-0 and rx-0 (one label of two) close, r1-1 (both labels) is complete already, "nope" is none
        assertEquals(2, store.closeItems(p.id(), List.of("r1-0", "r1-1", "rx-0", "nope")));
        assertEquals(0, store.closeItems(p.id(), List.of("r1-0")));
        assertEquals(3, store.labelsByExternalIdPrefix(p.id(), "r1-", null).size(), "labels stay");
        // bob's queue passes over the closed r1-0 (it would come first) to r10-0
        assertEquals("r10-0", store.nextTask(p.id(), bob.id()).orElseThrow().item().externalId());
        assertEquals(3, store.counts(p.id()).completeItems(), "r1-1, and the closed r1-0 and rx-0");
    }

    @Test
    void theOverlapShareGoesToSeveralPeopleSpreadEvenly() {
        Project p = project("p", TaskType.COMPARISON, 2, 0.3, 3);
        // added in two batches: the count runs on across them
        store.addItems(p.id(), comparisons(7));
        store.addItems(p.id(), comparisons(13));
        List<Item> items = store.items(p.id());
        // item n is overlapped when floor((n + 1)·0.3) > floor(n·0.3): n = 3, 6, 9, 13, 16, 19 → floor(20·0.3) = 6
        List<Integer> overlapped = new ArrayList<>();
        for (int n = 0; n < items.size(); n++) {
            if (items.get(n).replicas() == 3) {
                overlapped.add(n);
            } else {
                assertEquals(1, items.get(n).replicas());
            }
        }
        assertEquals(List.of(3, 6, 9, 13, 16, 19), overlapped);
        Project all = project("all", TaskType.COMPARISON, 2, 1.0, 2);
        assertTrue(store.addItems(all.id(), comparisons(5)).stream().allMatch(i -> i.replicas() == 2));
        Project none = project("none", TaskType.COMPARISON, 2, 0, 2);
        assertTrue(store.addItems(none.id(), comparisons(5)).stream().allMatch(i -> i.replicas() == 1));
    }

    // ------------------------------------------------------------ the queue

    @Test
    void theQueueReservesRespectsReplicasAndTakesItemsBackOnExpiryAndRelease() {
        Project p = project("p", TaskType.COMPARISON, 2, 1.0, 2);
        List<Item> items = store.addItems(p.id(), comparisons(1));
        Item notReady = store.addItems(p.id(), List.of(NewItem.of("later"))).getFirst();
        Item item = items.getFirst();
        User ann = user("ann");
        User bob = user("bob");
        User cat = user("cat");

        Task a = store.nextTask(p.id(), ann.id()).orElseThrow();
        assertEquals(item.id(), a.item().id());
        assertEquals(clock.get(), a.assignedAt());
        assertEquals(List.of("a0", "b0"), a.responses().stream().map(Response::text).toList());
        clock.addAndGet(5000);
        Task again = store.nextTask(p.id(), ann.id()).orElseThrow();
        assertEquals(item.id(), again.item().id(), "the item held is handed out again");
        assertEquals(a.assignedAt(), again.assignedAt(), "and its time still runs from the first hand-out");
        assertEquals(item.id(), store.nextTask(p.id(), bob.id()).orElseThrow().item().id(), "2 replicas");
        assertTrue(store.nextTask(p.id(), cat.id()).isEmpty(), "both replicas are reserved; the other item is not"
                + " ready");

        // ann's reservation (renewed when handed out again) runs to 5 s + 30 min; cat's, from 6 s, a second longer
        clock.addAndGet(1000);
        store.release(item.id(), bob.id());
        assertEquals(item.id(), store.nextTask(p.id(), cat.id()).orElseThrow().item().id(), "released to cat");
        assertTrue(store.nextTask(p.id(), bob.id()).isEmpty());

        clock.addAndGet(FeedbackStore.ASSIGNMENT_MILLIS - 1000);
        assertEquals(item.id(), store.nextTask(p.id(), bob.id()).orElseThrow().item().id(),
                "ann's reservation expired: bob takes the replica");
        assertTrue(store.nextTask(p.id(), user("dan").id()).isEmpty());

        store.submit(better(item, bob));
        assertEquals(item.id(), store.nextTask(p.id(), cat.id()).orElseThrow().item().id());
        store.submit(better(item, cat));
        assertTrue(store.nextTask(p.id(), ann.id()).isEmpty(), "the item has both its labels");
        assertTrue(store.nextTask(p.id(), bob.id()).isEmpty(), "nor does anyone get an item twice");
        assertEquals(new ProjectCounts(2, 1, 2, 1), store.counts(p.id()));

        store.addResponses(notReady.id(), List.of("x", "y"), "m");
        assertEquals(notReady.id(), store.nextTask(p.id(), ann.id()).orElseThrow().item().id(), "ready now");
    }

    @Test
    void threeAnnotatorsShareReplicatedAndSingleItems() {
        // 4 items, overlap 0.5 by 2 people: items 1 and 3 (0-based) go to two people, 0 and 2 to one
        Project p = project("p", TaskType.COMPARISON, 2, 0.5, 2);
        store.addItems(p.id(), comparisons(4));
        List<User> people = List.of(user("ann"), user("bob"), user("cat"));
        int labels = 0;
        for (int round = 0; round < 10; round++) {
            for (User u : people) {
                Optional<Task> t = store.nextTask(p.id(), u.id());
                if (t.isPresent()) {
                    store.submit(better(t.get().item(), u));
                    labels++;
                }
            }
        }
        assertEquals(1 + 2 + 1 + 2, labels);
        for (Item item : store.items(p.id())) {
            long n = store.labels(p.id()).stream().filter(l -> l.itemId() == item.id()).count();
            assertEquals(item.replicas(), n, "item " + item.id());
        }
        assertEquals(4, store.counts(p.id()).completeItems());
    }

    @Test
    void peopleAskingAtOnceNeverShareAnItemMeantForOne() throws Exception {
        // items of one replica each, asked for by 8 people at the same moment, 5 times over: each item is handed to
        // one person (PostgreSQL's read committed would let two transactions both see the replica free)
        Project p = project("p", TaskType.COMPARISON, 2, 0, 2);
        store.addItems(p.id(), comparisons(60));
        List<User> people = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            people.add(user("u" + i));
        }
        ExecutorService pool = Executors.newFixedThreadPool(people.size());
        try {
            Set<Long> handed = new HashSet<>();
            for (int round = 0; round < 5; round++) {
                CountDownLatch start = new CountDownLatch(1);
                List<Future<Long>> asks = new ArrayList<>();
                for (User u : people) {
                    asks.add(pool.submit(() -> {
                        start.await();
                        Task t = store.nextTask(p.id(), u.id()).orElseThrow();
                        store.submit(better(t.item(), u));
                        return t.item().id();
                    }));
                }
                start.countDown();
                for (Future<Long> f : asks) {
                    long item = f.get(60, TimeUnit.SECONDS);
                    assertTrue(handed.add(item), "item " + item + " was handed to two people");
                }
            }
            assertEquals(40, handed.size());
        } finally {
            pool.shutdown();
        }
    }

    // ------------------------------------------------------------ labels

    @Test
    void aSubmitIsStoredOnceAndRepeatsAreAcknowledged() {
        Project p = project("p", TaskType.COMPARISON, 2, 0, 2);
        Item item = store.addItems(p.id(), comparisons(1)).getFirst();
        User ann = user("ann");
        User bob = user("bob");
        Task t = store.nextTask(p.id(), ann.id()).orElseThrow();
        clock.addAndGet(7000);
        NewLabel l = better(item, ann);
        Submission first = store.submit(l);
        assertFalse(first.repeated());
        assertEquals(7000, first.label().durationMillis());
        assertEquals(t.assignedAt(), first.label().startedAt());
        Submission again = store.submit(l);
        assertTrue(again.repeated());
        assertEquals(first.label(), again.label());
        assertEquals(List.of(first.label()), store.labels(p.id()));
        assertEquals(Optional.of(first.label()), store.labelByRequestId(l.requestId()));
        // the same request id for another person's label is a conflict, not a repeat
        NewLabel stolen = new NewLabel(l.requestId(), item.id(), bob.id(), l.kind(), l.verdict(), l.leftResponseId(),
                l.rightResponseId(), l.chosenResponseId(), null, null, null, null, null, "");
        assertThrows(StoreConflict.class, () -> store.submit(stolen));
        assertEquals(1, store.labels(p.id()).size());
        assertEquals(List.of(first.label()), store.labelsBy(p.id(), ann.id()));
        assertTrue(store.labelsBy(p.id(), bob.id()).isEmpty());
    }

    @Test
    void submitsThatDoNotFitAreRefusedAndStoreNothing() {
        Project cmp = project("cmp", TaskType.COMPARISON, 2, 0, 2);
        List<Item> items = store.addItems(cmp.id(), comparisons(3));
        Item pending = store.addItems(cmp.id(), List.of(NewItem.of("pending"))).getFirst();
        Project rank = project("rank", TaskType.RANKING, 3, 0, 2);
        Item ranked = store.addItems(rank.id(), List.of(NewItem.of("r", "x", "y", "z"))).getFirst();
        User ann = user("ann");
        User bob = user("bob");
        Item item = items.getFirst();
        List<Response> rs = store.responses(item.id());
        List<Response> foreign = store.responses(items.get(1).id());
        List<Long> rankedIds = store.responses(ranked.id()).stream().map(Response::id).toList();

        // wrong kind
        assertThrows(IllegalArgumentException.class, () -> store.submit(NewLabel.ranking("k1", item.id(), ann.id(),
                List.of(rs.get(0).id(), rs.get(1).id()), List.of(rs.get(0).id(), rs.get(1).id()), null, "")));
        assertThrows(IllegalArgumentException.class, () -> store.submit(NewLabel.demonstration("k2", item.id(),
                ann.id(), "text", null, "")));
        // a response of another item
        assertThrows(IllegalArgumentException.class, () -> store.submit(NewLabel.comparison("f1", item.id(),
                ann.id(), rs.get(0).id(), foreign.get(0).id(), Verdict.TIE, null, null, null, "")));
        assertThrows(IllegalArgumentException.class, () -> store.submit(NewLabel.comparison("f2", item.id(),
                ann.id(), rs.get(0).id(), rs.get(0).id(), Verdict.TIE, null, null, null, "")));
        // rankings that are not permutations of the item's responses
        for (List<Long> bad : List.of(rankedIds.subList(0, 2), List.of(rankedIds.get(0), rankedIds.get(0),
                rankedIds.get(1)), List.of(rankedIds.get(0), rankedIds.get(1), rs.get(0).id()))) {
            assertThrows(IllegalArgumentException.class, () -> store.submit(NewLabel.ranking("p" + bad, ranked.id(),
                    ann.id(), bad, rankedIds, null, "")));
            assertThrows(IllegalArgumentException.class, () -> store.submit(NewLabel.ranking("q" + bad, ranked.id(),
                    ann.id(), rankedIds, bad, null, "")));
        }
        // the kind is checked before readiness
        assertThrows(IllegalArgumentException.class, () -> store.submit(NewLabel.demonstration("n1", pending.id(),
                ann.id(), "x", null, "")));
        assertTrue(store.responses(pending.id()).isEmpty());
        assertEquals(0, store.labels(cmp.id()).size() + store.labels(rank.id()).size());

        // not in this person's queue: ann holds the item's only replica
        store.nextTask(cmp.id(), ann.id()).orElseThrow();
        assertThrows(StoreConflict.class, () -> store.submit(better(item, bob)));
        // already labelled: a second label of the same item by the same person under a new request id
        store.submit(better(item, ann));
        assertThrows(StoreConflict.class, () -> store.submit(better(item, ann)));
        assertEquals(1, store.labels(cmp.id()).size());
        assertTrue(store.labelByRequestId("k1").isEmpty() && store.labelByRequestId("f1").isEmpty());
        // a valid ranking is stored with its order shown
        Submission s = store.submit(NewLabel.ranking("ok", ranked.id(), ann.id(), rankedIds.reversed(), rankedIds,
                java.util.EnumSet.of(Flag.OFF_TOPIC), "note"));
        assertEquals(rankedIds.reversed(), s.label().ranking());
        assertEquals(store.labels(rank.id()), List.of(s.label()));
        assertEquals(Set.of(Flag.OFF_TOPIC), store.labels(rank.id()).getFirst().flags());
    }

    @Test
    void notReadyItemsCannotBeLabelled() {
        Project cmp = project("cmp", TaskType.COMPARISON, 2, 0, 2);
        Item pending = store.addItems(cmp.id(), List.of(NewItem.of("pending"))).getFirst();
        store.addResponses(pending.id(), List.of("only one"), "m");
        long r = store.responses(pending.id()).getFirst().id();
        User ann = user("ann");
        assertThrows(StoreConflict.class, () -> store.submit(NewLabel.comparison("n", pending.id(), ann.id(), r,
                r + 1000, Verdict.TIE, null, null, null, "")));
        assertTrue(store.labels(cmp.id()).isEmpty());
    }

    @Test
    void concurrentSubmitsWithRepeatedRequestIdsAreEachStoredOnce() throws Exception {
        // 8 threads, 4 people, two threads per person sending the same 40 labels (each thread then 10 of them a
        // second time), in opposite orders: 400 submits of 160 labels
        int itemsCount = 40;
        Project p = project("p", TaskType.COMPARISON, 2, 1.0, 4);
        List<Item> items = store.addItems(p.id(), comparisons(itemsCount));
        List<User> people = List.of(user("u0"), user("u1"), user("u2"), user("u3"));
        List<List<NewLabel>> perPerson = new ArrayList<>();
        for (User u : people) {
            List<NewLabel> ls = new ArrayList<>();
            for (Item item : items) {
                List<Response> rs = store.responses(item.id());
                ls.add(NewLabel.comparison(u.name() + "-" + item.id(), item.id(), u.id(), rs.get(1).id(),
                        rs.get(0).id(), Verdict.BETTER, rs.get(1).id(), 2, null, ""));
            }
            perPerson.add(ls);
        }
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        List<Future<List<Submission>>> results = new ArrayList<>();
        for (int t = 0; t < 8; t++) {
            List<NewLabel> mine = new ArrayList<>(perPerson.get(t / 2));
            if (t % 2 == 1) {
                Collections.reverse(mine);
            }
            mine.addAll(mine.subList(0, 10));
            Callable<List<Submission>> work = () -> {
                start.await();
                List<Submission> out = new ArrayList<>();
                for (NewLabel l : mine) {
                    out.add(store.submit(l));
                }
                return out;
            };
            results.add(pool.submit(work));
        }
        start.countDown();
        List<Submission> all = new ArrayList<>();
        for (Future<List<Submission>> f : results) {
            all.addAll(f.get(120, TimeUnit.SECONDS));
        }
        pool.shutdown();
        assertEquals(400, all.size());
        assertEquals(160, all.stream().filter(s -> !s.repeated()).count(), "each label stored by exactly one submit");
        List<Label> stored = store.labels(p.id());
        assertEquals(160, stored.size());
        Set<String> ids = new HashSet<>();
        stored.forEach(l -> ids.add(l.requestId()));
        assertEquals(160, ids.size());
        for (Submission s : all) {
            assertTrue(stored.contains(s.label()), "every acknowledgement names a stored label");
        }
        assertEquals(new ProjectCounts(40, 40, 160, 40), store.counts(p.id()));
    }

    // ------------------------------------------------------------ jobs and audit

    @Test
    void generationJobsReportProgressAndInterruptedOnesFail() {
        Project p = project("p", TaskType.COMPARISON, 2, 0, 2);
        GenerationJob a = store.createJob(p.id(), "/m", 10, null);
        assertEquals(GenerationJob.Status.QUEUED, a.status());
        store.jobProgress(a.id(), GenerationJob.Status.RUNNING, 4);
        GenerationJob running = store.job(a.id()).orElseThrow();
        assertEquals(4, running.done());
        assertEquals(GenerationJob.Status.RUNNING, running.status());
        clock.addAndGet(10);
        store.finishJob(a.id(), GenerationJob.Status.DONE, null);
        GenerationJob done = store.job(a.id()).orElseThrow();
        assertEquals(clock.get(), done.finishedAt());
        assertTrue(done.status().finished());
        GenerationJob b = store.createJob(p.id(), "/m", 3, null);
        GenerationJob c = store.createJob(p.id(), "/m", 3, null);
        store.jobProgress(c.id(), GenerationJob.Status.RUNNING, 1);
        assertEquals(List.of(c.id(), b.id(), a.id()), store.jobs(p.id()).stream().map(GenerationJob::id).toList());
        assertEquals(2, store.failInterruptedJobs());
        assertEquals(GenerationJob.Status.FAILED, store.job(b.id()).orElseThrow().status());
        assertEquals(GenerationJob.Status.FAILED, store.job(c.id()).orElseThrow().status());
        assertEquals("the server stopped during the job", store.job(c.id()).orElseThrow().error());
        assertEquals(GenerationJob.Status.DONE, store.job(a.id()).orElseThrow().status());
    }

    @Test
    void theAuditLogListsNewestFirstWithNames() {
        User admin = user("admin");
        store.audit(admin.id(), "invite", "annotator");
        clock.addAndGet(1);
        store.audit(null, "items.import", "3 items");
        clock.addAndGet(1);
        store.audit(admin.id(), "export", "p");
        List<AuditEntry> log = store.auditLog(10);
        assertEquals(List.of("export", "items.import", "invite"), log.stream().map(AuditEntry::action).toList());
        assertEquals("admin", log.get(0).userName());
        assertNull(log.get(1).userId());
        assertNull(log.get(1).userName());
        assertEquals(clock.get(), log.get(0).createdAt());
        assertEquals(2, store.auditLog(2).size());
        assertEquals("export", store.auditLog(1).getFirst().action());
    }
}
