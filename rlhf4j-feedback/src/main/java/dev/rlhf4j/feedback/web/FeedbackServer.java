package dev.rlhf4j.feedback.web;

import dev.rlhf4j.feedback.generate.ResponseSampler;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.Session;
import dev.rlhf4j.feedback.store.StoreConflict;
import dev.rlhf4j.feedback.store.User;
import dev.rlhf4j.tensor.UserError;
import io.javalin.Javalin;
import io.javalin.http.Context;
import io.javalin.http.HttpResponseException;
import io.javalin.config.SizeUnit;
import io.javalin.http.staticfiles.Location;
import io.javalin.util.JavalinBindException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static dev.rlhf4j.feedback.web.Route.Access.API;
import static dev.rlhf4j.feedback.web.Route.Access.PAGE;
import static dev.rlhf4j.feedback.web.Route.Access.PUBLIC;
import static io.javalin.http.HandlerType.DELETE;
import static io.javalin.http.HandlerType.GET;
import static io.javalin.http.HandlerType.POST;
import static io.javalin.http.HandlerType.PUT;

/**
 * The feedback web app and its JSON API (Javalin), started on a port; {@link #close} stops it and waits for the
 * requests in flight.
 *
 * <p>Every route is a row of {@link #routes()}: method, path, who may call it. They are registered from that table
 * only, each behind {@link #guard}: 401 without a session (pages) or API token (/api), 403 for a role the row does
 * not list, 403 for a state-changing page request without the session's CSRF token or from another site.
 */
public final class FeedbackServer implements AutoCloseable {
    /**
     * Where to listen; {@code secureCookies} when served behind TLS (the cookies get the Secure attribute);
     * {@code publicUrl} (may be null) is the address people reach, used in invitation links.
     */
    public record Config(String host, int port, boolean secureCookies, String publicUrl) {
    }

    /** The Content-Security-Policy of every answer: nothing but this server's own files; no inline script. */
    static final String CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
            + " frame-ancestors 'none'";

    private static final Logger LOG = LoggerFactory.getLogger(FeedbackServer.class);

    private final Javalin app;
    private final String url;
    private final List<Route> routes;

    private FeedbackServer(Javalin app, String url, List<Route> routes) {
        this.app = app;
        this.url = url;
        this.routes = routes;
    }

    /** The largest request body read whole (JSON); larger ones are answered 413. */
    static final long MAX_JSON_BYTES = 16L << 20;

    /** Starts the app on {@code config}'s port (0: a free one). */
    public static FeedbackServer start(FeedbackStore store, ResponseSampler sampler, Config config) {
        String host = config.host() == null || config.host().isBlank() ? "127.0.0.1" : config.host();
        // the public URL is only known once the port is: invitation links read it through this holder
        String[] publicUrl = {config.publicUrl()};
        Auth auth = new Auth(store, config.secureCookies(), config.publicUrl());
        Actions actions = new Actions(store, sampler, () -> publicUrl[0]);
        Api api = new Api(actions, auth);
        Pages pages = new Pages(actions, auth, api);
        List<Route> table = table(pages, api);
        store.deleteExpiredSessions();
        Javalin app = Javalin.create(cfg -> {
            cfg.jetty.host = host;
            cfg.jetty.port = config.port();
            cfg.startup.showJavalinBanner = false;
            // bounds on what one request may make the server hold: JSON bodies (API item pushes) up to 16 MiB,
            // uploaded JSONL files (admins only; streamed to a temporary file) up to 256 MiB
            cfg.http.maxRequestSize = MAX_JSON_BYTES;
            cfg.jetty.multipartConfig.maxFileSize(256, SizeUnit.MB);
            cfg.jetty.multipartConfig.maxTotalRequestSize(257, SizeUnit.MB);
            cfg.staticFiles.add(sf -> {
                sf.hostedPath = "/static";
                sf.directory = "/feedback-static";
                sf.location = Location.CLASSPATH;
            });
            cfg.routes.before(FeedbackServer::securityHeaders);
            for (Route r : table) {
                cfg.routes.addHttpHandler(r.method(), r.path(), ctx -> guard(r, auth, pages, ctx));
            }
            cfg.routes.error(404, ctx -> {
                if (ctx.path().startsWith("/api/")) {
                    Json.send(ctx, 404, Map.of("error", "no such route"));
                }
            });
        });
        try {
            app.start();
        } catch (JavalinBindException e) {
            throw new UserError("port " + config.port() + " on " + host + " is in use by another program: stop it, or "
                    + "choose another port with --port", e);
        }
        String url = "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + app.port() + "/";
        if (publicUrl[0] == null || publicUrl[0].isBlank()) {
            publicUrl[0] = url;
        }
        return new FeedbackServer(app, url, table);
    }

