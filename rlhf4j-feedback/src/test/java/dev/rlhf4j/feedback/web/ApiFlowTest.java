package dev.rlhf4j.feedback.web;

import com.fasterxml.jackson.databind.JsonNode;
import dev.rlhf4j.feedback.store.Flag;
import dev.rlhf4j.feedback.store.Label;
import dev.rlhf4j.feedback.store.NewItem;
import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.Verdict;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The whole labelling flow through the JSON API, as a script would drive it. */
class ApiFlowTest {
    @Test
    void aBodyOverTheLimitIsRefusedWith413AndAddsNothing(@TempDir Path dir) throws Exception {
        try (WebFixture f = new WebFixture(dir)) {
            String admin = f.apiToken(f.user(Role.ADMIN));
            long p = createProject(f, admin, "{\"name\":\"big\",\"task_type\":\"demonstration\",\"overlap\":0}");
            String prompt = "x".repeat(1 << 20);
            StringBuilder body = new StringBuilder("{\"items\":[");
            for (long bytes = 0; bytes <= FeedbackServer.MAX_JSON_BYTES; bytes += prompt.length()) {
                body.append(bytes == 0 ? "" : ",").append("{\"prompt\":\"").append(prompt).append("\"}");
            }
            body.append("]}");
            assertEquals(413, f.api("POST", "/api/projects/" + p + "/items", admin, body.toString()).statusCode());
            assertEquals(0, f.store.items(p).size());
            // one under the limit is taken
            String small = "{\"items\":[{\"prompt\":\"" + prompt + "\"}]}";
            assertEquals(200, f.api("POST", "/api/projects/" + p + "/items", admin, small).statusCode());
            assertEquals(1, f.store.items(p).size());
        }
    }

