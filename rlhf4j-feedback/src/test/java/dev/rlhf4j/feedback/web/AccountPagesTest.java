package dev.rlhf4j.feedback.web;

import dev.rlhf4j.feedback.store.FeedbackStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The account page: a new password ends the other sessions; API tokens are shown once and can be revoked. */
class AccountPagesTest {
    @Test
    void aNewPasswordNeedsTheCurrentOneAndSignsOutTheOtherSessions(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            WebFixture.Browser here = f.session(f.annotator);
            WebFixture.Browser elsewhere = f.session(f.annotator);
            String next = "a brand new passphrase";
            assertEquals(400, f.postPage("/account/password", here, Map.of("current_password", "not it",
                    "new_password", next)).statusCode());
            HttpResponse<String> changed = f.postPage("/account/password", here, Map.of("current_password",
                    WebFixture.PASSWORD, "new_password", next));
            assertEquals(200, changed.statusCode());
            String cookie = WebFixture.setCookie(changed, Auth.SESSION_COOKIE).orElseThrow();
            assertNotEquals(here.cookie(), cookie);
            assertEquals(401, f.get("/projects", elsewhere).statusCode());
            assertEquals(401, f.get("/projects", here).statusCode());
            assertEquals(200, f.get("/projects", new WebFixture.Browser(cookie, "")).statusCode());
            assertEquals(401, f.api("POST", "/api/session", null, "{\"name\":\"ann\",\"password\":\""
                    + WebFixture.PASSWORD + "\"}").statusCode());
            assertEquals(200, f.api("POST", "/api/session", null, "{\"name\":\"ann\",\"password\":\"" + next
                    + "\"}").statusCode());
        }
    }

    @Test
    void anApiTokenIsShownOnceAndRevokedFromThePage(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            WebFixture.Browser b = f.session(f.viewer);
            HttpResponse<String> made = f.postPage("/account/tokens", b, Map.of("name", "my script"));
            assertEquals(200, made.statusCode());
            Matcher m = Pattern.compile("id=\"new-token\" value=\"([A-Za-z0-9_-]{43})\"").matcher(made.body());
            assertTrue(m.find(), made.body());
            String token = m.group(1);
            assertEquals("vic", WebFixture.json(f.api("GET", "/api/me", token, null)).get("name").asText());
            String list = f.get("/account", b).body();
            assertTrue(list.contains("my script") && !list.contains(token), "listed, never shown again");
            FeedbackStore.ApiToken t = f.store.apiTokens(f.viewer.id()).get(0);
            // someone else cannot revoke it
            assertEquals(404, f.postPage("/account/tokens/" + t.id() + "/revoke", f.session(f.annotator), Map.of())
                    .statusCode());
            assertEquals(200, f.api("GET", "/api/me", token, null).statusCode());
            assertEquals(303, f.postPage("/account/tokens/" + t.id() + "/revoke", b, Map.of()).statusCode());
            assertEquals(401, f.api("GET", "/api/me", token, null).statusCode());
        }
    }
}
