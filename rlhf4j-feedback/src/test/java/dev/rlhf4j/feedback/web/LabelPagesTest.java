package dev.rlhf4j.feedback.web;

import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.Label;
import dev.rlhf4j.feedback.store.NewItem;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.ProjectSettings;
import dev.rlhf4j.feedback.store.Response;
import dev.rlhf4j.feedback.store.TaskType;
import dev.rlhf4j.feedback.store.Verdict;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The labelling pages: what is shown, what the forms send, what is stored. */
class LabelPagesTest {
    @Test
    void comparisonOrderIsRandomisedPerItemAndRecorded(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            Project p = f.store.createProject(new ProjectSettings("cmp", TaskType.COMPARISON, "", 2, 0, 2, null,
                    null, null), f.admin.id());
            List<NewItem> items = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                items.add(NewItem.of("q" + i, "first " + i, "second " + i));
            }
            f.store.addItems(p.id(), items);
            WebFixture.Browser ann = f.session(f.annotator);
            Map<Long, long[]> shown = new HashMap<>();
            int storedFirstOnLeft = 0;
            for (int i = 0; i < 40; i++) {
                String page = f.get("/projects/" + p.id() + "/label", ann).body();
                long item = Long.parseLong(WebFixture.inputValue(page, "item_id"));
                long left = Long.parseLong(WebFixture.inputValue(page, "left"));
                long right = Long.parseLong(WebFixture.inputValue(page, "right"));
                List<Response> rs = f.store.responses(item);
                // the page shows A = left and B = right, in that order
                int a = page.indexOf(">" + textOf(rs, left) + "<");
                int b = page.indexOf(">" + textOf(rs, right) + "<");
                assertTrue(a > 0 && b > a, "A is the left response");
                if (left == rs.get(0).id()) {
                    storedFirstOnLeft++;
                }
                shown.put(item, new long[] {left, right});
                Map<String, String> form = new LinkedHashMap<>();
                form.put("item_id", Long.toString(item));
                form.put("request_id", WebFixture.inputValue(page, "request_id"));
                form.put("left", Long.toString(left));
                form.put("right", Long.toString(right));
                form.put("choice", i % 2 == 0 ? "a" : "b");
                form.put("strength", "3");
                assertEquals(303, f.postPage("/projects/" + p.id() + "/label", ann, form).statusCode());
                // the same form sent twice (a double click) is stored once
                assertEquals(303, f.postPage("/projects/" + p.id() + "/label", ann, form).statusCode());
            }
            assertTrue(storedFirstOnLeft > 0 && storedFirstOnLeft < 40, "both orders shown: " + storedFirstOnLeft);
            List<Label> labels = f.store.labels(p.id());
            assertEquals(40, labels.size());
            for (Label l : labels) {
                long[] lr = shown.get(l.itemId());
                assertEquals(lr[0], l.leftResponseId());
                assertEquals(lr[1], l.rightResponseId());
                assertEquals(Verdict.BETTER, l.verdict());
                assertEquals(3, l.strength());
            }
            assertTrue(f.get("/projects/" + p.id() + "/label", ann).body().contains("id=\"queue-empty\""));
        }
    }

    private static String textOf(List<Response> rs, long id) {
        return rs.stream().filter(r -> r.id() == id).findFirst().orElseThrow().text();
    }

    @Test
    void aRankingIsSentAsRanksOfTheResponsesAndStoredBestFirstWithTheOrderShown(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            Project p = f.store.createProject(new ProjectSettings("rank", TaskType.RANKING, "", 4, 0, 2, null,
                    null, null), f.admin.id());
            f.store.addItems(p.id(), List.of(NewItem.of("q", "w", "x", "y", "z")));
            WebFixture.Browser ann = f.session(f.annotator);
            String page = f.get("/projects/" + p.id() + "/label", ann).body();
            assertTrue(page.contains("id=\"rank-list\"") && page.contains("id=\"rank-select-3\""));
            List<Long> order = new ArrayList<>();
            for (String s : WebFixture.inputValue(page, "display_order").split(",")) {
                order.add(Long.parseLong(s));
            }
            Map<String, String> form = new LinkedHashMap<>();
            form.put("item_id", WebFixture.inputValue(page, "item_id"));
            form.put("request_id", WebFixture.inputValue(page, "request_id"));
            form.put("display_order", WebFixture.inputValue(page, "display_order"));
            // the last shown is best, then the first, the third, the second
            int[] ranks = {2, 4, 3, 1};
            for (int i = 0; i < 4; i++) {
                form.put("rank_" + order.get(i), Integer.toString(ranks[i]));
            }
            form.put("flags", "off_topic");
            Map<String, String> dup = new LinkedHashMap<>(form);
            dup.put("rank_" + order.get(0), "1");
            assertEquals(400, f.postPage("/projects/" + p.id() + "/label", ann, dup).statusCode());
            assertEquals(303, f.postPage("/projects/" + p.id() + "/label", ann, form).statusCode());
            Label l = f.store.labels(p.id()).get(0);
            assertEquals(List.of(order.get(3), order.get(0), order.get(2), order.get(1)), l.ranking());
            assertEquals(order, l.displayOrder());
        }
    }

    @Test
    void aDemonstrationIsStoredAndASkippedItemMakesWayForTheNext(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            Project p = f.store.createProject(new ProjectSettings("demo", TaskType.DEMONSTRATION, "", 0, 0, 2, null,
                    null, null), f.admin.id());
            List<Item> items = f.store.addItems(p.id(), List.of(NewItem.of("first prompt"),
                    NewItem.of("second prompt")));
            WebFixture.Browser ann = f.session(f.annotator);
            String page = f.get("/projects/" + p.id() + "/label", ann).body();
            assertTrue(page.contains("first prompt") && page.contains("id=\"demonstration-text\""));
            HttpResponse<String> skip = f.postPage("/projects/" + p.id() + "/skip", ann,
                    Map.of("item_id", Long.toString(items.get(0).id())));
            assertEquals(303, skip.statusCode());
            page = f.get("/projects/" + p.id() + "/label", ann).body();
            assertEquals(Long.toString(items.get(1).id()), WebFixture.inputValue(page, "item_id"));
            assertEquals(303, f.postPage("/projects/" + p.id() + "/label", ann, Map.of(
                    "item_id", Long.toString(items.get(1).id()), "request_id", WebFixture.inputValue(page,
                            "request_id"), "demonstration", "A careful answer.", "note", "n")).statusCode());
            assertEquals("A careful answer.", f.store.labels(p.id()).get(0).demonstration());
            // the queue is empty but for the skipped item, which comes back on asking
            page = f.get("/projects/" + p.id() + "/label", ann).body();
            assertTrue(page.contains("id=\"show-skipped\""));
            page = f.get("/projects/" + p.id() + "/label?again=1", ann).body();
            assertEquals(Long.toString(items.get(0).id()), WebFixture.inputValue(page, "item_id"));
        }
    }

    @Test
    void anAdminCreatesAProjectAndChangesItsSettingsThroughTheForms(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            WebFixture.Browser admin = f.session(f.admin);
            HttpResponse<String> made = f.postPage("/projects", admin, Map.of("name", "p", "task_type", "ranking",
                    "responses_per_item", "4", "overlap", "0.25", "guidelines", "Rank *carefully*."));
            assertEquals(303, made.statusCode());
            Project p = f.store.projectByName("p").orElseThrow();
            assertEquals("/projects/" + p.id(), made.headers().firstValue("Location").orElseThrow());
            assertEquals(4, p.settings().responsesPerItem());
            String page = f.get("/projects/" + p.id(), admin).body();
            assertTrue(page.contains("<em>carefully</em>") && page.contains("id=\"import-form\"")
                    && page.contains("id=\"generate-submit\"") && page.contains("id=\"export-link\""));
            assertEquals(303, f.postPage("/projects/" + p.id() + "/settings", admin, Map.of("name", "p2",
                    "overlap", "0.5")).statusCode());
            Project changed = f.store.project(p.id()).orElseThrow();
            assertEquals("p2", changed.name());
            assertEquals(0.5, changed.settings().overlap());
            assertEquals(4, changed.settings().responsesPerItem());
            assertEquals(400, f.postPage("/projects/" + p.id() + "/settings", admin, Map.of("overlap", "2"))
                    .statusCode());
            // an annotator's project page has no admin forms
            String annPage = f.get("/projects/" + p.id(), f.session(f.annotator)).body();
            assertTrue(annPage.contains("id=\"start-labelling\"") && !annPage.contains("id=\"import-form\""));
            assertEquals(List.of("project.update", "project.create"),
                    f.store.auditLog(10).stream().map(a -> a.action()).toList());
        }
    }
}