    @Test
    void anInvitedAnnotatorLabelsEveryKindOnceAndSeesOnlyTheirOwnLabels(@TempDir Path dir) throws Exception {
        try (WebFixture f = new WebFixture(dir)) {
            // the admin signs in through the API
            HttpResponse<String> session = f.api("POST", "/api/session", null,
                    "{\"name\":\"admin\",\"password\":\"" + WebFixture.PASSWORD + "\"}");
            assertEquals(200, session.statusCode(), session.body());
            String admin = WebFixture.json(session).get("token").asText();
            assertEquals("admin", WebFixture.json(f.api("GET", "/api/me", admin, null)).get("role").asText());
            assertEquals(401, f.api("POST", "/api/session", null,
                    "{\"name\":\"admin\",\"password\":\"not the password\"}").statusCode());

            long cmp = createProject(f, admin, "{\"name\":\"cmp\",\"task_type\":\"comparison\",\"overlap\":0,"
                    + "\"guidelines\":\"# Be kind\"}");
            long rank = createProject(f, admin, "{\"name\":\"rank\",\"task_type\":\"ranking\","
                    + "\"responses_per_item\":3,\"overlap\":0}");
            long demo = createProject(f, admin, "{\"name\":\"demo\",\"task_type\":\"demonstration\",\"overlap\":0}");
            JsonNode got = WebFixture.json(f.api("GET", "/api/projects/" + rank, admin, null));
            assertEquals(3, got.get("responses_per_item").asInt());
            assertEquals(0, got.get("counts").get("items").asInt());
            assertEquals(409, f.api("POST", "/api/projects", admin, "{\"name\":\"cmp\",\"task_type\":\"comparison\"}")
                    .statusCode());
            assertEquals(400, f.api("POST", "/api/projects", admin, "{\"name\":\"x\",\"task_type\":\"poll\"}")
                    .statusCode());
            f.store.addItems(cmp, List.of(NewItem.of("q1", "a1", "b1"), NewItem.of("q2", "a2", "b2")));
            f.store.addItems(rank, List.of(NewItem.of("r1", "x", "y", "z")));
            f.store.addItems(demo, List.of(NewItem.of("d1")));

            // an invitation, accepted once
            JsonNode inv = WebFixture.json(f.api("POST", "/api/invitations", admin, "{\"role\":\"annotator\"}"));
            assertTrue(inv.get("url").asText().startsWith(f.server.url() + "invite/"));
            String accept = "/api/invitations/" + inv.get("token").asText() + "/accept";
            HttpResponse<String> joined = f.api("POST", accept, null,
                    "{\"name\":\"bob\",\"password\":\"" + WebFixture.PASSWORD + "\"}");
            assertEquals(200, joined.statusCode(), joined.body());
            assertEquals("annotator", WebFixture.json(joined).get("user").get("role").asText());
            String bob = WebFixture.json(joined).get("token").asText();
            assertEquals(409, f.api("POST", accept, null, "{\"name\":\"eve\",\"password\":\""
                    + WebFixture.PASSWORD + "\"}").statusCode());

            // comparison: stored once however often it is sent
            JsonNode task = WebFixture.json(f.api("GET", "/api/projects/" + cmp + "/next", bob, null));
            assertEquals("comparison", task.get("kind").asText());
            long item = task.get("item_id").asLong();
            long left = task.get("responses").get(0).get("id").asLong();
            long right = task.get("responses").get(1).get("id").asLong();
            String body = "{\"request_id\":\"bob-1\",\"verdict\":\"better\",\"left\":" + left + ",\"right\":" + right
                    + ",\"chosen\":" + right + ",\"strength\":2,\"flags\":[\"untruthful\"],\"note\":\"close call\"}";
            JsonNode first = WebFixture.json(f.api("POST", "/api/items/" + item + "/label", bob, body));
            JsonNode again = WebFixture.json(f.api("POST", "/api/items/" + item + "/label", bob, body));
            assertFalse(first.get("repeated").asBoolean());
            assertTrue(again.get("repeated").asBoolean());
            assertEquals(first.get("label_id").asLong(), again.get("label_id").asLong());
            List<Label> stored = f.store.labels(cmp);
            assertEquals(1, stored.size());
            Label l = stored.get(0);
            assertEquals(List.of(left, right, right, 2L), List.of(l.leftResponseId(), l.rightResponseId(),
                    l.chosenResponseId(), (long) l.strength()));
            assertEquals(Verdict.BETTER, l.verdict());
            assertEquals(Set.of(Flag.UNTRUTHFUL), l.flags());
            assertEquals("close call", l.note());
            // a second label of the same item by the same person is a conflict, a bad verdict a bad request
            assertEquals(409, f.api("POST", "/api/items/" + item + "/label", bob, body.replace("bob-1", "bob-2"))
                    .statusCode());
            long item2 = WebFixture.json(f.api("GET", "/api/projects/" + cmp + "/next", bob, null)).get("item_id")
                    .asLong();
            assertEquals(400, f.api("POST", "/api/items/" + item2 + "/label", bob,
                    "{\"request_id\":\"x\",\"verdict\":\"maybe\",\"left\":1,\"right\":2}").statusCode());
            assertEquals(204, f.api("POST", "/api/items/" + item2 + "/skip", bob, null).statusCode());

            // ranking: best first, with the order shown
            JsonNode rt = WebFixture.json(f.api("GET", "/api/projects/" + rank + "/next", bob, null));
            List<Long> shown = new ArrayList<>();
            rt.get("responses").forEach(r -> shown.add(r.get("id").asLong()));
            assertEquals(3, shown.size());
            List<Long> best = List.of(shown.get(2), shown.get(0), shown.get(1));
            JsonNode rl = WebFixture.json(f.api("POST", "/api/items/" + rt.get("item_id").asLong() + "/label", bob,
                    "{\"request_id\":\"bob-r\",\"ranking\":" + best + ",\"display_order\":" + shown + "}"));
            assertFalse(rl.get("repeated").asBoolean());
            assertEquals(best, f.store.labels(rank).get(0).ranking());
            assertEquals(shown, f.store.labels(rank).get(0).displayOrder());
            assertEquals(204, f.api("GET", "/api/projects/" + rank + "/next", bob, null).statusCode());

            // demonstration
            JsonNode dt = WebFixture.json(f.api("GET", "/api/projects/" + demo + "/next", bob, null));
            assertEquals("d1", dt.get("prompt").asText());
            assertEquals(0, dt.get("responses").size());
            assertEquals(200, f.api("POST", "/api/items/" + dt.get("item_id").asLong() + "/label", bob,
                    "{\"request_id\":\"bob-d\",\"demonstration\":\"Here is how.\"}").statusCode());
            assertEquals("Here is how.", f.store.labels(demo).get(0).demonstration());

            // another annotator labels too; bob sees only his labels, the admin all
            String ann = f.apiToken(f.annotator);
            JsonNode at = WebFixture.json(f.api("GET", "/api/projects/" + cmp + "/next", ann, null));
            assertEquals(200, f.api("POST", "/api/items/" + at.get("item_id").asLong() + "/label", ann,
                    "{\"request_id\":\"ann-1\",\"verdict\":\"tie\",\"left\":" + at.get("responses").get(0).get("id")
                            + ",\"right\":" + at.get("responses").get(1).get("id") + "}").statusCode());
            JsonNode bobs = WebFixture.json(f.api("GET", "/api/projects/" + cmp + "/labels", bob, null));
            assertEquals(1, bobs.size());
            assertEquals("bob-1", bobs.get(0).get("request_id").asText());
            assertEquals(2, WebFixture.json(f.api("GET", "/api/projects/" + cmp + "/labels", admin, null)).size());

            // a viewer sees projects but neither labels nor a queue
            String vic = f.apiToken(f.viewer);
            assertEquals(200, f.api("GET", "/api/projects", vic, null).statusCode());
            assertEquals(403, f.api("GET", "/api/projects/" + cmp + "/next", vic, null).statusCode());
            assertEquals(403, f.api("POST", "/api/items/" + item2 + "/label", vic,
                    "{\"request_id\":\"v\",\"verdict\":\"tie\",\"left\":" + left + ",\"right\":" + right + "}")
                    .statusCode());
            assertEquals(403, f.api("GET", "/api/projects/" + cmp + "/labels", vic, null).statusCode());
            assertEquals(2, f.store.labels(cmp).size(), "the viewer's label was not stored");
            assertEquals(404, f.api("GET", "/api/projects/99999", vic, null).statusCode());

            // tokens: made and revoked by their owner only
            JsonNode t = WebFixture.json(f.api("POST", "/api/tokens", bob, "{\"name\":\"script\"}"));
            String script = t.get("token").asText();
            assertEquals(200, f.api("GET", "/api/me", script, null).statusCode());
            assertEquals(404, f.api("DELETE", "/api/tokens/" + t.get("id").asLong(), ann, null).statusCode());
            assertEquals(204, f.api("DELETE", "/api/tokens/" + t.get("id").asLong(), bob, null).statusCode());
            assertEquals(401, f.api("GET", "/api/me", script, null).statusCode());

            // disabling bob revokes his tokens; the audit log has the admin's actions, newest first
            long bobId = WebFixture.json(joined).get("user").get("id").asLong();
            JsonNode changed = WebFixture.json(f.api("PUT", "/api/users/" + bobId, admin, "{\"disabled\":true}"));
            assertTrue(changed.get("disabled").asBoolean());
            assertEquals(401, f.api("GET", "/api/me", bob, null).statusCode());
            List<String> actions = new ArrayList<>();
            WebFixture.json(f.api("GET", "/api/audit?limit=10", admin, null))
                    .forEach(a -> actions.add(a.get("action").asText()));
            assertEquals(List.of("disable", "invite", "project.create", "project.create", "project.create"),
                    actions);
        }
    }

