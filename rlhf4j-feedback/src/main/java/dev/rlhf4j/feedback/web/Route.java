package dev.rlhf4j.feedback.web;

import dev.rlhf4j.feedback.store.Role;
import io.javalin.http.Handler;
import io.javalin.http.HandlerType;

import java.util.EnumSet;
import java.util.Set;

/**
 * One row of the route table: method, path, who may call it and how they prove it, and the handler. Every route of
 * the app is registered from this table through one access check ({@link FeedbackServer}), so a route cannot exist
 * without its roles.
 *
 * @param access how the caller is identified: nobody ({@link Access#PUBLIC}), the session cookie (a page or a
 *               page's JSON), or a Bearer API token (under {@code /api})
 * @param roles  the roles allowed (empty for public routes)
 */
public record Route(HandlerType method, String path, Access access, Set<Role> roles, Handler handler) {
    /** How a route's caller is identified. */
    public enum Access {
        /** Anyone; forms among them carry a pre-session CSRF token (sign in, accept an invitation). */
        PUBLIC,
        /** A browser session (cookie {@code rlhf4j_session}); state-changing requests need the CSRF token. */
        PAGE,
        /** An API token ({@code Authorization: Bearer}); cookies are not looked at. */
        API
    }

    public Route {
        roles = roles.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(roles));
        if (access == Access.PUBLIC && !roles.isEmpty() || access != Access.PUBLIC && roles.isEmpty()) {
            throw new IllegalArgumentException(method + " " + path + ": public routes have no roles, others some");
        }
    }

    /** Whether the request changes state (needs CSRF protection when it comes with a cookie). */
    public boolean changesState() {
        return method != HandlerType.GET && method != HandlerType.HEAD && method != HandlerType.OPTIONS;
    }

    /** All three roles. */
    static Set<Role> anyone() {
        return EnumSet.allOf(Role.class);
    }
}
