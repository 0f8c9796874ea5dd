package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.feedback.store.Database;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Label;
import dev.rlhf4j.feedback.store.NewItem;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.ProjectSettings;
import dev.rlhf4j.feedback.store.TaskType;
import dev.rlhf4j.tensor.UserError;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code rlhf4j feedback load}: simulated annotators voting concurrently through the JSON API of a real
 * {@code rlhf4j serve} child process, optionally {@code kill -9}ed and restarted mid-load; then every acknowledged
 * vote is looked up in the store: each must be there exactly once with the label id the server answered.
 */
@Command(name = "load", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Load-test the feedback app: start rlhf4j serve as a child process, create an admin, a "
                + "comparison project and annotators (by invitation), let them vote concurrently through the JSON "
                + "API, and report votes/s and latency.",
                "Then check the store: every acknowledged vote is stored exactly once, with the label id the server "
                        + "answered. Exit code 1 when one is missing or duplicated."})
public final class FeedbackLoadCommand implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern SERVING = Pattern.compile("serving the feedback app at (\\S+)");
    private static final String ADMIN = "load-admin";
    private static final String PASSWORD = "load-test-password-1";
    private static final long START_TIMEOUT_MS = 120_000;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--data-dir", paramLabel = "DIR", description = "SQLite store to load (default: a fresh "
            + "directory under the temporary directory). Must be new or empty: the check reads every label.")
    Path dataDir;
    @Option(names = "--db", paramLabel = "URL", description = "Load PostgreSQL at URL instead (an empty database; "
            + "user and password from RLHF4J_DB_USER/RLHF4J_DB_PASSWORD or PGUSER/PGPASSWORD, passed on to the "
            + "server).")
    String db;
    @Option(names = "--annotators", defaultValue = "50", description = "Annotators voting at once (default: "
            + "${DEFAULT-VALUE}).")
    int annotators;
    @Option(names = "--seconds", defaultValue = "60", description = "How long they vote (default: "
            + "${DEFAULT-VALUE}).")
    int seconds;
    @Option(names = "--items", defaultValue = "50000", description = "Comparison items in the project; voting "
            + "stops early when the queue is empty (default: ${DEFAULT-VALUE}).")
    int items;
    @Option(names = "--kill-after", paramLabel = "S", description = "kill -9 the server S seconds in, restart it on "
            + "the same store and let the annotators reconnect.")
    Double killAfter;
    @Option(names = "--retry-share", defaultValue = "0.05", description = "Share of acknowledged votes sent again "
            + "with the same request id; the answer must name the same label (default: ${DEFAULT-VALUE}).")
    double retryShare;
    @Option(names = "--seed", defaultValue = "0", description = "Seed of the annotators' choices (default: "
            + "${DEFAULT-VALUE}).")
    long seed;

    /** What one annotator saw: acknowledged request ids and label ids, latencies in nanoseconds, failures. */
    private static final class Tally {
        final Map<String, Long> acked = new HashMap<>();
        final Set<String> unacked = new HashSet<>();
        long[] voteNanos = new long[1024];
        int votes;
        long[] nextNanos = new long[1024];
        int nexts;
        int retries;
        int retryMismatches;
        int conflicts;
        int failures;
        boolean queueEmpty;
        String error;

        void vote(long nanos) {
            if (votes == voteNanos.length) {
                voteNanos = Arrays.copyOf(voteNanos, votes * 2);
            }
            voteNanos[votes++] = nanos;
        }

        void next(long nanos) {
            if (nexts == nextNanos.length) {
                nextNanos = Arrays.copyOf(nextNanos, nexts * 2);
            }
            nextNanos[nexts++] = nanos;
        }
    }

    /** The server, a child JVM, restartable on the same store. */
    private final class Server {
        final List<String> command;
        final Path log;
        volatile Process process;
        volatile String url;

        Server(List<String> command, Path log) {
            this.command = command;
            this.log = log;
        }

        void start() throws IOException, InterruptedException {
            long from = Files.exists(log) ? Files.size(log) : 0;
            ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
            process = pb.start();
            process.getOutputStream().close();
            long until = System.currentTimeMillis() + START_TIMEOUT_MS;
            while (System.currentTimeMillis() < until) {
                String text = Files.readString(log);
                Matcher m = SERVING.matcher(text.substring((int) Math.min(from, text.length())));
                if (m.find()) {
                    url = m.group(1).endsWith("/") ? m.group(1) : m.group(1) + "/";
                    return;
                }
                if (!process.isAlive()) {
                    throw new UserError("the server stopped (exit code " + process.exitValue() + "); its output: "
                            + tail(text.substring((int) Math.min(from, text.length()))));
                }
                Thread.sleep(50);
            }
            process.destroyForcibly();
            throw new UserError("the server did not start within " + START_TIMEOUT_MS / 1000 + " s; see " + log);
        }

        /** SIGTERM, the clean shutdown; returns the exit code (-1 when it had to be killed). */
        int stop() throws InterruptedException {
            process.destroy();
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor();
                return -1;
            }
            return process.exitValue();
        }
    }

    private static String tail(String s) {
        String t = s.strip();
        return t.length() > 2000 ? "..." + t.substring(t.length() - 2000) : t;
    }

    @Override
    public Integer call() throws Exception {
        Checks.positive("--annotators", annotators);
        Checks.positive("--seconds", seconds);
        Checks.positive("--items", items);
        if (!(retryShare >= 0 && retryShare <= 1)) {
            throw new UserError("--retry-share must be in [0, 1], got " + retryShare);
        }
        if (killAfter != null && !(killAfter > 0 && killAfter < seconds)) {
            throw new UserError("--kill-after must be in (0, --seconds), got " + killAfter);
        }
        if (dataDir != null && db != null) {
            throw new UserError("give either --data-dir or --db, not both");
        }
        PrintWriter out = spec.commandLine().getOut();
        Path dir = dataDir;
        if (db == null && dir == null) {
            dir = Files.createTempDirectory("rlhf4j-load-");
        }
        Path work = dir != null ? dir : Files.createTempDirectory("rlhf4j-load-");
        StoreOptions storeOptions = new StoreOptions();
        storeOptions.dataDir = dir;
        storeOptions.db = db;
        List<String> storeArgs = db != null ? List.of("--db", db) : List.of("--data-dir", dir.toString());

        // the project and its items go straight into the store, before the server opens it
        long projectId;
        String where;
        try (Database database = storeOptions.open()) {
            FeedbackStore s = new FeedbackStore(database);
            where = database.description();
            if (!s.users().isEmpty() || !s.projects().isEmpty()) {
                throw new UserError(where + " is not empty; the load test needs a new store (it checks every "
                        + "label)");
            }
            Project p = s.createProject(ProjectSettings.of("load", TaskType.COMPARISON, "Pick the better story."),
                    null);
            List<NewItem> batch = new ArrayList<>();
            for (int i = 0; i < items; i++) {
                batch.add(NewItem.of("Prompt " + i + ": tell a story about the number " + i,
                        "Response A to prompt " + i, "Response B to prompt " + i));
                if (batch.size() == 1000 || i == items - 1) {
                    s.addItems(p.id(), batch);
                    batch.clear();
                }
            }
            projectId = p.id();
        }
        int port;
        try (ServerSocket free = new ServerSocket(0)) {
            port = free.getLocalPort();
        }
        List<String> java = javaCommand();
        List<String> create = new ArrayList<>(java);
        create.addAll(List.of("serve", "--create-admin", ADMIN));
        create.addAll(storeArgs);
        Path log = work.resolve("load-server.log");
        ProcessBuilder admin = new ProcessBuilder(create).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
        admin.environment().put(ServeCommand.PASSWORD_ENV, PASSWORD);
        Process made = admin.start();
        made.getOutputStream().close();
        if (!made.waitFor(120, TimeUnit.SECONDS) || made.exitValue() != 0) {
            throw new UserError("rlhf4j serve --create-admin failed; see " + log + ": "
                    + tail(Files.readString(log)));
        }
        List<String> serve = new ArrayList<>(java);
        serve.addAll(List.of("serve", "--port", Integer.toString(port)));
        serve.addAll(storeArgs);
        Server server = new Server(serve, log);
        server.start();
        out.println("rlhf4j: load: " + annotators + " annotators for " + seconds + " s against " + where
                + " (server log " + log + ")");
        out.flush();

        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(5)).build();
        Api api = new Api(http, server);
        String adminToken = api.post(null, "api/session", Map.of("name", ADMIN, "password", PASSWORD))
                .get("token").asText();
        List<String> tokens = new ArrayList<>();
        for (int i = 0; i < annotators; i++) {
            String invitation = api.post(adminToken, "api/invitations", Map.of("role", "annotator")).get("token")
                    .asText();
            JsonNode accepted = api.post(null, "api/invitations/" + invitation + "/accept",
                    Map.of("name", "annotator" + i, "password", PASSWORD));
            tokens.add(accepted.get("token").asText());
        }

        // voting
        Tally[] tallies = new Tally[annotators];
        Thread[] threads = new Thread[annotators];
        long t0 = System.nanoTime();
        long end = t0 + TimeUnit.SECONDS.toNanos(seconds);
        AtomicLong outageFailures = new AtomicLong();
        for (int i = 0; i < annotators; i++) {
            Tally t = new Tally();
            tallies[i] = t;
            int who = i;
            threads[i] = Thread.ofPlatform().name("annotator-" + i).start(() -> {
                try {
                    vote(api, tokens.get(who), projectId, who, end, t, outageFailures);
                } catch (RuntimeException e) {
                    t.error = e.toString();
                }
            });
        }
        double killedAt = Double.NaN;
        double downFor = Double.NaN;
        if (killAfter != null) {
            long killAt = t0 + (long) (killAfter * 1e9);
            while (System.nanoTime() < killAt) {
                Thread.sleep(Math.max(1, (killAt - System.nanoTime()) / 1_000_000));
            }
            server.process.destroyForcibly(); // SIGKILL: no shutdown hook, no clean close
            server.process.waitFor();
            killedAt = (System.nanoTime() - t0) / 1e9;
            server.start();
            downFor = (System.nanoTime() - t0) / 1e9 - killedAt;
        }
        for (Thread th : threads) {
            th.join();
        }
        double elapsed = Math.min(System.nanoTime(), end) - t0;
        elapsed = Math.max(elapsed, 1) / 1e9;
        int stopped = server.stop();

        // totals
        Map<String, Long> acked = new HashMap<>();
        Set<String> unacked = new HashSet<>();
        List<String> problems = new ArrayList<>();
        int votes = 0;
        int nexts = 0;
        int retries = 0;
        int mismatches = 0;
        int conflicts = 0;
        boolean emptied = false;
        for (Tally t : tallies) {
            acked.putAll(t.acked);
            unacked.addAll(t.unacked);
            votes += t.votes;
            nexts += t.nexts;
            retries += t.retries;
            mismatches += t.retryMismatches;
            conflicts += t.conflicts;
            emptied |= t.queueEmpty;
            if (t.error != null) {
                problems.add("an annotator stopped: " + t.error);
            }
        }
        unacked.removeAll(acked.keySet());
        long[] voteNanos = new long[votes];
        long[] nextNanos = new long[nexts];
        int v = 0;
        int n = 0;
        for (Tally t : tallies) {
            System.arraycopy(t.voteNanos, 0, voteNanos, v, t.votes);
            v += t.votes;
            System.arraycopy(t.nextNanos, 0, nextNanos, n, t.nexts);
            n += t.nexts;
        }
        Arrays.sort(voteNanos);
        Arrays.sort(nextNanos);
        out.printf(Locale.ROOT, "votes acknowledged: %d in %.1f s = %.1f votes/s%s%n", acked.size(), elapsed,
                acked.size() / elapsed, emptied ? " (the queue ran empty before the end)" : "");
        out.printf(Locale.ROOT, "latency of a vote (POST label): p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d requests)"
                + "%n", pct(voteNanos, 50), pct(voteNanos, 99), pct(voteNanos, 100), votes);
        out.printf(Locale.ROOT, "latency of GET next: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d requests)%n",
                pct(nextNanos, 50), pct(nextNanos, 99), pct(nextNanos, 100), nexts);
        out.printf(Locale.ROOT, "retries of an acknowledged request id: %d, answered with another label id: %d; "
                + "conflicts (409): %d%n", retries, mismatches, conflicts);
        if (killAfter != null) {
            out.printf(Locale.ROOT, "server killed (kill -9) at %.1f s, serving again %.1f s later; requests that "
                    + "failed meanwhile: %d%n", killedAt, downFor, outageFailures.get());
        }
        if (stopped != 0) {
            problems.add("the server did not stop cleanly on SIGTERM (exit code " + stopped + "); see " + log);
        }
        if (mismatches > 0) {
            problems.add(mismatches + " retries of an acknowledged request id were answered with another label id");
        }

        // the check, on the store itself
        try (Database database = storeOptions.open()) {
            FeedbackStore s = new FeedbackStore(database);
            Map<String, List<Long>> stored = new HashMap<>();
            List<Label> labels = s.labels(projectId);
            for (Label l : labels) {
                stored.computeIfAbsent(l.requestId(), k -> new ArrayList<>()).add(l.id());
            }
            int missing = 0;
            int duplicated = 0;
            int wrongId = 0;
            for (Map.Entry<String, Long> e : acked.entrySet()) {
                List<Long> ids = stored.get(e.getKey());
                if (ids == null) {
                    missing++;
                } else if (ids.size() > 1) {
                    duplicated++;
                } else if (!ids.getFirst().equals(e.getValue())) {
                    wrongId++;
                }
            }
            int ackLost = 0;
            int unknown = 0;
            for (String requestId : stored.keySet()) {
                if (!acked.containsKey(requestId)) {
                    if (unacked.contains(requestId)) {
                        ackLost++;
                    } else {
                        unknown++;
                    }
                }
            }
            if (missing > 0) {
                problems.add(missing + " acknowledged votes are missing from the store");
            }
            if (duplicated > 0) {
                problems.add(duplicated + " acknowledged votes are stored more than once");
            }
            if (wrongId > 0) {
                problems.add(wrongId + " acknowledged votes are stored under another label id");
            }
            if (unknown > 0) {
                problems.add(unknown + " stored labels have a request id no annotator sent");
            }
            if (labels.size() != acked.size() + ackLost) {
                problems.add("the store has " + labels.size() + " labels, not " + acked.size() + " acknowledged + "
                        + ackLost + " whose acknowledgement was lost");
            }
            out.printf(Locale.ROOT, "store: %d labels = %d acknowledged (each once, same label id: %s) + %d stored "
                    + "whose acknowledgement was lost (sent, no answer: not an error)%n", labels.size(),
                    acked.size(), missing + duplicated + wrongId == 0 ? "yes" : "NO", ackLost);
        }
        out.flush();
        if (!problems.isEmpty()) {
            PrintWriter err = spec.commandLine().getErr();
            err.println("rlhf4j: load check failed: " + String.join("; ", problems));
            err.flush();
            return 1;
        }
        out.println("rlhf4j: load check passed: every acknowledged vote is stored exactly once");
        out.flush();
        return 0;
    }

    /** One annotator: next item, a vote with a fresh request id (sent again until answered), sometimes a retry. */
    private void vote(Api api, String token, long projectId, int who, long end, Tally t, AtomicLong outage) {
        Random rng = new Random(seed * 1_000_003L + who);
        int seq = 0;
        while (System.nanoTime() < end) {
            long s0 = System.nanoTime();
            HttpResponse<String> next = api.tryGet(token, "api/projects/" + projectId + "/next");
            if (next == null) {
                outage.incrementAndGet();
                t.failures++;
                pause();
                continue;
            }
            t.next(System.nanoTime() - s0);
            if (next.statusCode() == 204) {
                t.queueEmpty = true;
                return;
            }
            JsonNode task = api.json(next, "GET next");
            long itemId = task.get("item_id").asLong();
            JsonNode responses = task.get("responses");
            long left = responses.get(0).get("id").asLong();
            long right = responses.get(1).get("id").asLong();
            ObjectNode body = JSON.createObjectNode();
            String requestId = "a" + who + "-" + seq++ + "-" + Long.toHexString(rng.nextLong());
            body.put("request_id", requestId);
            body.put("verdict", "better");
            body.put("left", left);
            body.put("right", right);
            body.put("chosen", rng.nextBoolean() ? left : right);
            body.put("strength", 1 + rng.nextInt(3));
            String path = "api/items/" + itemId + "/label";
            // sent until the server answers (the same request id after a kill: the store keeps it once)
            Long labelId = null;
            while (labelId == null && System.nanoTime() < end) {
                t.unacked.add(requestId);
                long v0 = System.nanoTime();
                HttpResponse<String> r = api.tryPost(token, path, body);
                if (r == null) {
                    outage.incrementAndGet();
                    t.failures++;
                    pause();
                    continue;
                }
                t.vote(System.nanoTime() - v0);
                if (r.statusCode() == 409) {
                    t.conflicts++;
                    break;
                }
                labelId = api.json(r, "POST label").get("label_id").asLong();
                t.acked.put(requestId, labelId);
            }
            if (labelId != null && rng.nextDouble() < retryShare) {
                long v0 = System.nanoTime();
                HttpResponse<String> r = api.tryPost(token, path, body);
                if (r != null) {
                    t.vote(System.nanoTime() - v0);
                    t.retries++;
                    JsonNode again = api.json(r, "POST label (retry)");
                    if (again.get("label_id").asLong() != labelId || !again.path("repeated").asBoolean()) {
                        t.retryMismatches++;
                    }
                }
            }
        }
    }

    private static void pause() {
        try {
            Thread.sleep(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private static double pct(long[] sortedNanos, double p) {
        if (sortedNanos.length == 0) {
            return Double.NaN;
        }
        int i = (int) Math.ceil(p / 100 * sortedNanos.length) - 1;
        return sortedNanos[Math.max(0, Math.min(sortedNanos.length - 1, i))] / 1e6;
    }

    /** The JVM command that runs the CLI in a child process: this JVM's java and class path (the jar, when run so). */
    private static List<String> javaCommand() {
        return new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx1g", "-cp",
                System.getProperty("java.class.path"), Main.class.getName()));
    }

    /** The JSON API of the server, wherever it is serving now (it moves when restarted). */
    private static final class Api {
        private final HttpClient http;
        private final Server server;

        Api(HttpClient http, Server server) {
            this.http = http;
            this.server = server;
        }

        private HttpRequest.Builder request(String token, String path) {
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(server.url + path))
                    .timeout(Duration.ofSeconds(60)).header("Accept", "application/json");
            if (token != null) {
                b.header("Authorization", "Bearer " + token);
            }
            return b;
        }

        /** A setup call that must succeed (waiting out a throttle, 429, when the server asks to). */
        JsonNode post(String token, String path, Object body) throws IOException, InterruptedException {
            for (int attempt = 0; ; attempt++) {
                HttpResponse<String> r = http.send(request(token, path).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 429 && attempt < 100) {
                    long wait = r.headers().firstValueAsLong("Retry-After").orElse(1);
                    Thread.sleep(Math.max(1, wait) * 1000);
                    continue;
                }
                return json(r, "POST /" + path.replaceAll("invitations/[^/]+", "invitations/TOKEN"));
            }
        }

        /** The answer, or null when the server cannot be reached (killed, restarting). */
        HttpResponse<String> tryGet(String token, String path) {
            return send(request(token, path).GET().build());
        }

        HttpResponse<String> tryPost(String token, String path, Object body) {
            try {
                return send(request(token, path).header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build());
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        /** Null also for 5xx: a server starting or stopping; the client tries again (the same request id). */
        private HttpResponse<String> send(HttpRequest req) {
            try {
                HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
                return r.statusCode() >= 500 ? null : r;
            } catch (IOException e) {
                return null;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }

        JsonNode json(HttpResponse<String> r, String what) {
            if (r.statusCode() != 200 && r.statusCode() != 201) {
                throw new UserError(what + ": HTTP " + r.statusCode() + ": " + tail(r.body()));
            }
            try {
                return JSON.readTree(r.body());
            } catch (IOException e) {
                throw new UserError(what + ": not JSON: " + tail(r.body()));
            }
        }
    }
}