    @Test
    void itemsPushedUnderTheirOwnIdsAreAddedOnceAndFoundAgainWithTheirLabelsByIdPrefix(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            String admin = f.apiToken(f.admin);
            String ann = f.apiToken(f.annotator);
            long p = createProject(f, admin, "{\"name\":\"loop\",\"task_type\":\"comparison\",\"overlap\":0}");
            String push = "{\"items\":[{\"id\":\"r1-0\",\"prompt\":\"q0\",\"responses\":[\"a0\",\"b0\"]},"
                    + "{\"id\":\"r1-1\",\"prompt\":\"q1\",\"responses\":[\"a1\",\"b1\"]},"
                    + "{\"id\":\"r10-0\",\"prompt\":\"q10\",\"responses\":[\"a10\",\"b10\"]}]}";
            JsonNode first = WebFixture.json(f.api("POST", "/api/projects/" + p + "/items", admin, push));
            assertEquals(3, first.get("added").asInt());
            // the same push again (a loop resumed after a crash) adds nothing, whatever the items now say
            JsonNode again = WebFixture.json(f.api("POST", "/api/projects/" + p + "/items", admin,
                    push.replace("q0", "changed")));
            assertEquals(0, again.get("added").asInt());
            assertEquals(3, f.store.items(p).size());

            // the prefix is a prefix of characters: "r1-" is not "r10-", and '_' or '%' are no wildcards, nor is
            // case ignored
            JsonNode round1 = WebFixture.json(f.api("GET", "/api/projects/" + p + "/items?external_id_prefix=r1-",
                    admin, null));
            List<String> ids = new ArrayList<>();
            round1.forEach(i -> ids.add(i.get("external_id").asText()));
            assertEquals(List.of("r1-0", "r1-1"), ids);
            JsonNode r0 = round1.get(0);
            assertEquals("q0", r0.get("prompt").asText());
            assertEquals(1, r0.get("replicas").asInt());
            assertEquals("a0", r0.get("responses").get(0).get("text").asText());
            assertEquals("b0", r0.get("responses").get(1).get("text").asText());
            for (String none : List.of("r_-", "r%", "R1-")) {
                assertEquals(0, WebFixture.json(f.api("GET", "/api/projects/" + p + "/items?external_id_prefix="
                        + URLEncoder.encode(none, StandardCharsets.UTF_8), admin, null))
                        .size(), none);
            }
            assertEquals(3, WebFixture.json(f.api("GET", "/api/projects/" + p + "/items", admin, null)).size());
            // admins only: the items endpoint shows every response of the project
            assertEquals(403, f.api("GET", "/api/projects/" + p + "/items", ann, null).statusCode());
            assertEquals(403, f.api("GET", "/api/projects/" + p + "/items", f.apiToken(f.viewer), null)
                    .statusCode());

            // the annotator labels all three; the labels filtered to round 1 are those of r1-0 and r1-1
            for (int n = 0; n < 3; n++) {
                JsonNode task = WebFixture.json(f.api("GET", "/api/projects/" + p + "/next", ann, null));
                long left = task.get("responses").get(0).get("id").asLong();
                long right = task.get("responses").get(1).get("id").asLong();
                assertEquals(200, f.api("POST", "/api/items/" + task.get("item_id").asLong() + "/label", ann,
                        "{\"request_id\":\"n" + n + "\",\"verdict\":\"tie\",\"left\":" + left + ",\"right\":"
                                + right + "}").statusCode());
            }
            Set<Long> round1Items = Set.of(round1.get(0).get("id").asLong(), round1.get(1).get("id").asLong());
            for (String token : List.of(admin, ann)) {
                JsonNode labels = WebFixture.json(f.api("GET", "/api/projects/" + p + "/labels?external_id_prefix=r1-",
                        token, null));
                Set<Long> labelled = new HashSet<>();
                labels.forEach(l -> labelled.add(l.get("item_id").asLong()));
                assertEquals(2, labels.size());
                assertEquals(round1Items, labelled);
            }
            assertEquals(3, WebFixture.json(f.api("GET", "/api/projects/" + p + "/labels", admin, null)).size());
            // an annotator's filtered labels are still only their own
            String other = f.apiToken(f.store.createUser("ann2", "x", Role.ANNOTATOR));
            assertEquals(0, WebFixture.json(f.api("GET", "/api/projects/" + p + "/labels?external_id_prefix=r1-",
                    other, null)).size());
        }
    }

    @Test
    void closedItemsAreHandedToNobodyAndTheClosingIsAudited(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            String admin = f.apiToken(f.admin);
            String ann = f.apiToken(f.annotator);
            long p = createProject(f, admin, "{\"name\":\"loop\",\"task_type\":\"comparison\",\"overlap\":0}");
            assertEquals(200, f.api("POST", "/api/projects/" + p + "/items", admin, "{\"items\":["
                    + "{\"id\":\"r1-0\",\"prompt\":\"q0\",\"responses\":[\"a0\",\"b0\"]},"
                    + "{\"id\":\"r2-0\",\"prompt\":\"q1\",\"responses\":[\"a1\",\"b1\"]}]}").statusCode());
            JsonNode closed = WebFixture.json(f.api("POST", "/api/projects/" + p + "/items/close", admin,
                    "{\"external_ids\":[\"r1-0\",\"elsewhere\"]}"));
            assertEquals(1, closed.get("closed").asInt());
            // the annotator's queue starts at r2-0 now
            assertEquals("q1", WebFixture.json(f.api("GET", "/api/projects/" + p + "/next", ann, null)).get("prompt")
                    .asText());
            assertEquals(400, f.api("POST", "/api/projects/" + p + "/items/close", admin, "{\"external_ids\":[1]}")
                    .statusCode());
            assertEquals(400, f.api("POST", "/api/projects/" + p + "/items/close", admin, "{}").statusCode());
            assertEquals("items.close", WebFixture.json(f.api("GET", "/api/audit?limit=1", admin, null)).get(0)
                    .get("action").asText());
        }
    }

    private static long createProject(WebFixture f, String admin, String json) {
        HttpResponse<String> r = f.api("POST", "/api/projects", admin, json);
        assertEquals(200, r.statusCode(), r.body());
        return WebFixture.json(r).get("id").asLong();
    }
}
