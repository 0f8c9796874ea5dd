package dev.rlhf4j.feedback.web;

import dev.rlhf4j.feedback.auth.Passwords;
import dev.rlhf4j.feedback.auth.Tokens;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Session;
import dev.rlhf4j.feedback.store.User;
import io.javalin.http.Context;

import java.net.URI;
import java.util.Optional;

/**
 * Who is calling: browser sessions (cookie, CSRF token), API tokens (Bearer), and the checks of a password.
 *
 * <p>Sessions: the cookie holds a random token whose SHA-256 the store keeps with the user, the session's CSRF
 * token and its expiry ({@link #SESSION_MILLIS}). Every sign-in makes a new token and deletes the one the browser
 * had (so a token planted before sign-in never becomes a signed-in one: session fixation); signing out deletes it.
 */
final class Auth {
    static final String SESSION_COOKIE = "rlhf4j_session";
    /** The pre-session CSRF cookie of the sign-in and invitation forms (see {@link #checkPreSessionCsrf}). */
    static final String PRE_SESSION_COOKIE = "rlhf4j_presession";
    static final String CSRF_FIELD = "_csrf";
    static final String CSRF_HEADER = "X-CSRF-Token";
    static final long SESSION_MILLIS = 12 * 3600 * 1000L;

    private static final String SESSION_ATTRIBUTE = "rlhf4j.session";
    private static final String USER_ATTRIBUTE = "rlhf4j.user";

    private final FeedbackStore store;
    private final boolean secureCookies;
    private final String publicOrigin;
    final LoginThrottle throttle = new LoginThrottle();

    Auth(FeedbackStore store, boolean secureCookies, String publicUrl) {
        this.store = store;
        this.secureCookies = secureCookies;
        this.publicOrigin = publicUrl == null || publicUrl.isBlank() ? null : origin(publicUrl);
    }

    // ------------------------------------------------------------ who is calling

    /** The live session the request's cookie names, if any (looked up once per request). */
    Optional<Session> session(Context ctx) {
        Session cached = ctx.attribute(SESSION_ATTRIBUTE);
        if (cached != null) {
            return Optional.of(cached);
        }
        String token = ctx.cookie(SESSION_COOKIE);
        if (token == null || token.isEmpty() || token.length() > 100) {
            return Optional.empty();
        }
        Optional<Session> s = store.session(Tokens.hash(token));
        s.ifPresent(x -> {
            ctx.attribute(SESSION_ATTRIBUTE, x);
            ctx.attribute(USER_ATTRIBUTE, x.user());
        });
        return s;
    }

