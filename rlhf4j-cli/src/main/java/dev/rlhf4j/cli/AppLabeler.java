package dev.rlhf4j.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.feedback.export.Exporter;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.AtomicFiles;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.PrintWriter;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A round's labels from people: a client of a running {@code rlhf4j serve} (the feedback app) through its JSON API,
 * with an admin's API token from {@value #TOKEN_ENV}.
 *
 * <p>{@link #label} pushes the round's pairs to a comparison project as items with their two responses, each under
 * the pair's id ({@code POST /api/projects/{id}/items}: the app adds an id once, so a loop resumed in the middle of a
 * round adds nothing), prints the project's labelling page and, at every poll, how many pairs have all their labels
 * ({@code GET /api/projects/{id}/labels?external_id_prefix=...}), and stops waiting when every pair has them or the
 * round's time is up; then it closes the pairs still open ({@code POST /api/projects/{id}/items/close}: handed to
 * nobody any more, so they do not stay ahead of the next round's in people's queues). It then writes one
 * {@code {"prompt","chosen","rejected"}} record per decisive label, in the pairs' order, with the texts of the loop's
 * own pair (so the reward model trains on exactly what the policy wrote).
 *
 * <ul>
 *   <li>Which response won is read from the label's chosen response id, mapped to the pair's a or b by the item's
 *       response ids: the app shows the two in a random order and records that order, so the side a person clicked
 *       says nothing by itself.</li>
 *   <li>{@code "margin"} is kept when the person said how much better (slightly 1/3, clearly 2/3, much 1, as
 *       {@code rlhf4j feedback export} writes it; {@code reward train} subtracts it inside the Bradley–Terry
 *       loss).</li>
 *   <li>With overlap (the project hands some items to several people) every label is a record of its own, as the
 *       export does: two people who agree count the pair twice, two who disagree give opposite records. The
 *       {@link Outcome} counts labels, not pairs, for {@code labelled} and {@code setAside}; {@code unlabelled}
 *       counts the pairs that got no label at all.</li>
 *   <li>Ties and both-bad verdicts are set aside (counted, not written); they stay in the app, where
 *       {@code feedback export} puts them in its side file.</li>
 * </ul>
 *
 * <p>Before it pushes, it checks that the token is an admin's (pushing and reading everyone's labels need one) and
 * that the project exists and compares two responses; after it pushes, that every item under a pair's id holds that
 * pair's prompt and responses (a project that another run filled under the same ids is refused, not mixed in).
 * While it waits, an app that does not answer is tried again at the next poll (a restarted server does not end the
 * loop); before that, any failure is one line naming {@code --app-url} or {@code --app-project}. The token is never
 * printed.
 */
final class AppLabeler implements Labeler {
    /** The environment variable the API token comes from (never an option: command lines are visible to others). */
    static final String TOKEN_ENV = "RLHF4J_API_TOKEN";
    /** Items per push: a few hundred pairs of long responses stay well under the app's 16 MiB request limit. */
    static final int PUSH_BATCH = 200;
    /** With nothing new to show, a progress line at least this often, so a long wait visibly goes on. */
    static final Duration QUIET_PROGRESS = Duration.ofMinutes(10);

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(10);
    private static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(120);

    /** How the wait between polls passes (a test's sleeper moves its clock instead). */
    @FunctionalInterface
    interface Sleeper {
        void sleep(Duration d) throws InterruptedException;
    }

    private final URI app;
    private final String project;
    private final Duration roundTimeout;
    private final Duration poll;
    private final String apiToken;
    private final Clock clock;
    private final Sleeper sleeper;
    private final HttpClient http;

    /**
     * A labeler for the app at {@code appUrl}, project {@code project} (its name or numeric id), waiting at most
     * {@code roundTimeout} per round and looking every {@code poll}; {@code apiToken} is an admin's API token.
     */
    public AppLabeler(URI appUrl, String project, Duration roundTimeout, Duration poll, String apiToken) {
        this(appUrl, project, roundTimeout, poll, apiToken, Clock.systemUTC(), d -> Thread.sleep(d));
    }

