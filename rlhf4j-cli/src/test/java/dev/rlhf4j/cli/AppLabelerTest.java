package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.feedback.auth.Tokens;
import dev.rlhf4j.feedback.generate.ResponseSampler;
import dev.rlhf4j.feedback.store.Database;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.NewItem;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.ProjectSettings;
import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.Sampling;
import dev.rlhf4j.feedback.store.TaskType;
import dev.rlhf4j.feedback.store.User;
import dev.rlhf4j.feedback.web.FeedbackServer;
import dev.rlhf4j.tensor.UserError;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link AppLabeler} against a real feedback app on a free port (SQLite in a temporary folder), with people who
 * label through the same JSON API the app's pages use.
 */
class AppLabelerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @TempDir
    Path tmp;
    private Database db;
    private FeedbackStore store;
    private ResponseSampler sampler;
    private FeedbackServer server;
    private String adminToken;
    private final StringWriter console = new StringWriter();

    @BeforeEach
    void startApp() {
        db = Database.sqlite(tmp.resolve("data"));
        store = new FeedbackStore(db);
        sampler = new ResponseSampler(store);
        server = FeedbackServer.start(store, sampler, new FeedbackServer.Config("127.0.0.1", 0, false, null));
        adminToken = token(store.createUser("admin", "unused", Role.ADMIN));
    }

    @AfterEach
    void stopApp() {
        server.close();
        sampler.close();
        db.close();
    }

    private String token(User u) {
        String t = Tokens.newToken();
        store.createApiToken(u.id(), "test", Tokens.hash(t));
        return t;
    }

    private Project comparisonProject(String name, double overlap) {
        return store.createProject(new ProjectSettings(name, TaskType.COMPARISON, "Pick the better one.", 2, overlap,
                2, Sampling.DEFAULTS, null, null), null);
    }

    private AppLabeler labeler(String project, Duration timeout, Duration poll, String token, Clock clock,
                               AppLabeler.Sleeper sleeper) {
        return new AppLabeler(URI.create(server.url()), project, timeout, poll, token, clock, sleeper);
    }

    private static List<Labeler.Pair> pairs(int round, int n) {
        List<Labeler.Pair> pairs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            pairs.add(new Labeler.Pair("r" + round + "-" + i, "prompt " + round + "." + i, "response a" + i,
                    "response b" + i));
        }
        return pairs;
    }

    /** What a person did with one pair: the texts they preferred and rejected (null for a tie or both bad). */
    private record Given(String prompt, String chosen, String rejected, Integer strength) {
    }

    /**
     * One person labels what their queue hands them, through the API, until it is empty: item by item, by how the
     * prompt ends: the response shown on the left wins when it ends in 0, 4 or 5 (with strength 3, none, 1), the
     * right one when it ends in 1, a tie for 2, both bad for 3. Returns what they gave, in order.
     */
    private List<Given> annotate(String token, long project) throws Exception {
        List<Given> given = new ArrayList<>();
        while (true) {
            HttpResponse<String> next = api("GET", "api/projects/" + project + "/next", token, null);
            if (next.statusCode() == 204) {
                return given;
            }
            assertEquals(200, next.statusCode(), next.body());
            JsonNode task = JSON.readTree(next.body());
            String prompt = task.get("prompt").asText();
            JsonNode left = task.get("responses").get(0);
            JsonNode right = task.get("responses").get(1);
            char last = prompt.charAt(prompt.length() - 1);
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("request_id", token.substring(0, 8) + "-" + task.get("item_id").asLong());
            body.put("left", left.get("id").asLong());
            body.put("right", right.get("id").asLong());
            Integer strength = switch (last) {
                case '0' -> 3;
                case '5' -> 1;
                default -> null;
            };
            switch (last) {
                case '0', '4', '5' -> {
                    body.put("verdict", "better");
                    body.put("chosen", left.get("id").asLong());
                    given.add(new Given(prompt, left.get("text").asText(), right.get("text").asText(), strength));
                }
                case '1' -> {
                    body.put("verdict", "better");
                    body.put("chosen", right.get("id").asLong());
                    given.add(new Given(prompt, right.get("text").asText(), left.get("text").asText(), null));
                }
                case '2' -> {
                    body.put("verdict", "tie");
                    given.add(new Given(prompt, null, null, null));
                }
                default -> {
                    body.put("verdict", "both_bad");
                    given.add(new Given(prompt, null, null, null));
                }
            }
            if (strength != null) {
                body.put("strength", strength);
            }
            HttpResponse<String> r = api("POST", "api/items/" + task.get("item_id").asLong() + "/label", token,
                    JSON.writeValueAsString(body));
            assertEquals(200, r.statusCode(), r.body());
        }
    }

    private HttpResponse<String> api(String method, String path, String token, String json) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(server.url() + path))
                .header("Authorization", "Bearer " + token).method(method, json == null
                        ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(json));
        if (json != null) {
            b.header("Content-Type", "application/json");
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static List<JsonNode> read(Path file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String line : Files.readAllLines(file)) {
            out.add(JSON.readTree(line));
        }
        return out;
    }

    /** The records a person's labels should give, in the pairs' order (pairs without a preference give none). */
    private static void assertRecords(List<Labeler.Pair> pairs, List<Given> given, List<JsonNode> records) {
        List<String> expected = new ArrayList<>();
        for (Labeler.Pair p : pairs) {
            for (Given g : given) {
                if (g.prompt().equals(p.prompt()) && g.chosen() != null) {
                    expected.add(p.prompt() + " | " + g.chosen() + " > " + g.rejected() + " | "
                            + (g.strength() == null ? "-" : g.strength() / 3.0) + " | " + p.id());
                }
            }
        }
        List<String> actual = records.stream().map(r -> r.get("prompt").asText() + " | " + r.get("chosen").asText()
                + " > " + r.get("rejected").asText() + " | " + (r.has("margin") ? r.get("margin").asDouble() : "-")
                + " | " + r.get("id").asText()).toList();
        assertEquals(expected, actual);
    }

    @Test
    @Timeout(120)
    void peopleLabelThePushedPairsAndTheFileHoldsTheirPreferencesAndAResumeAsksNothingMore() throws Exception {
        Project p = comparisonProject("loop", 0);
        String annotator = token(store.createUser("ann", "unused", Role.ANNOTATOR));
        // something else in the project (the annotator labels it first): neither waited for nor written
        store.addItems(p.id(), List.of(NewItem.of("someone else's prompt", "x", "y")));
        List<Labeler.Pair> pairs = pairs(1, 6);
        Path out = tmp.resolve("round-1/preferences.jsonl");
        PrintWriter w = new PrintWriter(console, true);
        Labeler.Outcome outcome;
        List<Given> given = new ArrayList<>();
        ExecutorService loop = Executors.newSingleThreadExecutor();
        try (AppLabeler l = labeler("loop", Duration.ofHours(1), Duration.ofMillis(20), adminToken,
                Clock.systemUTC(), d -> Thread.sleep(d))) {
            Future<Labeler.Outcome> running = loop.submit(() -> l.label(1, pairs, out, w));
            // the annotator works as the items arrive (nothing to do before the push: the first call may find none)
            while (given.size() < pairs.size()) {
                assertFalse(running.isDone(), () -> "label() ended before the pairs were labelled: " + console);
                given.addAll(annotate(annotator, p.id()).stream().filter(g -> g.prompt().startsWith("prompt"))
                        .toList());
                Thread.sleep(10);
            }
            outcome = running.get(60, TimeUnit.SECONDS);
        } finally {
            loop.shutdownNow();
        }
        // 4 preferences (0, 1, 4, 5), a tie and a both-bad set aside, nothing unlabelled
        assertEquals(new Labeler.Outcome(4, 2, 0), outcome);
        List<JsonNode> records = read(out);
        assertRecords(pairs, given, records);
        String text = console.toString();
        assertTrue(text.contains("round 1: 6 pairs in project \"loop\" (6 new, 0 there already)"), text);
        assertTrue(text.contains("label them at " + server.url() + "projects/" + p.id() + "/label"), text);
        assertTrue(text.contains("round 1: 6/6 labelled"), text);
        assertFalse(text.contains(adminToken), "the token is never printed");
        assertEquals(7, store.items(p.id()).size());

        // the loop resumed at this round: nothing is pushed again, nobody is asked anything, the same file results
        byte[] first = Files.readAllBytes(out);
        StringWriter again = new StringWriter();
        try (AppLabeler l = labeler("loop", Duration.ofHours(1), Duration.ofMillis(20), adminToken,
                Clock.systemUTC(), d -> {
                    throw new AssertionError("a resumed round with every label given waits for nothing");
                })) {
            assertEquals(outcome, l.label(1, pairs, out, new PrintWriter(again, true)));
        }
        assertTrue(again.toString().contains("(0 new, 6 there already)"), again.toString());
        assertEquals(7, store.items(p.id()).size());
        assertEquals(List.of(), annotate(annotator, p.id()), "the queue holds nothing more of the loop's");
        assertEquals(new String(first), Files.readString(out));
    }

    @Test
    void withOverlapEveryLabelIsARecordAsTheExportWritesThem() throws Exception {
        // every item to two people: ann prefers what is shown left on "…0", bob too; both label every pair
        Project p = comparisonProject("overlap", 1.0);
        String ann = token(store.createUser("ann", "unused", Role.ANNOTATOR));
        String bob = token(store.createUser("bob", "unused", Role.ANNOTATOR));
        List<Labeler.Pair> pairs = pairs(3, 2);
        List<Given> given = new ArrayList<>();
        int[] sleeps = {0};
        try (AppLabeler l = labeler("overlap", Duration.ofHours(1), Duration.ofSeconds(10), adminToken,
                Clock.systemUTC(), d -> {
                    // the people label while the loop waits (in the sleep, so that nothing depends on timing)
                    if (sleeps[0]++ == 0) {
                        try {
                            given.addAll(annotate(ann, p.id()));
                            given.addAll(annotate(bob, p.id()));
                        } catch (Exception e) {
                            throw new AssertionError(e);
                        }
                    }
                })) {
            Path out = tmp.resolve("prefs.jsonl");
            // pair 0 is a preference by both, pair 1 (ends in 1) the right-hand one by both
            assertEquals(new Labeler.Outcome(4, 0, 0), l.label(3, pairs, out, new PrintWriter(console, true)));
            List<JsonNode> records = read(out);
            assertEquals(4, records.size());
            assertRecords(pairs, given, records);
            assertTrue(console.toString().contains("round 3: 0/2 labelled"), console.toString());
            assertTrue(console.toString().contains("round 3: 2/2 labelled (4 labels)"), console.toString());
        }
    }

    /** A clock that moves only when the labeler sleeps. */
    private static final class TestClock extends Clock {
        private Instant now = Instant.parse("2026-12-01T12:00:00Z");

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return now;
        }

        void advance(Duration d) {
            now = now.plus(d);
        }
    }

    @Test
    void whenTheRoundTimeoutPassesItGoesOnWithTheLabelsThereAre() throws Exception {
        Project p = comparisonProject("slow", 0);
        String ann = token(store.createUser("ann", "unused", Role.ANNOTATOR));
        TestClock clock = new TestClock();
        List<Duration> slept = new ArrayList<>();
        List<String> preferred = new ArrayList<>();
        List<Labeler.Pair> pairs = pairs(2, 3);
        try (AppLabeler l = labeler("slow", Duration.ofHours(1), Duration.ofMinutes(25), adminToken, clock, d -> {
            if (slept.isEmpty()) {
                // one label, of the first item the queue hands out, then nobody comes back
                preferred.add(preferRight(ann, p.id()));
            }
            slept.add(d);
            clock.advance(d);
        })) {
            Path out = tmp.resolve("prefs.jsonl");
            assertEquals(new Labeler.Outcome(1, 0, 2), l.label(2, pairs, out, new PrintWriter(console, true)));
            // polls at 0, 25 and 50 minutes, the last one at the hour: the sleeps are cut to the deadline
            assertEquals(List.of(Duration.ofMinutes(25), Duration.ofMinutes(25), Duration.ofMinutes(10)), slept);
            List<JsonNode> records = read(out);
            assertEquals(1, records.size());
            assertEquals("r2-0", records.getFirst().get("id").asText());
            // the response shown on the right, whichever of a and b it was
            assertEquals(preferred, List.of(records.getFirst().get("chosen").asText()));
            String text = console.toString();
            assertTrue(text.contains("round 2: 1/3 labelled"), text);
            assertTrue(text.contains("round 2: --round-timeout 1h passed with 1 of 3 pairs labelled; 2 closed in the "
                    + "app (handed to nobody now)"), text);
            // the two left are handed to nobody, and the round, resumed, is over at once with the same labels
            assertEquals(204, api("GET", "api/projects/" + p.id() + "/next", ann, null).statusCode());
            byte[] first = Files.readAllBytes(out);
            try (AppLabeler again = labeler("slow", Duration.ofHours(1), Duration.ofMinutes(25), adminToken, clock,
                    d -> {
                        throw new AssertionError("a round that timed out is over");
                    })) {
                assertEquals(new Labeler.Outcome(1, 0, 2), again.label(2, pairs, out, new PrintWriter(console, true)));
            }
            assertEquals(new String(first), Files.readString(out));
        }
    }

    /** The next item of the person's queue, labelled with the response shown on the right as better; its text. */
    private String preferRight(String token, long project) {
        try {
            JsonNode task = JSON.readTree(api("GET", "api/projects/" + project + "/next", token, null).body());
            long left = task.get("responses").get(0).get("id").asLong();
            long right = task.get("responses").get(1).get("id").asLong();
            HttpResponse<String> r = api("POST", "api/items/" + task.get("item_id").asLong() + "/label", token,
                    "{\"request_id\":\"a\",\"verdict\":\"better\",\"left\":" + left + ",\"right\":" + right
                            + ",\"chosen\":" + right + "}");
            assertEquals(200, r.statusCode(), r.body());
            return task.get("responses").get(1).get("text").asText();
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void nobodyLabellingEndsWithEveryPairUnlabelledAndAnEmptyFile() throws Exception {
        comparisonProject("idle", 0);
        TestClock clock = new TestClock();
        try (AppLabeler l = labeler("idle", Duration.ofMinutes(30), Duration.ofMinutes(10), adminToken, clock,
                clock::advance)) {
            Path out = tmp.resolve("prefs.jsonl");
            assertEquals(new Labeler.Outcome(0, 0, 4), l.label(1, pairs(1, 4), out, new PrintWriter(console, true)));
            assertEquals("", Files.readString(out));
            assertEquals(Instant.parse("2026-12-01T12:30:00Z"), clock.instant());
            assertTrue(console.toString().contains("passed with 0 of 4 pairs labelled; 4 closed in the app"),
                    console.toString());
        }
    }

    @Test
    void anAppThatStopsAnsweringWhileTheLoopWaitsIsAskedAgainAtTheNextPoll() throws Exception {
        Project p = comparisonProject("restarted", 0);
        String ann = token(store.createUser("ann", "unused", Role.ANNOTATOR));
        int port = URI.create(server.url()).getPort();
        TestClock clock = new TestClock();
        int[] sleeps = {0};
        List<String> preferred = new ArrayList<>();
        try (AppLabeler l = labeler("restarted", Duration.ofHours(1), Duration.ofMinutes(1), adminToken, clock, d -> {
            switch (sleeps[0]++) {
                // the server goes away after the first look, and comes back on the same port a poll later
                case 0 -> server.close();
                case 1 -> {
                    server = FeedbackServer.start(store, sampler, new FeedbackServer.Config("127.0.0.1", port, false,
                            null));
                    preferred.add(preferRight(ann, p.id()));
                }
                default -> {
                }
            }
            clock.advance(d);
        })) {
            Path out = tmp.resolve("prefs.jsonl");
            assertEquals(new Labeler.Outcome(1, 0, 0), l.label(1, pairs(1, 1), out, new PrintWriter(console, true)));
            assertEquals(preferred, List.of(read(out).getFirst().get("chosen").asText()));
        }
        String text = console.toString();
        assertTrue(text.contains("round 1: --app-url " + server.url() + ": the feedback app does not answer ("), text);
        assertTrue(text.contains("trying again in 1m"), text);
        assertTrue(text.contains("round 1: 1/1 labelled"), text);
    }

    // ------------------------------------------------------------ errors

    private UserError refused(AppLabeler l) {
        return assertThrows(UserError.class, () -> l.label(1, pairs(1, 2), tmp.resolve("x.jsonl"),
                new PrintWriter(console, true)));
    }

    private AppLabeler quick(String project, String token) {
        return labeler(project, Duration.ofMinutes(1), Duration.ofSeconds(1), token, new TestClock(), d -> {
        });
    }

    @Test
    void aWrongTokenIsOneLineSayingWhatToSetAndNeverShowsTheToken() {
        comparisonProject("loop", 0);
        String wrong = Tokens.newToken();
        UserError e = refused(quick("loop", wrong));
        assertTrue(e.getMessage().startsWith("--app-url " + server.url() + ": the app refused the API token (401)"),
                e.getMessage());
        assertTrue(e.getMessage().contains("set RLHF4J_API_TOKEN to an admin's API token"), e.getMessage());
        assertFalse(e.getMessage().contains(wrong));
        assertEquals(1, e.getMessage().lines().count());
        UserError none = assertThrows(UserError.class, () -> quick("loop", " "));
        assertTrue(none.getMessage().contains("set RLHF4J_API_TOKEN to an admin's API token"), none.getMessage());
    }

    @Test
    void anAnnotatorsTokenIsRefusedBeforeAnythingIsPushed() {
        Project p = comparisonProject("loop", 0);
        String ann = token(store.createUser("ann", "unused", Role.ANNOTATOR));
        UserError e = refused(quick("loop", ann));
        assertEquals("--app-url " + server.url() + ": RLHF4J_API_TOKEN is an API token of ann, an annotator; the loop "
                + "pushes items and reads everyone's labels, which takes an admin's API token", e.getMessage());
        assertEquals(0, store.items(p.id()).size());
    }

    @Test
    void anUnknownProjectOrOneThatIsNotAComparisonIsNamed() {
        comparisonProject("stories", 0);
        store.createProject(ProjectSettings.of("ranks", TaskType.RANKING, ""), null);
        UserError unknown = refused(quick("storys", adminToken));
        assertEquals("--app-project storys: the app at " + server.url() + " has no such project (it has \"stories\", "
                + "\"ranks\"); an admin creates it with task type comparison", unknown.getMessage());
        UserError ranking = refused(quick("ranks", adminToken));
        assertTrue(ranking.getMessage().startsWith("--app-project ranks: a ranking project; the loop needs a "
                + "comparison project"), ranking.getMessage());
    }

    @Test
    void aProjectIsFoundByItsIdToo() throws Exception {
        Project p = comparisonProject("by id", 0);
        TestClock clock = new TestClock();
        try (AppLabeler l = labeler(Long.toString(p.id()), Duration.ofMinutes(1), Duration.ofMinutes(1), adminToken,
                clock, clock::advance)) {
            l.label(1, pairs(1, 2), tmp.resolve("x.jsonl"), new PrintWriter(console, true));
        }
        assertEquals(2, store.items(p.id()).size());
    }

    @Test
    void anAppThatDoesNotAnswerIsOneLineNamingTheUrl() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            port = s.getLocalPort();
        }
        AppLabeler l = new AppLabeler(URI.create("http://127.0.0.1:" + port), "loop", Duration.ofMinutes(1),
                Duration.ofSeconds(1), adminToken, new TestClock(), d -> {
        });
        UserError e = refused(l);
        assertTrue(e.getMessage().startsWith("--app-url http://127.0.0.1:" + port + "/: the feedback app does not "
                + "answer ("), e.getMessage());
        assertTrue(e.getMessage().endsWith("is rlhf4j serve running there?"), e.getMessage());
        assertEquals(1, e.getMessage().lines().count());
        assertThrows(UserError.class, () -> new AppLabeler(URI.create("ftp://x/"), "loop", Duration.ofMinutes(1),
                Duration.ofSeconds(1), adminToken));
    }

    @Test
    void itemsOfAnotherRunUnderTheSameIdsAreRefusedNotMixedIn() {
        Project p = comparisonProject("shared", 0);
        store.addItems(p.id(), List.of(new NewItem("another run's prompt", null, "r1-0", List.of("a", "b"))));
        UserError e = refused(quick("shared", adminToken));
        assertTrue(e.getMessage().startsWith("--app-project shared: the project already has an item with id \"r1-0\" "
                + "that holds another prompt"), e.getMessage());
        assertEquals(1, store.items(p.id()).size(), "nothing pushed");
    }

    @Test
    void theCommonPrefixOfTheIdsIsWhatTheAppFiltersBy() {
        assertEquals("r12-", AppLabeler.commonPrefix(new LinkedHashSet<>(List.of("r12-0", "r12-1",
                "r12-10"))));
        assertEquals("r", AppLabeler.commonPrefix(new LinkedHashSet<>(List.of("r1-0", "r2-0"))));
        assertEquals("", AppLabeler.commonPrefix(new LinkedHashSet<>(List.of("a", "b"))));
    }
}
