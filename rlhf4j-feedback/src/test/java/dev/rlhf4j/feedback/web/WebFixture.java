package dev.rlhf4j.feedback.web;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.feedback.auth.Passwords;
import dev.rlhf4j.feedback.auth.Tokens;
import dev.rlhf4j.feedback.generate.ResponseSampler;
import dev.rlhf4j.feedback.store.Database;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.User;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * A real server on a free port over a SQLite store in a temporary folder, three people (admin, annotator, viewer,
 * each with {@link #PASSWORD}), and an HTTP client that sends cookies and headers exactly as told (no cookie jar,
 * no redirects followed).
 */
final class WebFixture implements AutoCloseable {
    static final String PASSWORD = "correct horse battery";
    static final ObjectMapper JSON = new ObjectMapper();

    final Database db;
    final FeedbackStore store;
    final ResponseSampler sampler;
    final FeedbackServer server;
    final HttpClient http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).build();
    final User admin;
    final User annotator;
    final User viewer;

    WebFixture(Path dir) {
        db = Database.sqlite(dir);
        store = new FeedbackStore(db);
        sampler = new ResponseSampler(store);
        String hash = Passwords.hash(PASSWORD);
        admin = store.createUser("admin", hash, Role.ADMIN);
        annotator = store.createUser("ann", hash, Role.ANNOTATOR);
        viewer = store.createUser("vic", hash, Role.VIEWER);
        server = FeedbackServer.start(store, sampler, new FeedbackServer.Config("127.0.0.1", 0, false, null));
    }

    User user(Role r) {
        return switch (r) {
            case ADMIN -> admin;
            case ANNOTATOR -> annotator;
            case VIEWER -> viewer;
        };
    }

    /** A browser session made in the store (as a sign-in would): the cookie value and the CSRF token. */
    record Browser(String cookie, String csrf) {
        String header() {
            return Auth.SESSION_COOKIE + "=" + cookie;
        }
    }

    Browser session(User u) {
        String token = Tokens.newToken();
        String csrf = Tokens.newToken();
        store.createSession(Tokens.hash(token), u.id(), csrf, store.now() + Auth.SESSION_MILLIS);
        return new Browser(token, csrf);
    }

    String apiToken(User u) {
        String token = Tokens.newToken();
        store.createApiToken(u.id(), "test", Tokens.hash(token));
        return token;
    }

    URI uri(String path) {
        return URI.create(server.url() + (path.startsWith("/") ? path.substring(1) : path));
    }

    HttpResponse<String> send(HttpRequest.Builder b) {
        try {
            return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    HttpResponse<String> get(String path, Browser b) {
        HttpRequest.Builder r = HttpRequest.newBuilder(uri(path)).GET();
        if (b != null) {
            r.header("Cookie", b.header());
        }
        return send(r);
    }

    /** A form post; {@code cookies} is the whole Cookie header (null for none). */
    HttpResponse<String> postForm(String path, String cookies, Map<String, String> fields, String... headers) {
        HttpRequest.Builder r = HttpRequest.newBuilder(uri(path))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString(form(fields)));
        if (cookies != null) {
            r.header("Cookie", cookies);
        }
        if (headers.length > 0) {
            r.headers(headers);
        }
        return send(r);
    }

    /** A form post of a signed-in browser with its CSRF token. */
    HttpResponse<String> postPage(String path, Browser b, Map<String, String> fields) {
        Map<String, String> f = new LinkedHashMap<>(fields);
        f.put(Auth.CSRF_FIELD, b.csrf());
        return postForm(path, b.header(), f);
    }

    HttpResponse<String> api(String method, String path, String token, String json) {
        HttpRequest.Builder r = HttpRequest.newBuilder(uri(path)).method(method, json == null
                ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(json));
        if (json != null) {
            r.header("Content-Type", "application/json");
        }
        if (token != null) {
            r.header("Authorization", "Bearer " + token);
        }
        return send(r);
    }

    static JsonNode json(HttpResponse<String> r) {
        try {
            return JSON.readTree(r.body());
        } catch (IOException e) {
            throw new IllegalStateException(r.body(), e);
        }
    }

    static String form(Map<String, String> fields) {
        return fields.entrySet().stream().map(e -> URLEncoder.encode(e.getKey(), StandardCharsets.UTF_8) + "="
                + URLEncoder.encode(e.getValue(), StandardCharsets.UTF_8)).collect(Collectors.joining("&"));
    }

    /** The value of a Set-Cookie of the answer, if it sets {@code name}. */
    static Optional<String> setCookie(HttpResponse<?> r, String name) {
        for (String h : r.headers().allValues("Set-Cookie")) {
            if (h.startsWith(name + "=")) {
                return Optional.of(h.substring(name.length() + 1, h.indexOf(';')));
            }
        }
        return Optional.empty();
    }

    /** The value attribute of the input with this name (first one). */
    static String inputValue(String html, String name) {
        Matcher m = Pattern.compile("name=\"" + Pattern.quote(name) + "\"[^>]*value=\"([^\"]*)\"").matcher(html);
        if (!m.find()) {
            throw new AssertionError("no input " + name + " in:\n" + html);
        }
        return m.group(1);
    }

    @Override
    public void close() {
        server.close();
        sampler.close();
        db.close();
    }
}