    /** The route table (for the access tests and the docs). */
    public List<Route> routes() {
        return routes;
    }

    /** The address it serves, for example {@code http://127.0.0.1:8080/}. */
    public String url() {
        return url;
    }

    @Override
    public void close() {
        app.stop();
    }

    // ------------------------------------------------------------ the table

    /** Every route of the app, with the roles allowed. */
    static List<Route> table(Pages p, Api a) {
        Set<Role> any = Route.anyone();
        Set<Role> admin = EnumSet.of(Role.ADMIN);
        Set<Role> labellers = EnumSet.of(Role.ADMIN, Role.ANNOTATOR);
        Set<Role> watchers = EnumSet.of(Role.ADMIN, Role.VIEWER);
        Set<Role> none = Set.of();
        List<Route> t = new ArrayList<>();
        // pages
        t.add(new Route(GET, "/", PUBLIC, none, p::root));
        t.add(new Route(GET, "/login", PUBLIC, none, p::loginForm));
        t.add(new Route(POST, "/login", PUBLIC, none, p::login));
        t.add(new Route(GET, "/invite/{token}", PUBLIC, none, p::invitationForm));
        t.add(new Route(POST, "/invite/{token}", PUBLIC, none, p::acceptInvitation));
        t.add(new Route(POST, "/logout", PAGE, any, p::logout));
        t.add(new Route(GET, "/projects", PAGE, any, p::projects));
        t.add(new Route(POST, "/projects", PAGE, admin, p::createProject));
        t.add(new Route(GET, "/projects/{id}", PAGE, any, p::project));
        t.add(new Route(POST, "/projects/{id}/settings", PAGE, admin, p::updateSettings));
        t.add(new Route(POST, "/projects/{id}/import", PAGE, admin, p::importItems));
        t.add(new Route(POST, "/projects/{id}/generate", PAGE, admin, p::generate));
        t.add(new Route(GET, "/projects/{id}/jobs", PAGE, watchers, p::jobs));
        t.add(new Route(GET, "/projects/{id}/export", PAGE, admin, p::export));
        t.add(new Route(GET, "/projects/{id}/quality", PAGE, watchers, p::quality));
        t.add(new Route(GET, "/projects/{id}/labels", PAGE, admin, p::labels));
        t.add(new Route(GET, "/projects/{id}/label", PAGE, labellers, p::labelPage));
        t.add(new Route(POST, "/projects/{id}/label", PAGE, labellers, p::submitLabel));
        t.add(new Route(POST, "/projects/{id}/skip", PAGE, labellers, p::skip));
        t.add(new Route(GET, "/users", PAGE, admin, p::users));
        t.add(new Route(POST, "/users/invite", PAGE, admin, p::invite));
        t.add(new Route(POST, "/users/{id}", PAGE, admin, p::changeUser));
        t.add(new Route(GET, "/audit", PAGE, admin, p::audit));
        t.add(new Route(GET, "/account", PAGE, any, p::account));
        t.add(new Route(POST, "/account/password", PAGE, any, p::changePassword));
        t.add(new Route(POST, "/account/tokens", PAGE, any, p::createToken));
        t.add(new Route(POST, "/account/tokens/{id}/revoke", PAGE, any, p::revokeToken));
        // the JSON API (the design's table)
        t.add(new Route(POST, "/api/session", PUBLIC, none, a::session));
        t.add(new Route(POST, "/api/invitations/{token}/accept", PUBLIC, none, a::acceptInvitation));
        t.add(new Route(GET, "/api/me", API, any, a::me));
        t.add(new Route(POST, "/api/tokens", API, any, a::createToken));
        t.add(new Route(DELETE, "/api/tokens/{id}", API, any, a::revokeToken));
        t.add(new Route(POST, "/api/invitations", API, admin, a::invite));
        t.add(new Route(GET, "/api/users", API, admin, a::users));
        t.add(new Route(PUT, "/api/users/{id}", API, admin, a::changeUser));
        t.add(new Route(GET, "/api/audit", API, admin, a::audit));
        t.add(new Route(GET, "/api/projects", API, any, a::projects));
        t.add(new Route(POST, "/api/projects", API, admin, a::createProject));
        t.add(new Route(GET, "/api/projects/{id}", API, any, a::project));
        t.add(new Route(PUT, "/api/projects/{id}", API, admin, a::updateProject));
        t.add(new Route(POST, "/api/projects/{id}/items", API, admin, a::addItems));
        t.add(new Route(GET, "/api/projects/{id}/items", API, admin, a::items));
        t.add(new Route(POST, "/api/projects/{id}/items/close", API, admin, a::closeItems));
        t.add(new Route(POST, "/api/projects/{id}/generate", API, admin, a::generate));
        t.add(new Route(GET, "/api/projects/{id}/jobs", API, watchers, a::jobs));
        t.add(new Route(GET, "/api/projects/{id}/next", API, labellers, a::next));
        t.add(new Route(POST, "/api/items/{id}/label", API, labellers, a::label));
        t.add(new Route(POST, "/api/items/{id}/skip", API, labellers, a::skip));
        t.add(new Route(GET, "/api/projects/{id}/labels", API, labellers, a::labels));
        t.add(new Route(GET, "/api/projects/{id}/quality", API, watchers, a::quality));
        t.add(new Route(GET, "/api/projects/{id}/export", API, admin, a::export));
        return List.copyOf(t);
    }

