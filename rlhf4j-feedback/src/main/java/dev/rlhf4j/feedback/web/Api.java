package dev.rlhf4j.feedback.web;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rlhf4j.feedback.auth.Passwords;
import dev.rlhf4j.feedback.auth.Tokens;
import dev.rlhf4j.feedback.importer.ItemImport;
import dev.rlhf4j.feedback.quality.Quality;
import dev.rlhf4j.feedback.store.Flag;
import dev.rlhf4j.feedback.store.GenerationJob;
import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.NewItem;
import dev.rlhf4j.feedback.store.NewLabel;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.Response;
import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.Submission;
import dev.rlhf4j.feedback.store.Task;
import dev.rlhf4j.feedback.store.User;
import dev.rlhf4j.feedback.store.Verdict;
import io.javalin.http.Context;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** The JSON API under {@code /api} (the table in the design is its contract); callers hold API tokens. */
final class Api {
    private final Actions actions;
    private final Auth auth;

    Api(Actions actions, Auth auth) {
        this.actions = actions;
        this.auth = auth;
    }

    // ------------------------------------------------------------ accounts

    /** POST /api/session: a new API token named "session" for a name and password (throttled). */
    void session(Context ctx) {
        JsonNode b = Json.body(ctx);
        String name = Json.requiredText(b, "name");
        String password = Json.requiredText(b, "password");
        User u = auth.checkPassword(ctx, name, password)
                .orElseThrow(() -> new HttpError(401, "wrong name or password"));
        Json.send(ctx, 200, Map.of("token", newToken(u, "session"), "user", Json.user(u)));
    }

    /** POST /api/invitations/{token}/accept: the account an invitation offers, and an API token for it. */
    void acceptInvitation(Context ctx) {
        JsonNode b = Json.body(ctx);
        String name = Json.requiredText(b, "name");
        String password = Json.requiredText(b, "password");
        User u = redeem(ctx, ctx.pathParam("token"), name, password);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("user", Json.user(u));
        m.put("token", newToken(u, "session"));
        Json.send(ctx, 200, m);
    }

    /** Redeems an invitation (throttled per address and per invitation, as each try may guess a token). */
    User redeem(Context ctx, String token, String name, String password) {
        LoginThrottle.Attempt attempt = auth.throttle.acquire("invitation:" + Tokens.hash(token), ctx.ip());
        Passwords.check(password);
        User u = actions.store().redeemInvitation(Tokens.hash(token), name, Passwords.hash(password));
        auth.throttle.succeeded(attempt);
        return u;
    }

    void me(Context ctx) {
        Json.send(ctx, 200, Json.user(Auth.user(ctx)));
    }

    void createToken(Context ctx) {
        String name = Json.text(Json.body(ctx), "name");
        name = name == null || name.isBlank() ? "api" : name.strip();
        if (name.length() > 100) {
            throw HttpError.badRequest("a token name has at most 100 characters");
        }
        User u = Auth.user(ctx);
        String token = Tokens.newToken();
        long id = actions.store().createApiToken(u.id(), name, Tokens.hash(token));
        Json.send(ctx, 200, Map.of("id", id, "token", token));
    }

    void revokeToken(Context ctx) {
        long id = Actions.id(ctx.pathParam("id"), "token");
        if (!actions.store().revokeApiToken(id, Auth.user(ctx).id())) {
            throw HttpError.notFound("token " + id);
        }
        ctx.status(204);
    }

    private String newToken(User u, String name) {
        String token = Tokens.newToken();
        actions.store().createApiToken(u.id(), name, Tokens.hash(token));
        return token;
    }

    // ------------------------------------------------------------ admin

    void invite(Context ctx) {
        String role = Json.text(Json.body(ctx), "role");
        Actions.Invitation inv = actions.invite(Auth.user(ctx), Role.parse(role == null ? "annotator" : role));
        Json.send(ctx, 200, Map.of("token", inv.token(), "url", inv.url(), "expires_at", inv.expiresAt()));
    }

