package dev.rlhf4j.feedback.web;

import dev.rlhf4j.feedback.auth.Passwords;
import dev.rlhf4j.feedback.auth.Tokens;
import dev.rlhf4j.feedback.importer.ItemImport;
import dev.rlhf4j.feedback.quality.Quality;
import dev.rlhf4j.feedback.store.Flag;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.NewItem;
import dev.rlhf4j.feedback.store.NewLabel;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.Response;
import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.Session;
import dev.rlhf4j.feedback.store.StoreConflict;
import dev.rlhf4j.feedback.store.Task;
import dev.rlhf4j.feedback.store.User;
import dev.rlhf4j.feedback.store.Verdict;
import io.javalin.http.Context;
import io.javalin.http.UploadedFile;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/** The server-rendered pages and their forms (session cookie; every form carries the CSRF token). */
final class Pages {
    /** Items a person skipped in this server's life, per person, passed over by their queue until they ask again. */
    private static final int MAX_SKIPPED = 1000;

    private final Actions actions;
    private final Auth auth;
    private final Api api;
    private final FeedbackStore store;
    private final Map<Long, Set<Long>> skipped = new ConcurrentHashMap<>();

    Pages(Actions actions, Auth auth, Api api) {
        this.actions = actions;
        this.auth = auth;
        this.api = api;
        this.store = actions.store();
    }

    // ------------------------------------------------------------ signing in and out

    void root(Context ctx) {
        ctx.redirect(auth.session(ctx).isPresent() ? "/projects" : "/login");
    }

    void loginForm(Context ctx) {
        if (auth.session(ctx).isPresent()) {
            ctx.redirect("/projects");
            return;
        }
        renderLogin(ctx, 200, null);
    }

    void renderLogin(Context ctx, int status, String error) {
        Map<String, Object> p = params(new Page("Sign in", null, auth.newPreSessionToken(ctx), null));
        p.put("error", error);
        html(ctx, status, "login", p);
    }

    void login(Context ctx) {
        String name = ctx.formParam("name");
        String password = ctx.formParam("password");
        Optional<User> u = auth.checkPassword(ctx, name == null ? "" : name.strip(), password);
        if (u.isEmpty()) {
            renderLogin(ctx, 401, "Wrong name or password.");
            return;
        }
        auth.signIn(ctx, u.get());
        ctx.redirect("/projects", io.javalin.http.HttpStatus.SEE_OTHER);
    }

    void logout(Context ctx) {
        auth.signOut(ctx);
        ctx.redirect("/login", io.javalin.http.HttpStatus.SEE_OTHER);
    }

    void invitationForm(Context ctx) {
        String token = ctx.pathParam("token");
        Optional<Role> role = store.invitationRole(Tokens.hash(token));
        if (role.isEmpty()) {
            throw new HttpError(404, "This invitation is unknown, used or expired.");
        }
        renderInvitation(ctx, 200, token, role.get(), null);
    }

    private void renderInvitation(Context ctx, int status, String token, Role role, String error) {
        Map<String, Object> p = params(new Page("Accept the invitation", null, auth.newPreSessionToken(ctx), null));
        p.put("token", token);
        p.put("role", role.wireName());
        p.put("error", error);
        html(ctx, status, "invitation", p);
    }

    void acceptInvitation(Context ctx) {
        String token = ctx.pathParam("token");
        String name = ctx.formParam("name");
        String password = ctx.formParam("password");
        User u;
        try {
            u = api.redeem(ctx, token, name == null ? "" : name.strip(), password);
        } catch (IllegalArgumentException | StoreConflict e) {
            Optional<Role> role = store.invitationRole(Tokens.hash(token));
            if (role.isEmpty()) {
                throw new HttpError(409, e.getMessage());
            }
            renderInvitation(ctx, e instanceof StoreConflict ? 409 : 400, token, role.get(), e.getMessage());
            return;
        }
        auth.signIn(ctx, u);
        ctx.redirect("/projects", io.javalin.http.HttpStatus.SEE_OTHER);
    }

    // ------------------------------------------------------------ projects