    /** As the public constructor, with the clock and the sleeper a test controls. */
    AppLabeler(URI appUrl, String project, Duration roundTimeout, Duration poll, String apiToken, Clock clock,
               Sleeper sleeper) {
        this.app = base(appUrl);
        if (project == null || project.isBlank()) {
            throw new UserError("--app-project: give the name or id of a comparison project of the app");
        }
        if (roundTimeout == null || roundTimeout.isNegative() || roundTimeout.isZero()) {
            throw new UserError("--round-timeout must be positive, got " + roundTimeout);
        }
        if (poll == null || poll.isNegative() || poll.isZero()) {
            throw new UserError("--poll-seconds must be positive, got " + poll);
        }
        if (apiToken == null || apiToken.isBlank()) {
            throw new UserError("--labeler app: set " + TOKEN_ENV + " to an admin's API token of the app at " + app
                    + " (its Account page makes one)");
        }
        this.project = project.strip();
        this.roundTimeout = roundTimeout;
        this.poll = poll;
        this.apiToken = apiToken.strip();
        this.clock = clock;
        this.sleeper = sleeper;
        // no redirects: the token goes to the address given and nowhere else
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(CONNECT_TIMEOUT)
                .followRedirects(HttpClient.Redirect.NEVER).build();
    }

    /** The app's address as a base for relative paths: http(s), a host, a path ending in '/'. */
    private static URI base(URI url) {
        if (url == null || url.getHost() == null || url.getScheme() == null
                || !(url.getScheme().equals("http") || url.getScheme().equals("https"))) {
            throw new UserError("--app-url " + url + ": expected the address of rlhf4j serve, e.g. "
                    + "http://localhost:8080/");
        }
        if (url.getQuery() != null || url.getFragment() != null || url.getUserInfo() != null) {
            throw new UserError("--app-url " + url + ": expected an address without user, query or fragment");
        }
        String path = url.getRawPath() == null || url.getRawPath().isEmpty() ? "/" : url.getRawPath();
        return URI.create(url.getScheme() + "://" + url.getRawAuthority() + (path.endsWith("/") ? path : path + "/"));
    }

    /** A project of the app, as the loop uses it. */
    private record AppProject(long id, String name) {
    }

    /** A pushed pair: its item, how many people label it, and the item's response ids of the pair's a and b. */
    private record Pushed(Pair pair, long itemId, int replicas, long responseA, long responseB) {
    }

    @Override
    public Outcome label(int round, List<Pair> pairs, Path out, PrintWriter console) throws IOException {
        String name = "round " + round;
        Map<String, Pair> byId = new LinkedHashMap<>();
        for (Pair p : pairs) {
            if (byId.put(p.id(), p) != null) {
                throw new IllegalArgumentException("pair id " + p.id() + " appears twice");
            }
        }
        if (pairs.isEmpty()) {
            writeAtomically(out, List.of());
            return new Outcome(0, 0, 0);
        }
        AppProject p = project();
        String prefix = commonPrefix(byId.keySet());
        // what is there under these ids must be these pairs (checked before the push adds anything), then all are
        pushed(p, prefix, byId, false);
        int added = push(p, pairs);
        console.printf("%s: %d pairs in project \"%s\" (%d new, %d there already)%n", name, pairs.size(), p.name(),
                added, pairs.size() - added);
        Map<Long, Pushed> items = pushed(p, prefix, byId, true);
        Instant deadline = clock.instant().plus(roundTimeout);
        console.printf("%s: label them at %s (waiting until all are labelled, at most %s)%n", name,
                app.resolve("projects/" + p.id() + "/label"), text(roundTimeout));
        console.flush();
        List<JsonNode> labels = waitForLabels(name, p, prefix, items, deadline, console);
        return write(pairs, items, labels, out);
    }

    // ------------------------------------------------------------ the app's project

    /** Checks, before a loop starts, that the app answers, the token is an admin's and the project fits. */
    void check() throws IOException {
        project();
    }

