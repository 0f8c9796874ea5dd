package dev.rlhf4j.feedback.web;

import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.NewItem;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.ProjectSettings;
import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.TaskType;
import dev.rlhf4j.feedback.store.User;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every route of the route table, called by nobody, a viewer, an annotator and an admin: 401 without credentials,
 * 403 for a role the route does not allow, and neither (nor a 500) for a role it allows. The expected table is
 * written out here from the design: a route added to the app without a row here, or with other roles, fails.
 */
class RouteAccessTest {
    /** method, path, roles ("public", or role names joined by '+'). */
    private static final List<String> EXPECTED = List.of(
            "GET /  public",
            "GET /login  public",
            "POST /login  public",
            "GET /invite/{token}  public",
            "POST /invite/{token}  public",
            "POST /logout  admin+annotator+viewer",
            "GET /projects  admin+annotator+viewer",
            "POST /projects  admin",
            "GET /projects/{id}  admin+annotator+viewer",
            "POST /projects/{id}/settings  admin",
            "POST /projects/{id}/import  admin",
            "POST /projects/{id}/generate  admin",
            "GET /projects/{id}/jobs  admin+viewer",
            "GET /projects/{id}/export  admin",
            "GET /projects/{id}/quality  admin+viewer",
            "GET /projects/{id}/labels  admin",
            "GET /projects/{id}/label  admin+annotator",
            "POST /projects/{id}/label  admin+annotator",
            "POST /projects/{id}/skip  admin+annotator",
            "GET /users  admin",
            "POST /users/invite  admin",
            "POST /users/{id}  admin",
            "GET /audit  admin",
            "GET /account  admin+annotator+viewer",
            "POST /account/password  admin+annotator+viewer",
            "POST /account/tokens  admin+annotator+viewer",
            "POST /account/tokens/{id}/revoke  admin+annotator+viewer",
            "POST /api/session  public",
            "POST /api/invitations/{token}/accept  public",
            "GET /api/me  admin+annotator+viewer",
            "POST /api/tokens  admin+annotator+viewer",
            "DELETE /api/tokens/{id}  admin+annotator+viewer",
            "POST /api/invitations  admin",
            "GET /api/users  admin",
            "PUT /api/users/{id}  admin",
            "GET /api/audit  admin",
            "GET /api/projects  admin+annotator+viewer",
            "POST /api/projects  admin",
            "GET /api/projects/{id}  admin+annotator+viewer",
            "PUT /api/projects/{id}  admin",
            "POST /api/projects/{id}/items  admin",
            "GET /api/projects/{id}/items  admin",
            "POST /api/projects/{id}/items/close  admin",
            "POST /api/projects/{id}/generate  admin",
            "GET /api/projects/{id}/jobs  admin+viewer",
            "GET /api/projects/{id}/next  admin+annotator",
            "POST /api/items/{id}/label  admin+annotator",
            "POST /api/items/{id}/skip  admin+annotator",
            "GET /api/projects/{id}/labels  admin+annotator",
            "GET /api/projects/{id}/quality  admin+viewer",
            "GET /api/projects/{id}/export  admin");

    @Test
    void theRouteTableIsTheOneDesigned(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            Set<String> actual = new TreeSet<>();
            for (Route r : f.server.routes()) {
                actual.add(r.method() + " " + r.path() + "  " + (r.access() == Route.Access.PUBLIC ? "public"
                        : r.roles().stream().sorted().map(Role::wireName).collect(Collectors.joining("+"))));
            }
            assertEquals(new TreeSet<>(EXPECTED), actual);
        }
    }

    @Test
    void everyRouteAnswers401Or403ExactlyWhereTheTableSays(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            Project p = f.store.createProject(ProjectSettings.of("p", TaskType.COMPARISON, "g"), f.admin.id());
            List<Item> items = f.store.addItems(p.id(), List.of(NewItem.of("q1", "a", "b"),
                    NewItem.of("q2", "c", "d")));
            List<String> failures = new ArrayList<>();
            int calls = 0;
            for (Route r : f.server.routes()) {
                for (Role caller : callers()) {
                    int status = call(f, r, caller, p.id(), items.get(0).id()).statusCode();
                    calls++;
                    String expected;
                    if (r.access() == Route.Access.PUBLIC) {
                        expected = "not 401/403";
                    } else if (caller == null) {
                        expected = "401";
                    } else if (!r.roles().contains(caller)) {
                        expected = "403";
                    } else {
                        expected = "not 401/403";
                    }
                    boolean ok = switch (expected) {
                        case "401" -> status == 401;
                        case "403" -> status == 403;
                        default -> status != 401 && status != 403 && status != 500;
                    };
                    if (!ok) {
                        failures.add(r.method() + " " + r.path() + " as " + (caller == null ? "nobody"
                                : caller.wireName()) + ": expected " + expected + ", got " + status);
                    }
                }
            }
            assertEquals(List.of(), failures);
            assertEquals(EXPECTED.size() * 4, calls);
        }
    }

    private static List<Role> callers() {
        List<Role> c = new ArrayList<>(Arrays.asList((Role) null));
        c.addAll(EnumSet.allOf(Role.class));
        return c;
    }

    /** One call of route {@code r} as {@code caller} (null: no credentials), with a body it can parse or refuse. */
    private static HttpResponse<String> call(WebFixture f, Route r, Role caller, long projectId, long itemId) {
        User u = caller == null ? null : f.user(caller);
        String path = r.path().replace("{token}", "not-an-invitation");
        if (path.startsWith("/users/") || path.startsWith("/api/users/")) {
            path = path.replace("{id}", Long.toString(f.viewer.id()));
        } else if (path.startsWith("/api/items/")) {
            path = path.replace("{id}", Long.toString(itemId));
        } else if (path.contains("/tokens/")) {
            path = path.replace("{id}", "999999");
        } else {
            path = path.replace("{id}", Long.toString(projectId));
        }
        boolean api = path.startsWith("/api/");
        String method = r.method().name();
        HttpRequest.Builder b = HttpRequest.newBuilder(f.uri(path));
        if (api) {
            b.method(method, method.equals("GET") || method.equals("DELETE") ? HttpRequest.BodyPublishers.noBody()
                    : HttpRequest.BodyPublishers.ofString("{}"));
            b.header("Content-Type", "application/json");
            if (u != null) {
                b.header("Authorization", "Bearer " + f.apiToken(u));
            }
            return f.send(b);
        }
        String cookie = null;
        String form = "";
        if (r.access() == Route.Access.PUBLIC && !method.equals("GET")) {
            // the pre-session double-submit pair a sign-in page hands out; valid credentials for /login
            cookie = Auth.PRE_SESSION_COOKIE + "=pair";
            form = WebFixture.form(Map.of("_csrf", "pair", "name", u == null ? "admin" : u.name(),
                    "password", WebFixture.PASSWORD));
        } else if (u != null) {
            WebFixture.Browser s = f.session(u);
            cookie = s.header();
            form = WebFixture.form(Map.of("_csrf", s.csrf()));
        }
        if (method.equals("GET")) {
            b.GET();
        } else {
            b.method(method, HttpRequest.BodyPublishers.ofString(form));
            b.header("Content-Type", "application/x-www-form-urlencoded");
        }
        if (cookie != null) {
            b.header("Cookie", cookie);
        }
        return f.send(b);
    }

    @Test
    void unknownApiPathsAre404NotOpen(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            HttpResponse<String> r = f.api("GET", "/api/nothing-here", f.apiToken(f.admin), null);
            assertEquals(404, r.statusCode());
            assertTrue(r.body().contains("error"), r.body());
        }
    }
}
