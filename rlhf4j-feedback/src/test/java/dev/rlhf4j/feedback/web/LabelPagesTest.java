package dev.rlhf4j.feedback.web;

import dev.rlhf4j.feedback.store.Flag;
import dev.rlhf4j.feedback.store.Item;
import dev.rlhf4j.feedback.store.Label;
import dev.rlhf4j.feedback.store.NewItem;
import dev.rlhf4j.feedback.store.NewLabel;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.ProjectSettings;
import dev.rlhf4j.feedback.store.Response;
import dev.rlhf4j.feedback.store.Task;
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
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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

    @Test
    void theLabelsPageListsNewestFirstPaginatesAndFilters(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            Project p = f.store.createProject(ProjectSettings.of("cmp", TaskType.COMPARISON, ""), f.admin.id());
            List<NewItem> items = new ArrayList<>();
            for (int i = 0; i < 60; i++) {
                items.add(NewItem.of("question " + i, "first answer " + i, "second answer " + i));
            }
            f.store.addItems(p.id(), items);
            // ann labels 52 items, the admin 8; every tenth is flagged, every tenth but five has a note
            List<Label> given = new ArrayList<>();
            Set<Long> flaggedOrNoted = new TreeSet<>();
            for (int i = 0; i < 60; i++) {
                long user = i < 52 ? f.annotator.id() : f.admin.id();
                Task t = f.store.nextTask(p.id(), user).orElseThrow();
                long left = t.responses().get(i % 2).id();
                long right = t.responses().get(1 - i % 2).id();
                Set<Flag> flags = i % 10 == 0 ? Set.of(Flag.HARMFUL) : Set.of();
                String note = i % 10 == 5 ? "look at " + i : "";
                NewLabel l = i % 7 == 4
                        ? NewLabel.comparison("r" + i, t.item().id(), user, left, right, Verdict.TIE, null, null,
                                flags, note)
                        : NewLabel.comparison("r" + i, t.item().id(), user, left, right, Verdict.BETTER,
                                i % 3 == 0 ? left : right, i % 4 == 0 ? null : 1 + i % 3, flags, note);
                Label stored = f.store.submit(l).label();
                given.add(stored);
                if (!flags.isEmpty() || !note.isEmpty()) {
                    flaggedOrNoted.add(stored.id());
                }
            }
            WebFixture.Browser admin = f.session(f.admin);
            String base = "/projects/" + p.id() + "/labels";
            assertTrue(f.get("/projects/" + p.id(), admin).body().contains("id=\"labels-link\""),
                    "the project page links to it");
            assertFalse(f.get("/projects/" + p.id(), f.session(f.viewer)).body().contains("labels-link"));
            assertFalse(f.get("/projects/" + p.id(), f.session(f.annotator)).body().contains("labels-link"));

            // newest first, 50 a page, with links between the pages
            String first = f.get(base, admin).body();
            List<Long> newestFirst = given.stream().map(Label::id).sorted((a, b) -> Long.compare(b, a)).toList();
            assertEquals(newestFirst.subList(0, 50), rowIds(first));
            assertTrue(first.contains("id=\"labels-table\""));
            assertTrue(first.contains("href=\"?page=2\" id=\"labels-next\""), first);
            assertFalse(first.contains("labels-previous"));
            String second = f.get(base + "?page=2", admin).body();
            assertEquals(newestFirst.subList(50, 60), rowIds(second));
            assertTrue(second.contains("href=\"?page=1\" id=\"labels-previous\""), second);
            assertFalse(second.contains("labels-next"));
            assertEquals(List.of(), rowIds(f.get(base + "?page=3", admin).body()));
            assertEquals(400, f.get(base + "?page=x", admin).statusCode());
            assertEquals(400, f.get(base + "?page=0", admin).statusCode());

            // each row: id, annotator, item and prompt, what was given, flags, note, time taken, when
            for (int i : new int[] {0, 4, 5, 13, 21}) {
                Label l = given.get(i);
                String row = row(i < 10 ? second : first, l.id());
                String chosenText = l.chosenResponseId() == null ? null : textOf(f.store.responses(l.itemId()),
                        l.chosenResponseId());
                assertTrue(row.contains("<td class=\"label-annotator\">ann</td>"), row);
                assertTrue(row.contains(">" + l.itemId() + " <span class=\"meta label-prompt\">question " + i
                        + "</span>"), row);
                assertTrue(row.contains("<span class=\"label-verdict\">" + l.verdict().wireName() + "</span>"), row);
                if (chosenText != null) {
                    String side = l.chosenResponseId().equals(l.leftResponseId()) ? "left" : "right";
                    assertTrue(row.contains("<span class=\"label-side\">" + side + "</span>"), row);
                    assertTrue(row.contains("<q class=\"label-chosen\">" + chosenText + "</q>"), row);
                } else {
                    assertFalse(row.contains("label-chosen"), row);
                }
                if (l.strength() != null) {
                    String word = List.of("slightly", "clearly", "much").get(l.strength() - 1);
                    assertTrue(row.contains("<span class=\"label-strength\">" + word + "</span>"), row);
                } else {
                    assertFalse(row.contains("label-strength"), row);
                }
                assertTrue(row.contains("<td class=\"label-flags\">" + (i % 10 == 0 ? "harmful" : "") + "</td>"),
                        row);
                assertTrue(row.contains("<td class=\"label-note\">" + l.note() + "</td>"), row);
                assertTrue(row.contains("<td class=\"label-seconds\">" + Page.seconds(l.durationMillis() / 1000.0)
                        + "</td>"), row);
                assertTrue(row.contains("<td class=\"label-time\">" + Page.time(l.createdAt()) + "</td>"), row);
            }
            // the rows checked cover: left and right chosen, a tie, all three strengths and none, a flag, a note
            assertTrue(row(second, given.get(5).id()).contains("look at 5"));
            assertTrue(row(first, given.get(13).id()).contains("label-side\">right<"));
            assertTrue(row(first, given.get(21).id()).contains("label-side\">left<"));
            assertEquals(List.of(3, 2, 1), List.of(given.get(5).strength(), given.get(13).strength(),
                    given.get(21).strength()));
            assertEquals(null, given.get(0).strength());
            assertEquals(Verdict.TIE, given.get(4).verdict());

            // by annotator: the admin's 8; ann's 52 on two pages whose links keep the filter
            String admins = f.get(base + "?annotator=admin", admin).body();
            assertEquals(newestFirst.subList(0, 8), rowIds(admins));
            String anns = f.get(base + "?annotator=ann", admin).body();
            assertEquals(newestFirst.subList(8, 58), rowIds(anns));
            assertTrue(anns.contains("href=\"?page=2&amp;annotator=ann\" id=\"labels-next\""), anns);
            assertEquals(newestFirst.subList(58, 60), rowIds(f.get(base + "?annotator=ann&page=2", admin).body()));
            assertEquals(List.of(), rowIds(f.get(base + "?annotator=nobody", admin).body()));

            // only flagged or with a note, alone and with the annotator
            List<Long> flagged = flaggedOrNoted.stream().sorted((a, b) -> Long.compare(b, a)).toList();
            assertEquals(12, flagged.size());
            assertEquals(flagged, rowIds(f.get(base + "?flagged=true", admin).body()));
            List<Long> adminsFlagged = flagged.stream().filter(id -> id >= given.get(52).id()).toList();
            assertEquals(List.of(given.get(55).id()), adminsFlagged);
            assertEquals(adminsFlagged, rowIds(f.get(base + "?flagged=true&annotator=admin", admin).body()));
        }
    }

    @Test
    void theLabelsPageShowsARankingInRankedOrderAndADemonstration(@TempDir Path dir) {
        try (WebFixture f = new WebFixture(dir)) {
            Project rank = f.store.createProject(new ProjectSettings("rank", TaskType.RANKING, "", 3, 0, 2, null,
                    null, null), f.admin.id());
            f.store.addItems(rank.id(), List.of(NewItem.of("order these", "alpha", "beta", "gamma")));
            Task t = f.store.nextTask(rank.id(), f.annotator.id()).orElseThrow();
            List<Long> ids = t.responses().stream().map(Response::id).toList();
            // best first: gamma, alpha, beta
            f.store.submit(NewLabel.ranking("r", t.item().id(), f.annotator.id(), List.of(ids.get(2), ids.get(0),
                    ids.get(1)), ids, Set.of(Flag.OFF_TOPIC, Flag.UNTRUTHFUL), ""));
            WebFixture.Browser admin = f.session(f.admin);
            String page = f.get("/projects/" + rank.id() + "/labels", admin).body();
            int ol = page.indexOf("<ol class=\"label-ranked\">");
            assertTrue(ol > 0, page);
            List<String> ranked = new ArrayList<>();
            Matcher li = Pattern.compile("<li>([^<]*)</li>").matcher(page.substring(ol, page.indexOf("</ol>", ol)));
            while (li.find()) {
                ranked.add(li.group(1));
            }
            assertEquals(List.of("gamma", "alpha", "beta"), ranked);
            assertTrue(page.contains("<td class=\"label-flags\">untruthful, off_topic</td>"), page);
            assertTrue(page.contains("order these"), page);

            Project demo = f.store.createProject(ProjectSettings.of("demo", TaskType.DEMONSTRATION, ""),
                    f.admin.id());
            f.store.addItems(demo.id(), List.of(NewItem.of("write a story")));
            t = f.store.nextTask(demo.id(), f.admin.id()).orElseThrow();
            String story = "Once upon a time " + "there was a frog. ".repeat(20);
            f.store.submit(NewLabel.demonstration("d", t.item().id(), f.admin.id(), story, Set.of(), "long one"));
            page = f.get("/projects/" + demo.id() + "/labels", admin).body();
            // a long text is cut to an excerpt
            String excerpt = story.strip().substring(0, LabelReview.EXCERPT) + "…";
            assertTrue(page.contains("<span class=\"label-demonstration\">" + excerpt + "</span>"), page);
            assertTrue(page.contains("<td class=\"label-annotator\">admin</td>"), page);
        }
    }

    /** The label ids of the page's rows, in order. */
    private static List<Long> rowIds(String html) {
        List<Long> ids = new ArrayList<>();
        Matcher m = Pattern.compile("<tr data-label-id=\"(\\d+)\">").matcher(html);
        while (m.find()) {
            ids.add(Long.parseLong(m.group(1)));
        }
        return ids;
    }

    /** The HTML of the row of label {@code id}. */
    private static String row(String html, long id) {
        int from = html.indexOf("<tr data-label-id=\"" + id + "\">");
        assertTrue(from >= 0, "no row for label " + id);
        return html.substring(from, html.indexOf("</tr>", from));
    }
}