    /** The project named by --app-project, after checking the token is an admin's. */
    private AppProject project() throws IOException {
        JsonNode me = call("GET", "api/me", null);
        String role = me.path("role").asText();
        if (!role.equals("admin")) {
            throw new UserError("--app-url " + app + ": " + TOKEN_ENV + " is an API token of " + me.path("name")
                    .asText() + ", " + (role.startsWith("a") ? "an " : "a ") + role + "; the loop pushes items and "
                    + "reads everyone's labels, which takes an admin's API token");
        }
        JsonNode list = call("GET", "api/projects", null);
        JsonNode found = null;
        for (JsonNode x : list) {
            if (x.path("name").asText().equals(project)) {
                found = x;
            }
        }
        if (found == null && project.matches("\\d{1,18}")) {
            for (JsonNode x : list) {
                if (x.path("id").asLong() == Long.parseLong(project)) {
                    found = x;
                }
            }
        }
        if (found == null) {
            List<String> names = new ArrayList<>();
            list.forEach(x -> names.add("\"" + x.path("name").asText() + "\""));
            throw new UserError("--app-project " + project + ": the app at " + app + " has no such project ("
                    + (names.isEmpty() ? "it has none" : "it has " + String.join(", ",
                    names.subList(0, Math.min(10, names.size()))) + (names.size() > 10 ? ", ..." : ""))
                    + "); an admin creates it with task type comparison");
        }
        String type = found.path("task_type").asText();
        if (!type.equals("comparison")) {
            throw new UserError("--app-project " + project + ": a " + type + " project; the loop needs a comparison "
                    + "project (two responses side by side) of the app at " + app);
        }
        return new AppProject(found.path("id").asLong(), found.path("name").asText());
    }

    /** Pushes the pairs as items under their ids; returns how many the app added (the others it had already). */
    private int push(AppProject p, List<Pair> pairs) throws IOException {
        int added = 0;
        for (int from = 0; from < pairs.size(); from += PUSH_BATCH) {
            List<Map<String, Object>> batch = new ArrayList<>();
            for (Pair pair : pairs.subList(from, Math.min(pairs.size(), from + PUSH_BATCH))) {
                Map<String, Object> item = new LinkedHashMap<>();
                item.put("id", pair.id());
                item.put("prompt", pair.prompt());
                item.put("responses", List.of(pair.a(), pair.b()));
                batch.add(item);
            }
            String path = "api/projects/" + p.id() + "/items";
            JsonNode r;
            try {
                r = call("POST", path, Map.of("items", batch));
            } catch (Refused e) {
                if (e.status != 409) {
                    throw e;
                }
                // another push of the same ids got there first (two loops on one project): once more adds nothing
                r = call("POST", path, Map.of("items", batch));
            }
            added += r.path("added").asInt();
        }
        return added;
    }

    /**
     * The items under the pairs' ids, by item id, each checked to hold its pair's prompt and responses; with
     * {@code all}, every pair must have its item.
     */
    private Map<Long, Pushed> pushed(AppProject p, String prefix, Map<String, Pair> byId, boolean all)
            throws IOException {
        JsonNode list = call("GET", "api/projects/" + p.id() + "/items?external_id_prefix=" + query(prefix), null);
        Map<Long, Pushed> items = new HashMap<>();
        for (JsonNode item : list) {
            Pair pair = byId.get(item.path("external_id").asText());
            if (pair == null) {
                continue;
            }
            JsonNode rs = item.path("responses");
            if (!item.path("prompt").asText().equals(pair.prompt()) || rs.size() != 2
                    || !rs.get(0).path("text").asText().equals(pair.a())
                    || !rs.get(1).path("text").asText().equals(pair.b())) {
                throw new UserError("--app-project " + project + ": the project already has an item with id \""
                        + pair.id() + "\" that holds another prompt or other responses than this run's pair (did "
                        + "another loop use this project?); give each loop run a project of its own");
            }
            items.put(item.path("id").asLong(), new Pushed(pair, item.path("id").asLong(),
                    item.path("replicas").asInt(1), rs.get(0).path("id").asLong(), rs.get(1).path("id").asLong()));
        }
        if (all && items.size() != byId.size()) {
            throw new UserError("--app-url " + app + ": " + (byId.size() - items.size()) + " of the " + byId.size()
                    + " pairs pushed to project \"" + p.name() + "\" are not among its items");
        }
        return items;
    }

    // ------------------------------------------------------------ waiting

