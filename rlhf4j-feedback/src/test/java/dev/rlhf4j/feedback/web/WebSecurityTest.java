package dev.rlhf4j.feedback.web;

import dev.rlhf4j.feedback.auth.Tokens;
import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.NewItem;
import dev.rlhf4j.feedback.store.NewLabel;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.ProjectSettings;
import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.Response;
import dev.rlhf4j.feedback.store.Task;
import dev.rlhf4j.feedback.store.TaskType;
import dev.rlhf4j.feedback.store.Verdict;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** CSRF, cross-site origins, XSS payloads, session fixation and sign-out, brute-force throttling. */
class WebSecurityTest {
    private static final String SCRIPT = "<script>alert(1)</script>";
    private static final String IMG = "<img src=x onerror=alert(1)>";
    private static final String PAIR = Auth.PRE_SESSION_COOKIE + "=pair";

    @Test
    void aPostWithoutTheCsrfTokenOrWithAWrongOneIsRefusedAndStoresNothing(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            WebFixture.Browser admin = f.session(f.admin);
            Map<String, String> project = Map.of("name", "p", "task_type", "comparison");
            assertEquals(403, f.postForm("/projects", admin.header(), project).statusCode());
            Map<String, String> wrong = new LinkedHashMap<>(project);
            wrong.put(Auth.CSRF_FIELD, Tokens.newToken());
            assertEquals(403, f.postForm("/projects", admin.header(), wrong).statusCode());
            // another session's token is no good either
            wrong.put(Auth.CSRF_FIELD, f.session(f.admin).csrf());
            assertEquals(403, f.postForm("/projects", admin.header(), wrong).statusCode());
            assertEquals(List.of(), f.store.projects());
            assertEquals(0, f.store.auditLog(10).size());

            // a label without the token: refused, not stored
            Project p = f.store.createProject(ProjectSettings.of("q", TaskType.COMPARISON, ""), f.admin.id());
            Item item = f.store.addItems(p.id(), List.of(NewItem.of("q", "a", "b"))).get(0);
            WebFixture.Browser ann = f.session(f.annotator);
            String page = f.get("/projects/" + p.id() + "/label", ann).body();
            Map<String, String> label = Map.of("item_id", Long.toString(item.id()), "request_id", "r1",
                    "left", WebFixture.inputValue(page, "left"), "right", WebFixture.inputValue(page, "right"),
                    "choice", "a");
            assertEquals(403, f.postForm("/projects/" + p.id() + "/label", ann.header(), label).statusCode());
            assertEquals(0, f.store.labels(p.id()).size());
            // the same with the token: stored (the refusals above were the token's doing)
            assertEquals(303, f.postPage("/projects/" + p.id() + "/label", ann, label).statusCode());
            assertEquals(1, f.store.labels(p.id()).size());
            // and the header works for fetch()
            HttpResponse<String> viaHeader = f.postForm("/projects", admin.header(), project,
                    Auth.CSRF_HEADER, admin.csrf());
            assertEquals(303, viaHeader.statusCode());
        }
    }

    @Test
    void aMultipartUploadIsCheckedForItsCsrfTokenToo(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            Project p = f.store.createProject(ProjectSettings.of("p", TaskType.COMPARISON, ""), f.admin.id());
            WebFixture.Browser admin = f.session(f.admin);
            String lines = "{\"prompt\": \"q\", \"responses\": [\"a\", \"b\"]}\n";
            assertEquals(403, upload(f, p, admin, null, lines).statusCode());
            assertEquals(403, upload(f, p, admin, Tokens.newToken(), lines).statusCode());
            assertEquals(0, f.store.items(p.id()).size());
            // with the token the upload is imported
            assertEquals(200, upload(f, p, admin, admin.csrf(), lines).statusCode());
            assertEquals(1, f.store.items(p.id()).size());
        }
    }

    private static HttpResponse<String> upload(WebFixture f, Project p, WebFixture.Browser b, String csrf,
                                               String jsonl) {
        String boundary = "----rlhf4j" + Tokens.newToken();
        StringBuilder body = new StringBuilder();
        if (csrf != null) {
            body.append("--").append(boundary).append("\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n")
                    .append(csrf).append("\r\n");
        }
        body.append("--").append(boundary).append("\r\nContent-Disposition: form-data; name=\"file\";"
                + " filename=\"items.jsonl\"\r\nContent-Type: application/octet-stream\r\n\r\n").append(jsonl)
                .append("\r\n--").append(boundary).append("--\r\n");
        return f.send(java.net.http.HttpRequest.newBuilder(f.uri("/projects/" + p.id() + "/import"))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary).header("Cookie", b.header())
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body.toString())));
    }

    @Test
    void aCrossSiteOriginIsRefusedEvenWithTheToken(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            WebFixture.Browser admin = f.session(f.admin);
            Map<String, String> form = Map.of("name", "p", "task_type", "comparison", Auth.CSRF_FIELD, admin.csrf());
            assertEquals(403, f.postForm("/projects", admin.header(), form, "Origin", "https://evil.example")
                    .statusCode());
            assertEquals(403, f.postForm("/projects", admin.header(), form, "Sec-Fetch-Site", "cross-site")
                    .statusCode());
            // the sign-in form too
            assertEquals(403, f.postForm("/login", PAIR, Map.of("_csrf", "pair", "name", "admin", "password",
                    WebFixture.PASSWORD), "Origin", "https://evil.example").statusCode());
            assertEquals(403, f.postForm("/projects", admin.header(), form, "Origin", "null", "Sec-Fetch-Site",
                    "cross-site").statusCode());
            assertEquals(403, f.postForm("/projects", admin.header(), form, "Sec-Fetch-Site", "same-site")
                    .statusCode());
            assertEquals(List.of(), f.store.projects());
            // what a browser sends for a page with Referrer-Policy: no-referrer
            assertEquals(303, f.postForm("/projects", admin.header(), form, "Origin", "null", "Sec-Fetch-Site",
                    "same-origin").statusCode());
            f.store.projects().forEach(x -> f.db.inTransaction(c -> c.createStatement()
                    .executeUpdate("DELETE FROM projects WHERE id = " + x.id())));
            String own = f.server.url().substring(0, f.server.url().length() - 1);
            assertEquals(303, f.postForm("/projects", admin.header(), form, "Origin", own).statusCode());
            assertEquals(1, f.store.projects().size());
        }
    }

    @Test
    void theSignInFormNeedsItsPreSessionTokenPair(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            Map<String, String> creds = Map.of("name", "admin", "password", WebFixture.PASSWORD);
            assertEquals(403, f.postForm("/login", null, creds).statusCode());
            Map<String, String> withField = new LinkedHashMap<>(creds);
            withField.put("_csrf", "one");
            assertEquals(403, f.postForm("/login", Auth.PRE_SESSION_COOKIE + "=other", withField).statusCode());
            // the pair the sign-in page hands out
            HttpResponse<String> form = f.get("/login", null);
            String cookie = WebFixture.setCookie(form, Auth.PRE_SESSION_COOKIE).orElseThrow();
            withField.put("_csrf", WebFixture.inputValue(form.body(), "_csrf"));
            assertEquals(cookie, withField.get("_csrf"));
            assertEquals(303, f.postForm("/login", Auth.PRE_SESSION_COOKIE + "=" + cookie, withField).statusCode());
        }
    }

    @Test
    void xssPayloadsAreEscapedInEveryPageThatShowsThem(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            String guidelines = "# Rules\n\n" + SCRIPT + "\n\n" + IMG + "\n\n[click](javascript:alert(1))";
            Project cmp = f.store.createProject(ProjectSettings.of("cmp " + SCRIPT + IMG, TaskType.COMPARISON,
                    guidelines), f.admin.id());
            f.store.audit(f.admin.id(), "project.create", "project \"" + cmp.name() + "\"");
            f.store.addItems(cmp.id(), List.of(NewItem.of("prompt " + SCRIPT + IMG, "left " + SCRIPT,
                    "right " + IMG), NewItem.of("again " + SCRIPT, "l " + SCRIPT, "r " + IMG)));
            Project rank = f.store.createProject(new ProjectSettings("rank", TaskType.RANKING, "", 3, 0, 2, null,
                    null, null), f.admin.id());
            f.store.addItems(rank.id(), List.of(NewItem.of("p " + IMG, SCRIPT, IMG, "fine")));
            Project demo = f.store.createProject(ProjectSettings.of("demo", TaskType.DEMONSTRATION, ""),
                    f.admin.id());
            f.store.addItems(demo.id(), List.of(new NewItem("chat", List.of(
                    new dev.rlhf4j.model.chat.ChatTemplate.Message("user", SCRIPT + IMG)), null, List.of())));
            WebFixture.Browser admin = f.session(f.admin);
            List<String> pages = List.of("/projects", "/projects/" + cmp.id(), "/projects/" + cmp.id() + "/label",
                    "/projects/" + rank.id() + "/label", "/projects/" + demo.id() + "/label", "/audit");
            for (String path : pages) {
                HttpResponse<String> r = f.get(path, admin);
                assertEquals(200, r.statusCode(), path);
                assertInert(path, r.body());
                assertTrue(r.body().contains("&lt;script&gt;alert(1)&lt;/script&gt;")
                        || r.body().contains("&lt;img src=x onerror=alert(1)&gt;"), path + " shows the payload");
                assertSecurityHeaders(path, r);
            }
            String project = f.get("/projects/" + cmp.id(), admin).body();
            assertFalse(project.contains("href=\"javascript"), "guidelines link sanitised");
            assertTrue(project.contains(">click</a>"), "the link text stays");
            assertTrue(project.contains("<h1>Rules</h1>"), "guidelines rendered as Markdown");

            // a note and a payload in a user-controlled error echo stay text as well
            WebFixture.Browser ann = f.session(f.annotator);
            String page = f.get("/projects/" + cmp.id() + "/label", ann).body();
            HttpResponse<String> bad = f.postPage("/projects/" + cmp.id() + "/label", ann, Map.of(
                    "item_id", WebFixture.inputValue(page, "item_id"), "request_id", "r", "left",
                    WebFixture.inputValue(page, "left"), "right", WebFixture.inputValue(page, "right"),
                    "choice", SCRIPT, "note", IMG));
            assertEquals(400, bad.statusCode());
            assertInert("error page", bad.body());
        }
    }

    @Test
    void xssPayloadsInNotesDemonstrationsAndResponsesAreEscapedOnTheLabelsPage(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            long ann = f.annotator.id();
            Project cmp = f.store.createProject(ProjectSettings.of("cmp", TaskType.COMPARISON, ""), f.admin.id());
            f.store.addItems(cmp.id(), List.of(NewItem.of("prompt " + SCRIPT, "left " + SCRIPT, "right " + IMG)));
            Task t = f.store.nextTask(cmp.id(), ann).orElseThrow();
            long left = idOf(t, "left " + SCRIPT);
            long right = idOf(t, "right " + IMG);
            f.store.submit(NewLabel.comparison("c", t.item().id(), ann, left, right, Verdict.BETTER, right, 2,
                    Set.of(), "note " + IMG));
            Project rank = f.store.createProject(new ProjectSettings("rank", TaskType.RANKING, "", 3, 0, 2, null,
                    null, null), f.admin.id());
            f.store.addItems(rank.id(), List.of(NewItem.of("p", SCRIPT, IMG, "fine")));
            t = f.store.nextTask(rank.id(), ann).orElseThrow();
            List<Long> ids = t.responses().stream().map(Response::id).toList();
            f.store.submit(NewLabel.ranking("r", t.item().id(), ann, ids.reversed(), ids, Set.of(), SCRIPT));
            Project demo = f.store.createProject(ProjectSettings.of("demo", TaskType.DEMONSTRATION, ""),
                    f.admin.id());
            f.store.addItems(demo.id(), List.of(NewItem.of("write")));
            t = f.store.nextTask(demo.id(), ann).orElseThrow();
            f.store.submit(NewLabel.demonstration("d", t.item().id(), ann, "demo " + SCRIPT + IMG, Set.of(), IMG));
            WebFixture.Browser admin = f.session(f.admin);
            String escapedScript = "&lt;script&gt;alert(1)&lt;/script&gt;";
            String escapedImg = "&lt;img src=x onerror=alert(1)&gt;";
            Map<Project, List<String>> shown = Map.of(
                    cmp, List.of("note " + escapedImg, "prompt " + escapedScript, "right " + escapedImg),
                    rank, List.of(escapedScript, escapedImg),
                    demo, List.of("demo " + escapedScript + escapedImg, escapedImg));
            for (Map.Entry<Project, List<String>> e : shown.entrySet()) {
                String path = "/projects/" + e.getKey().id() + "/labels";
                HttpResponse<String> r = f.get(path, admin);
                assertEquals(200, r.statusCode(), path);
                assertInert(path, r.body());
                assertSecurityHeaders(path, r);
                for (String text : e.getValue()) {
                    assertTrue(r.body().contains(text), path + " shows " + text + ":\n" + r.body());
                }
            }
        }
    }

    private static long idOf(Task t, String text) {
        return t.responses().stream().filter(r -> r.text().equals(text)).findFirst().orElseThrow().id();
    }

    @Test
    void staticFilesAndApiAnswersCarryTheSecurityHeaders(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            HttpResponse<String> js = f.get("/static/app.js", null);
            assertEquals(200, js.statusCode());
            assertSecurityHeaders("/static/app.js", js);
            assertSecurityHeaders("/login", f.get("/login", null));
            assertSecurityHeaders("/api/me", f.api("GET", "/api/me", f.apiToken(f.viewer), null));
        }
    }

    @Test
    void signingInMakesANewSessionAndSigningOutEndsIt(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            // a session id planted before sign-in (fixation) is not the one signed in
            String planted = Tokens.newToken();
            HttpResponse<String> in = f.postForm("/login", PAIR + "; " + Auth.SESSION_COOKIE + "=" + planted,
                    Map.of("_csrf", "pair", "name", "ann", "password", WebFixture.PASSWORD));
            assertEquals(303, in.statusCode());
            String cookie = in.headers().allValues("Set-Cookie").stream()
                    .filter(h -> h.startsWith(Auth.SESSION_COOKIE + "=")).findFirst().orElseThrow();
            assertTrue(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/"),
                    cookie);
            assertFalse(cookie.contains("Secure"), "no Secure without TLS: " + cookie);
            String session = WebFixture.setCookie(in, Auth.SESSION_COOKIE).orElseThrow();
            assertNotEquals(planted, session);
            assertEquals(401, f.get("/projects", new WebFixture.Browser(planted, "")).statusCode());
            assertEquals(200, f.get("/projects", new WebFixture.Browser(session, "")).statusCode());

            // signing in again from that browser replaces the session: the old id stops working
            HttpResponse<String> again = f.postForm("/login", PAIR + "; " + Auth.SESSION_COOKIE + "=" + session,
                    Map.of("_csrf", "pair", "name", "ann", "password", WebFixture.PASSWORD));
            String second = WebFixture.setCookie(again, Auth.SESSION_COOKIE).orElseThrow();
            assertNotEquals(session, second);
            assertEquals(401, f.get("/projects", new WebFixture.Browser(session, "")).statusCode());

            // sign out: the session is deleted in the store, the cookie cleared
            String csrf = f.store.session(Tokens.hash(second)).orElseThrow().csrfToken();
            WebFixture.Browser b = new WebFixture.Browser(second, csrf);
            HttpResponse<String> out = f.postPage("/logout", b, Map.of());
            assertEquals(303, out.statusCode());
            assertEquals("", WebFixture.setCookie(out, Auth.SESSION_COOKIE).orElseThrow());
            assertTrue(f.store.session(Tokens.hash(second)).isEmpty());
            assertEquals(401, f.get("/projects", b).statusCode());
        }
    }

    @Test
    void anExpiredSessionAndACookieOnTheApiDoNotAuthenticate(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            String token = Tokens.newToken();
            f.store.createSession(Tokens.hash(token), f.admin.id(), "c", f.store.now() - 1);
            assertEquals(401, f.get("/projects", new WebFixture.Browser(token, "c")).statusCode());
            WebFixture.Browser live = f.session(f.admin);
            HttpResponse<String> api = f.send(java.net.http.HttpRequest.newBuilder(f.uri("/api/me"))
                    .header("Cookie", live.header()).GET());
            assertEquals(401, api.statusCode());
        }
    }

    @Test
    void manyWrongPasswordsForANameAreThrottledEvenWithTheRightOne(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            for (int i = 0; i < LoginThrottle.NAME_TRIES; i++) {
                assertEquals(401, signIn(f, "ann", "wrong password " + i).statusCode());
            }
            HttpResponse<String> r = signIn(f, "ann", WebFixture.PASSWORD);
            assertEquals(429, r.statusCode());
            assertTrue(Long.parseLong(r.headers().firstValue("Retry-After").orElseThrow()) >= 1);
            // the API's sign-in shares the buckets
            HttpResponse<String> api = f.api("POST", "/api/session", null,
                    "{\"name\":\"ann\",\"password\":\"" + WebFixture.PASSWORD + "\"}");
            assertEquals(429, api.statusCode());
            // another name from the same address still gets in
            assertEquals(303, signIn(f, "vic", WebFixture.PASSWORD).statusCode());
        }
    }

    @Test
    void manyWrongPasswordsFromOneAddressAreThrottledForEveryName(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            for (int i = 0; i < LoginThrottle.ADDRESS_TRIES; i++) {
                assertEquals(401, f.api("POST", "/api/session", null,
                        "{\"name\":\"nobody" + i + "\",\"password\":\"whatever-it-is\"}").statusCode());
            }
            assertEquals(429, signIn(f, "vic", WebFixture.PASSWORD).statusCode());
            assertEquals(429, f.api("POST", "/api/invitations/" + Tokens.newToken() + "/accept", null,
                    "{\"name\":\"newbie\",\"password\":\"" + WebFixture.PASSWORD + "\"}").statusCode());
        }
    }

    private static HttpResponse<String> signIn(WebFixture f, String name, String password) {
        return f.postForm("/login", PAIR, Map.of("_csrf", "pair", "name", name, "password", password));
    }

    private static void assertInert(String where, String html) {
        assertFalse(html.contains("<script>alert"), where + " has a raw <script>");
        assertFalse(html.contains("<img src=x"), where + " has a raw <img>");
        assertFalse(html.contains("onerror=alert") && !html.contains("&lt;img src=x onerror=alert(1)&gt;"),
                where + " has a raw onerror");
    }

    private static void assertSecurityHeaders(String where, HttpResponse<String> r) {
        assertEquals(FeedbackServer.CSP, r.headers().firstValue("Content-Security-Policy").orElse(null), where);
        assertEquals("nosniff", r.headers().firstValue("X-Content-Type-Options").orElse(null), where);
        assertEquals("no-referrer", r.headers().firstValue("Referrer-Policy").orElse(null), where);
    }

    @Test
    void roleChangesAndInvitationsAreAudited(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            WebFixture.Browser admin = f.session(f.admin);
            HttpResponse<String> inv = f.postPage("/users/invite", admin, Map.of("role", "viewer"));
            assertEquals(200, inv.statusCode());
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("id=\"invitation-url\" value=\""
                    + java.util.regex.Pattern.quote(f.server.url()) + "(invite/[A-Za-z0-9_-]+)\"").matcher(inv.body());
            assertTrue(m.find(), "the link is shown");
            HttpResponse<String> accept = f.get("/" + m.group(1), null);
            assertEquals(200, accept.statusCode());
            assertTrue(accept.body().contains("<strong id=\"invite-role\">viewer</strong>"));
            assertEquals(303, f.postPage("/users/" + f.annotator.id(), admin, Map.of("role", "viewer"))
                    .statusCode());
            assertEquals(Role.VIEWER, f.store.user(f.annotator.id()).orElseThrow().role());
            assertEquals(303, f.postPage("/users/" + f.viewer.id(), admin, Map.of("disabled", "true"))
                    .statusCode());
            assertTrue(f.store.user(f.viewer.id()).orElseThrow().disabled());
            // the last admin cannot be demoted
            assertEquals(409, f.postPage("/users/" + f.admin.id(), admin, Map.of("role", "viewer")).statusCode());
            List<String> actions = f.store.auditLog(10).stream().map(a -> a.action()).toList();
            assertEquals(List.of("disable", "role", "invite"), actions);
        }
    }
}
