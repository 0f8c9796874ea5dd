package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.feedback.auth.Tokens;
import dev.rlhf4j.feedback.generate.ResponseSampler;
import dev.rlhf4j.feedback.store.Database;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.ProjectSettings;
import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.Sampling;
import dev.rlhf4j.feedback.store.TaskType;
import dev.rlhf4j.feedback.store.User;
import dev.rlhf4j.feedback.web.FeedbackServer;
import dev.rlhf4j.train.lab.Annotator;
import dev.rlhf4j.train.lab.LabData;
import dev.rlhf4j.train.lab.LabWorld;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code rlhf4j loop --labeler app}: a round labelled by a person in a feedback app running in this JVM. */
class LoopAppLabelerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();

    /** Runs {@code rlhf4j loop} in this JVM with the environment {@code env}, as Main would. */
    private int loop(Map<String, String> env, String... args) {
        LoopCommand cmd = new LoopCommand();
        cmd.env = env::get;
        PrintWriter e = new PrintWriter(err, true);
        CommandLine cl = new CommandLine(cmd);
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(e);
        cl.setParameterExceptionHandler((ex, a) -> Main.usageError(ex, e, false));
        cl.setExecutionExceptionHandler((ex, c, p) -> Main.failure(ex, e, false, c));
        return cl.execute(args);
    }

    private static HttpResponse<String> api(String base, String method, String path, String token, String json)
            throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path))
                .header("Authorization", "Bearer " + token).method(method, json == null
                        ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(json));
        if (json != null) {
            b.header("Content-Type", "application/json");
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String token(FeedbackStore store, User u) {
        String t = Tokens.newToken();
        store.createApiToken(u.id(), "test", Tokens.hash(t));
        return t;
    }

    @Test
    @Timeout(300)
    void oneRoundLabelledByAPersonInTheAppTrainsTheRewardModelOnTheirLabels(@TempDir Path tmp) throws Exception {
        TinyRun tiny = TinyRun.create(tmp);
        Files.writeString(tiny.modelYaml, "family: llama\ndim: 32\nlayers: 2\nheads: 4\nkv_heads: 2\n"
                + "max_seq_len: 128\n");
        Path policy = tiny.policy();
        LabWorld w = new LabWorld(0);
        Path preferences = tmp.resolve("preferences.jsonl");
        StringBuilder b = new StringBuilder();
        for (LabData.LabeledPair p : LabData.label(w, LabData.demonstratorPairs(w, 6).sample(LabData.prompts(w, 16,
                7)), new Annotator(0.3, 0), 9)) {
            b.append(JSON.writeValueAsString(p.preferenceRecord())).append('\n');
        }
        Files.writeString(preferences, b);
        Path rewardModel = tmp.resolve("rm");
        StringWriter trainErr = new StringWriter();
        assertEquals(0, Main.run(new PrintWriter(new StringWriter()), new PrintWriter(trainErr, true), "reward",
                "train", "--model", policy.toString(), "--data", preferences.toString(), "--out",
                rewardModel.toString(), "--max-steps", "1", "--max-length", "96"), trainErr.toString());

        try (Database db = Database.sqlite(tmp.resolve("app"))) {
            FeedbackStore store = new FeedbackStore(db);
            ResponseSampler sampler = new ResponseSampler(store);
            String admin = token(store, store.createUser("admin", "unused", Role.ADMIN));
            String ann = token(store, store.createUser("ann", "unused", Role.ANNOTATOR));
            Project project = store.createProject(new ProjectSettings("loop", TaskType.COMPARISON, "Pick the better "
                    + "answer.", 2, 0, 2, Sampling.DEFAULTS, null, null), null);
            try (sampler; FeedbackServer server = FeedbackServer.start(store, sampler, new FeedbackServer.Config(
                    "127.0.0.1", 0, false, null))) {
                Path dir = tmp.resolve("loop");
                // people label the app's own prompts: held-out prompts that are not the lab world's have no gold
                // reward, and each round is judged by its reward model's score and the KL to SFT
                Path evalPrompts = Files.writeString(tmp.resolve("eval-prompts.jsonl"),
                        "{\"prompt\": \"User: Write a haiku about rain.\\nAssistant:\"}\n"
                                + "{\"prompt\": \"User: What is 2 plus 2?\\nAssistant:\"}\n");
                ExecutorService background = Executors.newSingleThreadExecutor();
                Map<String, String> chosen = new HashMap<>();
                int code;
                try {
                    Future<Integer> running = background.submit(() -> loop(Map.of(AppLabeler.TOKEN_ENV, admin),
                            "--policy", policy.toString(), "--reward-model", rewardModel.toString(),
                            "--preferences", preferences.toString(), "--eval-preferences", preferences.toString(),
                            "--prompts", tiny.prompts.toString(), "--eval-prompts", evalPrompts.toString(),
                            "--out", dir.toString(), "--rounds", "1",
                            "--pairs-per-round", "4", "--ppo-steps", "1", "--eval-count", "4", "--labeler", "app",
                            "--app-url", server.url(), "--app-project", "loop", "--poll-seconds", "1",
                            "--round-timeout", "10m"));
                    // the person labels what the loop pushes, preferring the response shown on the left
                    while (!running.isDone()) {
                        HttpResponse<String> next = api(server.url(), "GET", "api/projects/" + project.id()
                                + "/next", ann, null);
                        if (next.statusCode() == 204) {
                            Thread.sleep(50);
                            continue;
                        }
                        JsonNode task = JSON.readTree(next.body());
                        JsonNode left = task.get("responses").get(0);
                        long right = task.get("responses").get(1).get("id").asLong();
                        chosen.put(task.get("prompt").asText(), left.get("text").asText());
                        HttpResponse<String> r = api(server.url(), "POST", "api/items/" + task.get("item_id")
                                .asLong() + "/label", ann, "{\"request_id\":\"" + task.get("item_id").asLong()
                                + "\",\"verdict\":\"better\",\"left\":" + left.get("id").asLong() + ",\"right\":"
                                + right + ",\"chosen\":" + left.get("id").asLong() + "}");
                        assertEquals(200, r.statusCode(), r.body());
                    }
                    code = running.get(10, TimeUnit.SECONDS);
                } finally {
                    background.shutdownNow();
                }
                assertEquals(0, code, err.toString());
                String log = err.toString();
                assertTrue(log.contains("label them at " + server.url() + "projects/" + project.id() + "/label"), log);
                assertFalse(log.contains(admin), "the token is never printed");

                // every pair pushed was labelled once, and the round's preferences are the person's choices
                List<String> pairs = lines(dir.resolve("round-1/pairs.jsonl"));
                List<String> prefs = lines(dir.resolve("round-1/preferences.jsonl"));
                assertFalse(pairs.isEmpty());
                assertEquals(pairs.size(), chosen.size());
                assertEquals(pairs.size(), prefs.size());
                assertEquals(pairs.size(), store.items(project.id()).size());
                for (String line : prefs) {
                    JsonNode r = JSON.readTree(line);
                    assertEquals(chosen.get(r.get("prompt").asText()), r.get("chosen").asText(), line);
                }
                assertTrue(log.contains("round 1: " + pairs.size() + " pairs labelled, 0 set aside, 0 unlabelled"),
                        log);
                // and the round's reward model trained on the starting labels and these
                assertEquals(lines(preferences).size() + prefs.size(), lines(dir.resolve("round-1/reward-data.jsonl"))
                        .size());
                assertTrue(Files.exists(dir.resolve("round-1/ppo/model.safetensors")));
                assertTrue(log.contains("are not all the lab world's"), log);
                JsonNode eval = JSON.readTree(dir.resolve("round-1/eval.json").toFile());
                assertFalse(eval.has("gold") || eval.has("win_rate_vs_sft"), eval.toString());
                assertTrue(Double.isFinite(eval.get("reward_model_score").asDouble())
                        && Double.isFinite(eval.get("kl_to_sft").asDouble()), eval.toString());
                JsonNode round1 = JSON.readTree(lines(dir.resolve("metrics.jsonl")).get(1));
                assertTrue(round1.has("eval/reward_model") && !round1.has("eval/gold"), round1.toString());
            }
        }
    }

    @Test
    void withoutTheTokenInTheEnvironmentItSaysWhatToSetAndTouchesNothing(@TempDir Path tmp) throws IOException {
        Path prompts = Files.writeString(tmp.resolve("p.jsonl"), "{\"prompt\":\"x\"}\n");
        Path model = Files.createDirectories(tmp.resolve("m"));
        Path dir = tmp.resolve("loop");
        assertEquals(1, loop(Map.of(), "--policy", model.toString(), "--reward-model", model.toString(),
                "--prompts", prompts.toString(), "--eval-preferences", prompts.toString(), "--eval-prompts",
                prompts.toString(), "--out", dir.toString(),
                "--labeler", "app", "--app-url", "http://127.0.0.1:9/", "--app-project", "loop"));
        assertEquals("rlhf4j: --labeler app: set RLHF4J_API_TOKEN to an admin's API token of the app at "
                + "http://127.0.0.1:9/ (its Account page makes one)", err.toString().strip());
        assertFalse(Files.exists(dir));
    }

    private static List<String> lines(Path f) throws IOException {
        return Files.readAllLines(f, StandardCharsets.UTF_8).stream().filter(s -> !s.isBlank()).toList();
    }
}