    /** Polls the labels of the pushed items until each has all of its own or the deadline passes; returns them. */
    private List<JsonNode> waitForLabels(String name, AppProject p, String prefix, Map<Long, Pushed> items,
                                         Instant deadline, PrintWriter console) throws IOException {
        int shown = -1;
        Instant shownAt = Instant.MIN;
        while (true) {
            Instant now = clock.instant();
            boolean last = !now.isBefore(deadline);
            List<JsonNode> labels;
            try {
                labels = labels(p, prefix, items);
            } catch (Unreachable e) {
                if (last) {
                    throw e;
                }
                console.printf("%s: %s; trying again in %s%n", name, e.getMessage(), text(poll));
                console.flush();
                pause(poll, deadline);
                continue;
            }
            Map<Long, Integer> count = new HashMap<>();
            labels.forEach(l -> count.merge(l.path("item_id").asLong(), 1, Integer::sum));
            int complete = 0;
            for (Pushed x : items.values()) {
                if (count.getOrDefault(x.itemId(), 0) >= x.replicas()) {
                    complete++;
                }
            }
            if (complete != shown || !now.isBefore(shownAt.plus(QUIET_PROGRESS))) {
                console.printf("%s: %d/%d labelled%s%n", name, complete, items.size(),
                        labels.size() == complete ? "" : " (" + labels.size() + " labels)");
                console.flush();
                shown = complete;
                shownAt = now;
            }
            if (complete == items.size()) {
                return labels;
            }
            if (last) {
                // the round is over: what is still open would otherwise stay ahead of the next round's pairs in
                // everyone's queue (it goes by item id); closed, it is handed to nobody, and a resumed round finds it
                // complete. The labels are read again after, so that one given meanwhile is not left out.
                List<String> open = new ArrayList<>();
                for (Pushed x : items.values()) {
                    if (count.getOrDefault(x.itemId(), 0) < x.replicas()) {
                        open.add(x.pair().id());
                    }
                }
                int closed = call("POST", "api/projects/" + p.id() + "/items/close", Map.of("external_ids", open))
                        .path("closed").asInt();
                console.printf("%s: --round-timeout %s passed with %d of %d pairs labelled; %d closed in the app "
                        + "(handed to nobody now); going on with the labels there are%n", name, text(roundTimeout),
                        complete, items.size(), closed);
                console.flush();
                return labels(p, prefix, items);
            }
            pause(poll, deadline);
        }
    }

    /** The labels of the pushed items (and no other), in the order the app stored them. */
    private List<JsonNode> labels(AppProject p, String prefix, Map<Long, Pushed> items) throws IOException {
        JsonNode list = call("GET", "api/projects/" + p.id() + "/labels?external_id_prefix=" + query(prefix), null);
        List<JsonNode> out = new ArrayList<>();
        for (JsonNode l : list) {
            if (items.containsKey(l.path("item_id").asLong())) {
                out.add(l);
            }
        }
        return out;
    }

    private void pause(Duration d, Instant deadline) throws InterruptedIOException {
        Duration left = Duration.between(clock.instant(), deadline);
        try {
            sleeper.sleep(left.isNegative() || left.isZero() ? Duration.ZERO : d.compareTo(left) < 0 ? d : left);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for the app's labels");
        }
    }

    // ------------------------------------------------------------ the preference file

    /** One record per decisive label, in the pairs' order (then the labels'), written atomically to {@code out}. */
    private static Outcome write(List<Pair> pairs, Map<Long, Pushed> items, List<JsonNode> labels, Path out)
            throws IOException {
        Map<String, List<JsonNode>> byPair = new HashMap<>();
        for (JsonNode l : labels) {
            byPair.computeIfAbsent(items.get(l.path("item_id").asLong()).pair().id(), x -> new ArrayList<>()).add(l);
        }
        Map<String, Pushed> pushedById = new HashMap<>();
        items.values().forEach(x -> pushedById.put(x.pair().id(), x));
        List<Map<String, Object>> records = new ArrayList<>();
        int setAside = 0;
        int unlabelled = 0;
        for (Pair pair : pairs) {
            List<JsonNode> ls = byPair.getOrDefault(pair.id(), List.of());
            if (ls.isEmpty()) {
                unlabelled++;
            }
            Pushed x = pushedById.get(pair.id());
            for (JsonNode l : ls) {
                if (!l.path("verdict").asText().equals("better")) {
                    setAside++;
                    continue;
                }
                long chosen = l.path("chosen").asLong();
                if (chosen != x.responseA() && chosen != x.responseB()) {
                    throw new IllegalStateException("label " + l.path("id") + " chose response " + chosen
                            + ", not one of item " + x.itemId() + "'s");
                }
                boolean aWins = chosen == x.responseA();
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("prompt", pair.prompt());
                r.put("chosen", aWins ? pair.a() : pair.b());
                r.put("rejected", aWins ? pair.b() : pair.a());
                JsonNode strength = l.path("strength");
                if (strength.isIntegralNumber()) {
                    r.put("margin", Exporter.margin(strength.asInt()));
                }
                r.put("id", pair.id());
                r.put("label_id", l.path("id").asLong());
                records.add(r);
            }
        }
        writeAtomically(out, records);
        return new Outcome(records.size(), setAside, unlabelled);
    }