    /** The user of an {@code Authorization: Bearer} API token, if valid. */
    Optional<User> bearer(Context ctx) {
        String h = ctx.header("Authorization");
        if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return Optional.empty();
        }
        String token = h.substring(7).strip();
        if (token.isEmpty() || token.length() > 100) {
            return Optional.empty();
        }
        Optional<User> u = store.userForApiToken(Tokens.hash(token));
        u.ifPresent(x -> ctx.attribute(USER_ATTRIBUTE, x));
        return u;
    }

    /** The user the access check let in. */
    static User user(Context ctx) {
        User u = ctx.attribute(USER_ATTRIBUTE);
        if (u == null) {
            throw new HttpError(401, "sign in first");
        }
        return u;
    }

    /** The session the access check let in (pages only). */
    static Session currentSession(Context ctx) {
        Session s = ctx.attribute(SESSION_ATTRIBUTE);
        if (s == null) {
            throw new HttpError(401, "sign in first");
        }
        return s;
    }

    // ------------------------------------------------------------ passwords

    /**
     * The enabled user with this name and password, after taking a try from the throttle (429 when spent). An
     * unknown name is checked against a decoy hash, so it costs the same time as a known one.
     */
    Optional<User> checkPassword(Context ctx, String name, String password) {
        LoginThrottle.Attempt attempt = throttle.acquire(name, ctx.ip());
        Optional<FeedbackStore.Credentials> c = name == null ? Optional.empty() : store.credentials(name);
        boolean ok = Passwords.matches(password, c.map(FeedbackStore.Credentials::passwordHash)
                .orElse(Passwords.decoy()));
        if (c.isEmpty() || !ok || c.get().user().disabled()) {
            return Optional.empty();
        }
        throttle.succeeded(attempt);
        return Optional.of(c.get().user());
    }

    // ------------------------------------------------------------ sessions

    /** Signs {@code user} in: deletes the browser's old session, if any, and sets a new session cookie. */
    Session signIn(Context ctx, User user) {
        String old = ctx.cookie(SESSION_COOKIE);
        if (old != null && !old.isEmpty() && old.length() <= 100) {
            store.deleteSession(Tokens.hash(old));
        }
        String token = Tokens.newToken();
        String csrf = Tokens.newToken();
        long expires = store.now() + SESSION_MILLIS;
        store.createSession(Tokens.hash(token), user.id(), csrf, expires);
        setCookie(ctx, SESSION_COOKIE, token, (int) (SESSION_MILLIS / 1000));
        setCookie(ctx, PRE_SESSION_COOKIE, "", 0);
        Session s = new Session(user, csrf, expires);
        ctx.attribute(SESSION_ATTRIBUTE, s);
        ctx.attribute(USER_ATTRIBUTE, user);
        return s;
    }

    /** Deletes the request's session and clears the cookie. */
    void signOut(Context ctx) {
        String token = ctx.cookie(SESSION_COOKIE);
        if (token != null && !token.isEmpty() && token.length() <= 100) {
            store.deleteSession(Tokens.hash(token));
        }
        setCookie(ctx, SESSION_COOKIE, "", 0);
    }

    void setCookie(Context ctx, String name, String value, int maxAgeSeconds) {
        // written by hand: SameSite=Strict keeps the cookie off every cross-site request (a first CSRF barrier)
        ctx.res().addHeader("Set-Cookie", name + "=" + value + "; Path=/; Max-Age=" + maxAgeSeconds
                + "; HttpOnly; SameSite=Strict" + (secureCookies ? "; Secure" : ""));
    }

    // ------------------------------------------------------------ CSRF

    /**
     * Refuses (403) a state-changing request of a session without the session's CSRF token, in the form field
     * {@code _csrf} or the header {@code X-CSRF-Token}, or one sent from another site.
     */
    void checkCsrf(Context ctx, Session s) {
        checkOrigin(ctx);
        String sent = ctx.header(CSRF_HEADER);
        if (sent == null) {
            sent = formField(ctx, CSRF_FIELD);
        }
        if (!Tokens.same(sent, s.csrfToken())) {
            throw new HttpError(403, "the form is stale or forged (CSRF token missing or wrong): reload the page");
        }
    }

    /**
     * The sign-in and invitation forms are sent before there is a session, so there is no session token to check.
     * They use a double-submit token instead: the page sets a random value in an HttpOnly, SameSite=Strict cookie
     * and in the form's {@code _csrf} field, and the post must bring both, equal. Another site can neither read the
     * cookie nor make the browser send it (SameSite=Strict), so it cannot forge the pair; the Origin check below
     * refuses what a browser marks as cross-site. This stops login CSRF (signing a victim into the attacker's
     * account).
     */
    void checkPreSessionCsrf(Context ctx) {
        checkOrigin(ctx);
        String cookie = ctx.cookie(PRE_SESSION_COOKIE);
        String field = formField(ctx, CSRF_FIELD);
        if (cookie == null || cookie.isEmpty() || !Tokens.same(cookie, field)) {
            throw new HttpError(403, "the form is stale (CSRF token missing or wrong): reload the page");
        }
    }

    /** A fresh pre-session token, set in its cookie; the page puts it in the form. */
    String newPreSessionToken(Context ctx) {
        String t = Tokens.newToken();
        setCookie(ctx, PRE_SESSION_COOKIE, t, 3600);
        return t;
    }

    /**
     * Refuses a request a browser says comes from another site: an {@code Origin} header other than this server's
     * (its Host, or the public URL), or a {@code Sec-Fetch-Site} other than same-origin (or none: typed by the
     * person). {@code Origin: null} is no verdict: browsers send it for every form post of a page served with
     * {@code Referrer-Policy: no-referrer}, as these pages are, so Sec-Fetch-Site decides then. Old browsers send
     * neither; the CSRF token is the defence that does not depend on them.
     */
    void checkOrigin(Context ctx) {
        String origin = ctx.header("Origin");
        if (origin != null && !origin.equals("null")) {
            String host = ctx.header("Host");
            if (!origin.equals(publicOrigin) && !sameHost(origin, host)) {
                throw new HttpError(403, "cross-site request refused");
            }
        }
        String site = ctx.header("Sec-Fetch-Site");
        if (site != null && !site.equals("same-origin") && !site.equals("none")) {
            throw new HttpError(403, "cross-site request refused");
        }
    }

    /** An Origin of http or https with exactly the request's Host (a TLS proxy in front changes the scheme). */
    private static boolean sameHost(String origin, String host) {
        return host != null && (origin.equals("http://" + host) || origin.equals("https://" + host));
    }

    private static String formField(Context ctx, String name) {
        String ct = ctx.contentType();
        if (ct == null || !(ct.startsWith("application/x-www-form-urlencoded") || ct.startsWith("multipart/"))) {
            return null;
        }
        return ctx.formParam(name);
    }

    private static String origin(String url) {
        URI u = URI.create(url);
        return u.getScheme() + "://" + u.getRawAuthority();
    }
}