    void projects(Context ctx) {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Project p : store.projects()) {
            rows.add(Map.of("project", p, "counts", store.counts(p.id())));
        }
        Map<String, Object> p = params(page(ctx, "Projects"));
        p.put("rows", rows);
        html(ctx, 200, "projects", p);
    }

    void createProject(Context ctx) {
        Project p = actions.createProject(Auth.user(ctx), Actions.settings(ctx::formParam, null));
        ctx.redirect("/projects/" + p.id(), io.javalin.http.HttpStatus.SEE_OTHER);
    }

    void project(Context ctx) {
        renderProject(ctx, projectOf(ctx), null);
    }

    private void renderProject(Context ctx, Project project, String notice) {
        Map<String, Object> p = params(page(ctx, project.name()).withNotice(notice));
        p.put("project", project);
        p.put("counts", store.counts(project.id()));
        p.put("guidelines", Views.markdown(project.settings().guidelines()));
        p.put("jobs", store.jobs(project.id()));
        html(ctx, 200, "project", p);
    }

    void updateSettings(Context ctx) {
        Project old = projectOf(ctx);
        actions.updateProject(Auth.user(ctx), old.id(), Actions.settings(ctx::formParam, old.settings()));
        ctx.redirect("/projects/" + old.id(), io.javalin.http.HttpStatus.SEE_OTHER);
    }

    /** Items from an uploaded JSONL file or from JSONL pasted in the text box. */
    void importItems(Context ctx) throws IOException {
        Project project = projectOf(ctx);
        UploadedFile file = ctx.isMultipartFormData() ? ctx.uploadedFile("file") : null;
        List<NewItem> items;
        String source;
        if (file != null && file.size() > 0) {
            source = "upload " + file.filename();
            try (InputStream in = file.content()) {
                items = ItemImport.read(in, source);
            }
        } else {
            String text = ctx.formParam("text");
            if (text == null || text.isBlank()) {
                throw HttpError.badRequest("choose a JSONL file or paste JSON lines");
            }
            source = "pasted text";
            items = ItemImport.read(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8)), source);
        }
        List<Item> added = actions.addItems(Auth.user(ctx), project, items, source);
        int skippedCount = items.size() - added.size();
        String notice = "Added " + added.size() + (added.size() == 1 ? " item" : " items")
                + (skippedCount > 0 ? " (" + skippedCount + " already there, by id)" : "") + ".";
        renderProject(ctx, project, notice);
    }

    void generate(Context ctx) {
        Project project = projectOf(ctx);
        actions.generate(Auth.user(ctx), project);
        ctx.redirect("/projects/" + project.id(), io.javalin.http.HttpStatus.SEE_OTHER);
    }

    /** The generation jobs as JSON, polled by the project page (same shape as the API's). */
    void jobs(Context ctx) {
        Json.send(ctx, 200, Api.jobList(store.jobs(projectOf(ctx).id())));
    }

    void export(Context ctx) throws IOException {
        Project project = projectOf(ctx);
        boolean setAside = "true".equals(ctx.queryParam("set_aside"));
        byte[] out = actions.export(Auth.user(ctx), project, setAside);
        ctx.header("Content-Disposition", "attachment; filename=\"project-" + project.id()
                + (setAside ? ".set_aside" : "") + ".jsonl\"");
        ctx.status(200).contentType("application/x-ndjson").result(out);
    }

    /** The admin's review of a project's labels: {@code ?page=N}, {@code ?annotator=NAME}, {@code ?flagged=true}. */
    void labels(Context ctx) {
        Project project = projectOf(ctx);
        String n = ctx.queryParam("page");
        int pageNumber;
        try {
            pageNumber = n == null || n.isBlank() ? 1 : Integer.parseInt(n.strip());
        } catch (NumberFormatException e) {
            throw HttpError.badRequest("page must be a number, got \"" + n + "\"");
        }
        if (pageNumber < 1) {
            throw HttpError.badRequest("page must be 1 or more, got " + pageNumber);
        }
        String annotator = ctx.queryParam("annotator");
        annotator = annotator == null || annotator.isBlank() ? null : annotator.strip();
        boolean flagged = "true".equals(ctx.queryParam("flagged"));
        Map<String, Object> p = params(page(ctx, "Labels: " + project.name()));
        p.put("project", project);
        p.put("review", LabelReview.of(store, project.id(), pageNumber, annotator, flagged));
        html(ctx, 200, "labels", p);
    }

    void quality(Context ctx) {
        Project project = projectOf(ctx);
        Map<String, Object> p = params(page(ctx, "Quality: " + project.name()));
        p.put("project", project);
        p.put("report", Quality.report(store, project.id()));
        html(ctx, 200, "quality", p);
    }

    // ------------------------------------------------------------ labelling

    void labelPage(Context ctx) {
        Project project = projectOf(ctx);
        User u = Auth.user(ctx);
        if ("1".equals(ctx.queryParam("again"))) {
            skipped.remove(u.id());
        }
        Set<Long> passOver = skipped.getOrDefault(u.id(), Set.of());
        Optional<Task> task = store.nextTask(project.id(), u.id(), List.copyOf(passOver));
        Map<String, Object> p = params(page(ctx, project.name()));
        p.put("project", project);
        if (task.isEmpty()) {
            p.put("skipped", passOver.size());
            html(ctx, 200, "done", p);
            return;
        }
        Task t = task.get();
        p.put("item", t.item());
        p.put("requestId", Tokens.newToken());
        List<Response> shown = Actions.shuffled(t.responses());
        p.put("shown", shown);
        p.put("displayOrder", String.join(",", shown.stream().map(r -> Long.toString(r.id())).toList()));
        html(ctx, 200, project.taskType().wireName(), p);
    }

    void submitLabel(Context ctx) {
        Project project = projectOf(ctx);
        User u = Auth.user(ctx);
        Item item = actions.item(Actions.id(ctx.formParam("item_id"), "item"));
        if (item.projectId() != project.id()) {
            throw HttpError.notFound("item " + item.id() + " in project " + project.id());
        }
        String requestId = ctx.formParam("request_id");
        if (requestId == null) {
            throw HttpError.badRequest("the form has no request_id: reload the page");
        }
        Set<Flag> flags = EnumSet.noneOf(Flag.class);
        for (String f : ctx.formParams("flags")) {
            flags.add(Flag.parse(f));
        }
        String note = ctx.formParam("note");
        NewLabel l = switch (project.taskType()) {
            case COMPARISON -> comparison(ctx, requestId, item, u, flags, note);
            case RANKING -> ranking(ctx, requestId, item, u, flags, note);
            case DEMONSTRATION -> NewLabel.demonstration(requestId, item.id(), u.id(), ctx.formParam("demonstration"),
                    flags, note);
        };
        store.submit(l);
        ctx.redirect("/projects/" + project.id() + "/label", io.javalin.http.HttpStatus.SEE_OTHER);
    }

    private static NewLabel comparison(Context ctx, String requestId, Item item, User u, Set<Flag> flags,
                                       String note) {
        long left = Actions.id(ctx.formParam("left"), "response");
        long right = Actions.id(ctx.formParam("right"), "response");
        String choice = ctx.formParam("choice");
        String s = ctx.formParam("strength");
        Integer strength = s == null || s.isBlank() ? null : (int) Actions.id(s, "strength");
        if (choice == null) {
            throw HttpError.badRequest("choose A, B, tie or both bad");
        }
        return switch (choice) {
            case "a" -> NewLabel.comparison(requestId, item.id(), u.id(), left, right, Verdict.BETTER, left,
                    strength, flags, note);
            case "b" -> NewLabel.comparison(requestId, item.id(), u.id(), left, right, Verdict.BETTER, right,
                    strength, flags, note);
            case "tie" -> NewLabel.comparison(requestId, item.id(), u.id(), left, right, Verdict.TIE, null, null,
                    flags, note);
            case "both_bad" -> NewLabel.comparison(requestId, item.id(), u.id(), left, right, Verdict.BOTH_BAD, null,
                    null, flags, note);
            default -> throw HttpError.badRequest("unknown choice \"" + choice + "\"");
        };
    }

    /** The ranking from the fields {@code rank_ID} = 1..K (the page's selects, kept in step by its script). */
    private static NewLabel ranking(Context ctx, String requestId, Item item, User u, Set<Flag> flags, String note) {
        List<Long> shown = new ArrayList<>();
        String order = ctx.formParam("display_order");
        if (order == null || order.isBlank()) {
            throw HttpError.badRequest("the form has no display_order: reload the page");
        }
        for (String s : order.split(",")) {
            shown.add(Actions.id(s.strip(), "response"));
        }
        Map<Integer, Long> byRank = new HashMap<>();
        for (long id : shown) {
            String r = ctx.formParam("rank_" + id);
            int rank = r == null ? 0 : (int) Actions.id(r, "rank");
            if (rank < 1 || rank > shown.size() || byRank.put(rank, id) != null) {
                throw HttpError.badRequest("give each response a different rank from 1 to " + shown.size());
            }
        }
        List<Long> ranking = new ArrayList<>();
        for (int r = 1; r <= shown.size(); r++) {
            ranking.add(byRank.get(r));
        }
        return NewLabel.ranking(requestId, item.id(), u.id(), ranking, shown, flags, note);
    }

    void skip(Context ctx) {
        Project project = projectOf(ctx);
        User u = Auth.user(ctx);
        long itemId = Actions.id(ctx.formParam("item_id"), "item");
        store.release(itemId, u.id());
        Set<Long> mine = skipped.computeIfAbsent(u.id(), k -> ConcurrentHashMap.newKeySet());
        if (mine.size() < MAX_SKIPPED) {
            mine.add(itemId);
        }
        ctx.redirect("/projects/" + project.id() + "/label", io.javalin.http.HttpStatus.SEE_OTHER);
    }

    // ------------------------------------------------------------ people

    void users(Context ctx) {
        renderUsers(ctx, null);
    }

    private void renderUsers(Context ctx, Actions.Invitation invitation) {
        Map<String, Object> p = params(page(ctx, "People"));
        p.put("users", store.users());
        p.put("invitationUrl", invitation == null ? null : invitation.url());
        p.put("invitationExpires", invitation == null ? null : invitation.expiresAt());
        p.put("roles", List.of(Role.values()));
        html(ctx, 200, "users", p);
    }

    /** Makes an invitation link and shows it once (the store keeps only its hash). */
    void invite(Context ctx) {
        String role = ctx.formParam("role");
        renderUsers(ctx, actions.invite(Auth.user(ctx), Role.parse(role == null ? "annotator" : role)));
    }

    void changeUser(Context ctx) {
        String role = ctx.formParam("role");
        String disabled = ctx.formParam("disabled");
        actions.changeUser(Auth.user(ctx), Actions.id(ctx.pathParam("id"), "user"),
                role == null || role.isBlank() ? null : Role.parse(role),
                disabled == null || disabled.isBlank() ? null : Boolean.valueOf("true".equals(disabled)));
        ctx.redirect("/users", io.javalin.http.HttpStatus.SEE_OTHER);
    }

    void audit(Context ctx) {
        Map<String, Object> p = params(page(ctx, "Audit log"));
        p.put("entries", store.auditLog(500));
        html(ctx, 200, "audit", p);
    }

    // ------------------------------------------------------------ account

    void account(Context ctx) {
        renderAccount(ctx, null, null);
    }

    private void renderAccount(Context ctx, String newToken, String notice) {
        Map<String, Object> p = params(page(ctx, "Account").withNotice(notice));
        p.put("tokens", store.apiTokens(Auth.user(ctx).id()));
        p.put("newToken", newToken);
        html(ctx, 200, "account", p);
    }

    /** A new password needs the current one (throttled like a sign-in); other sessions of the person end. */
    void changePassword(Context ctx) {
        User u = Auth.user(ctx);
        String current = ctx.formParam("current_password");
        String next = ctx.formParam("new_password");
        if (auth.checkPassword(ctx, u.name(), current).isEmpty()) {
            throw HttpError.badRequest("the current password is wrong");
        }
        store.setPasswordHash(u.id(), Passwords.hash(next));
        store.deleteSessions(u.id());
        auth.signIn(ctx, u);
        renderAccount(ctx, null, "Password changed; your other sessions are signed out.");
    }

    /** A new API token, shown once. */
    void createToken(Context ctx) {
        String name = ctx.formParam("name");
        name = name == null || name.isBlank() ? "api" : name.strip();
        if (name.length() > 100) {
            throw HttpError.badRequest("a token name has at most 100 characters");
        }
        String token = Tokens.newToken();
        store.createApiToken(Auth.user(ctx).id(), name, Tokens.hash(token));
        renderAccount(ctx, token, null);
    }

    void revokeToken(Context ctx) {
        long id = Actions.id(ctx.pathParam("id"), "token");
        if (!store.revokeApiToken(id, Auth.user(ctx).id())) {
            throw HttpError.notFound("token " + id);
        }
        ctx.redirect("/account", io.javalin.http.HttpStatus.SEE_OTHER);
    }

    // ------------------------------------------------------------ rendering

    void error(Context ctx, int status, String message) {
        Optional<Session> s = ctx.attribute("rlhf4j.session") != null ? Optional.of(Auth.currentSession(ctx))
                : Optional.empty();
        Page page = s.map(x -> new Page("Error", x.user(), x.csrfToken(), null))
                .orElse(new Page("Error", null, null, null));
        if (status == 401) {
            renderLogin(ctx, 401, message);
            return;
        }
        Map<String, Object> p = params(page);
        p.put("status", status);
        p.put("message", message);
        html(ctx, status, "error", p);
    }

    private Project projectOf(Context ctx) {
        return actions.project(Actions.id(ctx.pathParam("id"), "project"));
    }

    private static Page page(Context ctx, String title) {
        Session s = Auth.currentSession(ctx);
        return new Page(title, s.user(), s.csrfToken(), null);
    }

    private static Map<String, Object> params(Page page) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("page", page);
        return p;
    }

    private static void html(Context ctx, int status, String template, Map<String, Object> params) {
        ctx.status(status).contentType("text/html; charset=utf-8").result(Views.render(template, params));
    }
}