    /** JSON Lines, written whole or not at all. */
    private static void writeAtomically(Path out, List<Map<String, Object>> records) throws IOException {
        AtomicFiles.write(out, os -> {
            for (Map<String, Object> r : records) {
                os.write(JSON.writeValueAsBytes(r));
                os.write('\n');
            }
        });
    }

    // ------------------------------------------------------------ HTTP

    /** The app answered with an error status. */
    private static final class Refused extends UserError {
        final int status;

        Refused(int status, String message) {
            super(message);
            this.status = status;
        }
    }

    /** The app did not answer (not running, or not reachable from here). */
    private static final class Unreachable extends UserError {
        Unreachable(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** One API call with the bearer token; the answer's JSON (null for none), or a one-line error. */
    private JsonNode call(String method, String path, Object body) throws IOException {
        HttpRequest.Builder b = HttpRequest.newBuilder(app.resolve(path)).timeout(REQUEST_TIMEOUT)
                .header("Authorization", "Bearer " + apiToken).header("Accept", "application/json");
        if (body == null) {
            b.method(method, HttpRequest.BodyPublishers.noBody());
        } else {
            b.header("Content-Type", "application/json")
                    .method(method, HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body)));
        }
        HttpResponse<String> r;
        try {
            r = http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while calling the app at " + app);
        } catch (IOException e) {
            String why = e.getMessage() == null || e.getMessage().isBlank() ? e.getClass().getSimpleName()
                    : e.getMessage();
            throw new Unreachable("--app-url " + app + ": the feedback app does not answer (" + why.strip()
                    + "); is rlhf4j serve running there?", e);
        }
        int status = r.statusCode();
        if (status == 401) {
            throw new Refused(status, "--app-url " + app + ": the app refused the API token (401): set " + TOKEN_ENV
                    + " to an admin's API token (the app's Account page makes one)");
        }
        if (status == 403) {
            throw new Refused(status, "--app-url " + app + ": not allowed (403, " + error(r) + "): " + TOKEN_ENV
                    + " must be an admin's API token");
        }
        if (status / 100 != 2) {
            throw new Refused(status, "--app-url " + app + ": " + method + " /" + path.replaceFirst("\\?.*", "")
                    + " answered " + status + " (" + error(r) + ")");
        }
        if (r.body().isBlank()) {
            return JSON.createObjectNode();
        }
        try {
            return JSON.readTree(r.body());
        } catch (JsonProcessingException e) {
            throw new UserError("--app-url " + app + ": /" + path.replaceFirst("\\?.*", "") + " did not answer "
                    + "JSON; is this the address of rlhf4j serve?");
        }
    }

    /** The app's {"error": ...} message, else the start of the body, on one line. */
    private static String error(HttpResponse<String> r) {
        String text = r.body();
        try {
            JsonNode n = JSON.readTree(text);
            if (n != null && n.path("error").isTextual()) {
                text = n.path("error").asText();
            }
        } catch (JsonProcessingException e) {
            // not JSON: the start of what came
        }
        text = text.replaceAll("\\s+", " ").strip();
        return text.isEmpty() ? "no message" : text.length() > 200 ? text.substring(0, 200) + "..." : text;
    }

    private static String query(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    /** The longest prefix all ids share: the app filters by it, the labeler then keeps exactly its own ids. */
    static String commonPrefix(Set<String> ids) {
        String prefix = null;
        for (String id : ids) {
            if (prefix == null) {
                prefix = id;
                continue;
            }
            int n = 0;
            while (n < prefix.length() && n < id.length() && prefix.charAt(n) == id.charAt(n)) {
                n++;
            }
            // never split a surrogate pair: the app compares characters
            if (n > 0 && Character.isHighSurrogate(prefix.charAt(n - 1))) {
                n--;
            }
            prefix = prefix.substring(0, n);
        }
        return prefix == null ? "" : prefix;
    }

    /** 90s, 30m, 24h as people write them. */
    private static String text(Duration d) {
        if (d.toMillis() % 1000 != 0) {
            return d.toMillis() + "ms";
        }
        long s = d.toSeconds();
        return s % 86400 == 0 ? s / 86400 + "d" : s % 3600 == 0 ? s / 3600 + "h" : s % 60 == 0 ? s / 60 + "m"
                : s + "s";
    }

    @Override
    public void close() {
        http.close();
    }
}