    void users(Context ctx) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (User u : actions.store().users()) {
            Map<String, Object> m = Json.user(u);
            m.put("disabled", u.disabled());
            out.add(m);
        }
        Json.send(ctx, 200, out);
    }

    void changeUser(Context ctx) {
        JsonNode b = Json.body(ctx);
        String role = Json.text(b, "role");
        JsonNode d = b.get("disabled");
        if (d != null && !d.isNull() && !d.isBoolean()) {
            throw HttpError.badRequest("\"disabled\" must be true or false");
        }
        User u = actions.changeUser(Auth.user(ctx), Actions.id(ctx.pathParam("id"), "user"),
                role == null ? null : Role.parse(role), d == null || d.isNull() ? null : d.asBoolean());
        Map<String, Object> m = Json.user(u);
        m.put("disabled", u.disabled());
        Json.send(ctx, 200, m);
    }

    void audit(Context ctx) {
        String l = ctx.queryParam("limit");
        int limit = 100;
        if (l != null) {
            try {
                limit = Math.max(1, Math.min(10_000, Integer.parseInt(l)));
            } catch (NumberFormatException e) {
                throw HttpError.badRequest("limit must be an integer");
            }
        }
        Json.send(ctx, 200, actions.store().auditLog(limit).stream().map(a -> {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", a.id());
            m.put("user", a.userName());
            m.put("action", a.action());
            m.put("detail", a.detail());
            m.put("created_at", a.createdAt());
            return m;
        }).toList());
    }

    // ------------------------------------------------------------ projects

    void projects(Context ctx) {
        Json.send(ctx, 200, actions.store().projects().stream()
                .map(p -> Json.project(p, actions.store().counts(p.id()))).toList());
    }

    void createProject(Context ctx) {
        JsonNode b = Json.body(ctx);
        Project p = actions.createProject(Auth.user(ctx), Actions.settings(f -> Json.scalar(b, f), null));
        Json.send(ctx, 200, Json.project(p, actions.store().counts(p.id())));
    }

    void project(Context ctx) {
        Project p = project(ctx, "id");
        Json.send(ctx, 200, Json.project(p, actions.store().counts(p.id())));
    }

    void updateProject(Context ctx) {
        Project old = project(ctx, "id");
        JsonNode b = Json.body(ctx);
        Project p = actions.updateProject(Auth.user(ctx), old.id(),
                Actions.settings(f -> Json.scalar(b, f), old.settings()));
        Json.send(ctx, 200, Json.project(p, actions.store().counts(p.id())));
    }

    void addItems(Context ctx) {
        Project p = project(ctx, "id");
        JsonNode items = Json.body(ctx).get("items");
        if (items == null || !items.isArray()) {
            throw HttpError.badRequest("\"items\" must be an array of {\"prompt\"|\"messages\", \"responses\"?,"
                    + " \"id\"?}");
        }
        List<NewItem> parsed = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            parsed.add(ItemImport.item(items.get(i), "items[" + i + "]"));
        }
        List<Item> added = actions.addItems(Auth.user(ctx), p, parsed, "the API");
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("added", added.size());
        m.put("item_ids", added.stream().map(Item::id).toList());
        Json.send(ctx, 200, m);
    }

    /**
     * GET /api/projects/{id}/items[?external_id_prefix=P]: the items (those whose external id starts with P) with
     * their responses in stored order, so that a caller that pushed items under its own ids (the loop) can find
     * them again and check that they hold what it pushed.
     */
    void items(Context ctx) {
        Project p = project(ctx, "id");
        String prefix = ctx.queryParam("external_id_prefix");
        List<Item> items = prefix == null ? actions.store().items(p.id())
                : actions.store().itemsByExternalIdPrefix(p.id(), prefix);
        Map<Long, List<Response>> responses = prefix == null ? actions.store().responsesOfProject(p.id())
                : actions.store().responsesByExternalIdPrefix(p.id(), prefix);
        List<Map<String, Object>> out = new ArrayList<>(items.size());
        for (Item i : items) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("id", i.id());
            m.put("external_id", i.externalId());
            m.put("prompt", i.prompt());
            if (i.isChat()) {
                m.put("messages", i.messages());
            }
            m.put("replicas", i.replicas());
            m.put("responses", Json.responses(responses.getOrDefault(i.id(), List.of())));
            out.add(m);
        }
        Json.send(ctx, 200, out);
    }

    /**
     * POST /api/projects/{id}/items/close {"external_ids": [...]}: the open items among these need no more labels
     * (see {@link dev.rlhf4j.feedback.store.FeedbackStore#closeItems}); answers {"closed": how many were open}.
     */
    void closeItems(Context ctx) {
        Project p = project(ctx, "id");
        JsonNode ids = Json.body(ctx).get("external_ids");
        if (ids == null || !ids.isArray()) {
            throw HttpError.badRequest("\"external_ids\" must be an array of the items' ids");
        }
        List<String> list = new ArrayList<>();
        for (JsonNode id : ids) {
            if (!id.isTextual()) {
                throw HttpError.badRequest("\"external_ids\" must be an array of the items' ids");
            }
            list.add(id.asText());
        }
        Json.send(ctx, 200, Map.of("closed", actions.closeItems(Auth.user(ctx), p, list)));
    }

    void generate(Context ctx) {
        Project p = project(ctx, "id");
        Json.send(ctx, 200, Json.job(actions.generate(Auth.user(ctx), p)));
    }

    void jobs(Context ctx) {
        Project p = project(ctx, "id");
        Json.send(ctx, 200, actions.store().jobs(p.id()).stream().map(Json::job).toList());
    }

    void quality(Context ctx) {
        Project p = project(ctx, "id");
        // the same fields as `rlhf4j feedback stats --json`
        Json.send(ctx, 200, Quality.report(actions.store(), p.id()).toMap());
    }

    void export(Context ctx) throws Exception {
        Project p = project(ctx, "id");
        byte[] out = actions.export(Auth.user(ctx), p, "true".equals(ctx.queryParam("set_aside")));
        ctx.status(200).contentType("application/x-ndjson").result(out);
    }

    // ------------------------------------------------------------ labelling

    void next(Context ctx) {
        Project p = project(ctx, "id");
        User u = Auth.user(ctx);
        var task = actions.store().nextTask(p.id(), u.id());
        if (task.isEmpty()) {
            ctx.status(204);
            return;
        }
        Task t = task.get();
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("item_id", t.item().id());
        m.put("kind", p.taskType().wireName());
        m.put("prompt", t.item().prompt());
        if (t.item().isChat()) {
            m.put("messages", t.item().messages());
        }
        m.put("responses", Json.responses(Actions.shuffled(t.responses())));
        m.put("assigned_at", t.assignedAt());
        Json.send(ctx, 200, m);
    }

    void label(Context ctx) {
        Item item = actions.item(Actions.id(ctx.pathParam("id"), "item"));
        Project p = actions.project(item.projectId());
        User u = Auth.user(ctx);
        JsonNode b = Json.body(ctx);
        String requestId = Json.requiredText(b, "request_id");
        Set<Flag> flags = flags(b);
        String note = Json.text(b, "note");
        NewLabel l = switch (p.taskType()) {
            case COMPARISON -> {
                Verdict v = Verdict.parse(Json.requiredText(b, "verdict"));
                Long left = Json.id(b, "left");
                Long right = Json.id(b, "right");
                if (left == null || right == null) {
                    throw HttpError.badRequest("a comparison needs \"left\" and \"right\" (the response ids as shown)");
                }
                Long strength = Json.id(b, "strength");
                yield NewLabel.comparison(requestId, item.id(), u.id(), left, right, v, Json.id(b, "chosen"),
                        strength == null ? null : Math.toIntExact(strength), flags, note);
            }
            case RANKING -> NewLabel.ranking(requestId, item.id(), u.id(), ids(b, "ranking"),
                    ids(b, "display_order"), flags, note);
            case DEMONSTRATION -> NewLabel.demonstration(requestId, item.id(), u.id(),
                    Json.requiredText(b, "demonstration"), flags, note);
        };
        Submission s = actions.store().submit(l);
        Json.send(ctx, 200, Map.of("label_id", s.label().id(), "repeated", s.repeated()));
    }

    void skip(Context ctx) {
        Item item = actions.item(Actions.id(ctx.pathParam("id"), "item"));
        actions.store().release(item.id(), Auth.user(ctx).id());
        ctx.status(204);
    }

    /**
     * Admins get every label of the project; annotators only their own. {@code ?external_id_prefix=P}: only the
     * labels of items whose external id starts with P (the loop reads its round's labels so).
     */
    void labels(Context ctx) {
        Project p = project(ctx, "id");
        User u = Auth.user(ctx);
        Long only = u.role() == Role.ADMIN ? null : u.id();
        String prefix = ctx.queryParam("external_id_prefix");
        var labels = prefix != null ? actions.store().labelsByExternalIdPrefix(p.id(), prefix, only)
                : only == null ? actions.store().labels(p.id()) : actions.store().labelsBy(p.id(), only);
        Json.send(ctx, 200, labels.stream().map(Json::label).toList());
    }

    private Project project(Context ctx, String param) {
        return actions.project(Actions.id(ctx.pathParam(param), "project"));
    }

    private static Set<Flag> flags(JsonNode b) {
        Set<Flag> out = EnumSet.noneOf(Flag.class);
        JsonNode f = b.get("flags");
        if (f == null || f.isNull()) {
            return out;
        }
        if (!f.isArray()) {
            throw HttpError.badRequest("\"flags\" must be an array of harmful, untruthful, off_topic");
        }
        for (JsonNode x : f) {
            out.add(Flag.parse(x.asText()));
        }
        return out;
    }

    private static List<Long> ids(JsonNode b, String field) {
        JsonNode a = b.get(field);
        if (a == null || !a.isArray()) {
            throw HttpError.badRequest("\"" + field + "\" must be an array of response ids");
        }
        List<Long> out = new ArrayList<>();
        for (JsonNode x : a) {
            if (!x.isIntegralNumber()) {
                throw HttpError.badRequest("\"" + field + "\" must be an array of response ids");
            }
            out.add(x.asLong());
        }
        return out;
    }

    /** The job as JSON (for the page's progress poll too). */
    static List<Map<String, Object>> jobList(List<GenerationJob> jobs) {
        return jobs.stream().map(Json::job).toList();
    }
}