    // ------------------------------------------------------------ the access check

    /** Identifies the caller as the route says, checks the role (and CSRF for pages), then runs the handler. */
    private static void guard(Route r, Auth auth, Pages pages, Context ctx) {
        try {
            switch (r.access()) {
                case PUBLIC -> {
                    if (r.changesState() && !r.path().startsWith("/api/")) {
                        auth.checkPreSessionCsrf(ctx);
                    }
                }
                case PAGE -> {
                    Session s = auth.session(ctx).orElseThrow(() -> new HttpError(401, "Please sign in."));
                    allow(r, s.user());
                    if (r.changesState()) {
                        auth.checkCsrf(ctx, s);
                    }
                }
                case API -> allow(r, auth.bearer(ctx).orElseThrow(() ->
                        new HttpError(401, "an API token is required (Authorization: Bearer TOKEN)")));
            }
            r.handler().handle(ctx);
        } catch (Exception e) {
            fail(r, pages, ctx, e);
        }
    }

    private static void allow(Route r, User u) {
        if (!r.roles().contains(u.role())) {
            throw new HttpError(403, "a " + u.role().wireName() + " may not do this");
        }
    }

    /** Answers a failed request: JSON {"error"} under /api, an error page elsewhere. */
    private static void fail(Route r, Pages pages, Context ctx, Exception e) {
        int status;
        String message = e.getMessage();
        long retryAfter = 0;
        if (e instanceof HttpError h) {
            status = h.status();
            retryAfter = h.retryAfterSeconds();
        } else if (e instanceof StoreConflict) {
            status = 409;
        } else if (e instanceof IllegalArgumentException || e instanceof UserError) {
            status = 400;
        } else if (e instanceof HttpResponseException h) {
            status = h.getStatus();
        } else {
            LOG.error("{} {} failed", ctx.method(), ctx.path(), e);
            status = 500;
            message = "internal error (see the server's log)";
        }
        if (retryAfter > 0) {
            ctx.header("Retry-After", Long.toString(retryAfter));
        }
        if (r.access() == API || r.path().startsWith("/api/") || r.path().endsWith("/jobs")) {
            Json.send(ctx, status, Map.of("error", message == null ? "error" : message));
        } else {
            pages.error(ctx, status, message);
        }
    }

    private static void securityHeaders(Context ctx) {
        ctx.header("Content-Security-Policy", CSP);
        ctx.header("X-Content-Type-Options", "nosniff");
        ctx.header("Referrer-Policy", "no-referrer");
        ctx.header("X-Frame-Options", "DENY");
        if (!ctx.path().startsWith("/static/")) {
            ctx.header("Cache-Control", "no-store");
        }
    }
}
