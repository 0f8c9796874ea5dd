package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.feedback.generate.ResponseSampler;
import dev.rlhf4j.feedback.store.Database;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Flag;
import dev.rlhf4j.feedback.store.Label;
import dev.rlhf4j.feedback.store.Project;
import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.TaskType;
import dev.rlhf4j.feedback.store.User;
import dev.rlhf4j.feedback.store.Verdict;
import dev.rlhf4j.feedback.testing.TestBrowser;
import dev.rlhf4j.feedback.web.FeedbackServer;
import dev.rlhf4j.tensor.SharedData;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.Cookie;
import org.openqa.selenium.Dimension;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.Keys;
import org.openqa.selenium.StaleElementReferenceException;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.interactions.Actions;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The whole feedback flow in a real headless Chromium (Debian's, through Selenium): the first admin made as
 * {@code rlhf4j serve --create-admin} makes it, two annotators invited by link, prompts imported, responses sampled
 * from stories260K by the project page's button, comparisons by keys and by clicks, a ranking by keys, a written
 * demonstration, agreement on the quality page, the export downloaded, and {@code reward train} and {@code sft} run
 * on it. Model output and notes carrying script are checked to stay text in the browser's DOM.
 *
 * <p>Skipped, with the reason, where Chromium or stories260K is not here. Screenshots go to
 * {@code target/screenshots/}, and with {@code -Drlhf4j.screenshots.docs=true} (for example through
 * {@code -Drlhf4j.test.jvm=-Drlhf4j.screenshots.docs=true}) also to the README's {@code docs/img/}.
 */
class FeedbackBrowserFlowTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration WAIT = Duration.ofSeconds(20);
    /** Sampling stories260K on two busy cores: generous, the test waits only as long as the job runs. */
    private static final Duration GENERATION_WAIT = Duration.ofSeconds(180);
    private static final String ADMIN_PASSWORD = "admin-password-1";
    private static final String PASSWORD = "annotator-password-1";
    /** Script in model output and notes: must reach the page as text and never run. */
    private static final String SCRIPT_XSS = "<script>window.__xss=1</script>";
    private static final String IMG_XSS = "<img src=x onerror=\"window.__xss=1\">";

    private final List<AutoCloseable> open = new ArrayList<>();
    private String base;
    private FeedbackStore store;

    @AfterEach
    void close() throws Exception {
        for (AutoCloseable c : open.reversed()) {
            c.close();
        }
    }

    @Test
    void adminAnnotatorsCompareRankDemonstrateAndTheExportTrainsARewardModel(@TempDir Path tmp) throws Exception {
        Path model = SharedData.require("models/stories260K/stories260K.bin");
        SharedData.require("models/stories260K/tok512.bin");
        Optional<WebDriver> first = TestBrowser.start();
        Assumptions.assumeTrue(first.isPresent(), TestBrowser::unavailableReason);
        // one browser for everyone, who sign in and out in turn
        WebDriver browser = first.get();
        open.add(browser::quit);

        // 1. the first admin, as `rlhf4j serve --data-dir DIR --create-admin admin` makes it
        Path dataDir = tmp.resolve("data");
        createAdmin(dataDir, "admin");
        Database db = Database.sqlite(dataDir);
        open.add(db);
        store = new FeedbackStore(db);
        ResponseSampler sampler = new ResponseSampler(store);
        open.add(sampler);
        FeedbackServer server = FeedbackServer.start(store, sampler, new FeedbackServer.Config("127.0.0.1", 0, false,
                null));
        open.add(server);
        base = server.url();

        // 2. the admin signs in and makes two invitation links on the People page
        signIn(browser, "admin", ADMIN_PASSWORD);
        String invitation1 = invite(browser);
        String invitation2 = invite(browser);
        assertNotEquals(invitation1, invitation2);
        signOut(browser);

        // 3. each annotator opens their link, makes an account (and is signed in by it), then signs out
        accept(browser, invitation1, "ann1");
        signOut(browser);
        accept(browser, invitation2, "ann2");
        assertEquals(Role.ANNOTATOR, store.userByName("ann2").orElseThrow().role());
        // an annotator may not open the People page
        browser.get(base + "users");
        assertEquals("Error 403", text(browser, "h1"));
        assertEquals(List.of(), browser.findElements(By.id("users-table")));
        signOut(browser);
        signIn(browser, "admin", ADMIN_PASSWORD);

        // 4. a comparison project (K = 2, every item to both people), its prompts uploaded as a file
        long comparison = createProject(browser, "Stories: which continuation?", TaskType.COMPARISON, 2, "1", model,
                "Prefer the **coherent** story. " + SCRIPT_XSS);
        // the guidelines' Markdown is rendered, its HTML shown as text
        assertEquals("coherent", browser.findElement(By.cssSelector("#guidelines strong")).getText());
        assertTrue(browser.findElement(By.id("guidelines")).getText().contains(SCRIPT_XSS));
        assertInert(browser);
        Path prompts = tmp.resolve("prompts.jsonl");
        Files.writeString(prompts, """
                {"prompt": "Once upon a time, there was a little dog"}
                {"prompt": "Lily went to the park and"}
                {"prompt": "The sun was hot, so Tom"}
                """);
        browser.findElement(By.id("import-file")).sendKeys(prompts.toAbsolutePath().toString());
        browser.findElement(By.id("import-submit")).click();
        waitText(browser, By.id("notice"), "Added 3 items");

        // 5. the project page's button samples K responses per prompt from stories260K; the page polls the job
        browser.findElement(By.id("generate-submit")).click();
        By jobStatus = By.cssSelector("#jobs-table tbody tr:first-child td:nth-child(2)");
        // the page's script redraws the table as the job goes: a cell read as it is replaced is read again
        new WebDriverWait(browser, GENERATION_WAIT).ignoring(StaleElementReferenceException.class).until(d -> {
            List<WebElement> cells = d.findElements(jobStatus);
            String s = cells.isEmpty() ? "" : cells.getFirst().getText();
            if (s.equals("failed") || s.equals("cancelled")) {
                throw new AssertionError("generation " + s + ": " + d.findElement(By.id("jobs-table")).getText());
            }
            return s.equals("done");
        });
        assertTrue(browser.findElement(By.id("jobs-table")).getText().contains("3 / 3"),
                browser.findElement(By.id("jobs-table")).getText());
        for (var item : store.items(comparison)) {
            assertEquals(2, store.responses(item.id()).size());
        }
        // and a fourth item whose imported "model output" carries script, pasted as JSON lines
        paste(browser, JSON.writeValueAsString(Map.of("prompt", "Say something " + SCRIPT_XSS,
                "responses", List.of("A " + SCRIPT_XSS, "B " + IMG_XSS))));
        waitText(browser, By.id("notice"), "Added 1 item.");

        // 6. a ranking project (K = 3), responses imported with the prompts by pasting JSON lines
        long ranking = createProject(browser, "Rank the endings", TaskType.RANKING, 3, "1", null, "Best first.");
        paste(browser, JSON.writeValueAsString(Map.of("prompt", "The cat sat on the mat.", "responses",
                List.of("It purred and fell asleep.", "It ran away.", SCRIPT_XSS + " " + IMG_XSS))) + "\n"
                + JSON.writeValueAsString(Map.of("prompt", "Ben had a red ball.", "responses",
                List.of("He threw it to his friend.", "It was red.", "Ball ball ball."))));
        waitText(browser, By.id("notice"), "Added 2 items");

        // 7. a demonstration project
        long demonstration = createProject(browser, "Write the story", TaskType.DEMONSTRATION, 0, "0", null,
                "Write a short, happy story.");
        paste(browser, "{\"prompt\": \"Write a story about a kind frog.\"}");
        waitText(browser, By.id("notice"), "Added 1 item.");
        signOut(browser);

        // 8. ann1 compares: two items by keys (with a strength), one by clicks (strength, flag, note with script),
        // the item with script in its responses checked in the DOM, then a tie by key
        signIn(browser, "ann1", PASSWORD);
        browser.get(base + "projects/" + comparison + "/label");
        long item = currentItem(browser);
        assertFalse(text(browser, "#response-a .text").isBlank());
        assertFalse(text(browser, "#response-b .text").isBlank());
        screenshot(browser, "feedback-compare.png");
        keys(browser, "x");
        assertTrue(browser.findElement(By.id("strength-2")).isSelected());
        item = answerByKey(browser, "1", item);
        item = answerByKey(browser, "2", item);
        browser.findElement(By.id("strength-3")).click();
        browser.findElement(By.id("flag-untruthful")).click();
        browser.findElement(By.id("note")).sendKeys("reads oddly " + IMG_XSS);
        long clicked = item;
        browser.findElement(By.id("choice-b")).click();
        item = nextItem(browser, item);
        // the item whose responses carry script: shown as the very characters, no element made from them
        assertTrue(text(browser, "#prompt-text").endsWith(SCRIPT_XSS), text(browser, "#prompt-text"));
        Set<String> shown = Set.of(text(browser, "#response-a .text"), text(browser, "#response-b .text"));
        assertEquals(Set.of("A " + SCRIPT_XSS, "B " + IMG_XSS), shown);
        assertInert(browser);
        browser.findElement(By.id("note")).sendKeys(SCRIPT_XSS);
        browser.findElement(By.tagName("h1")).click(); // out of the note: keys are off while typing in it
        answerByKey(browser, "t", item);
        browser.findElement(By.id("queue-empty"));

        Label byClicks = store.labelsBy(comparison, userId("ann1")).stream().filter(l -> l.itemId() == clicked)
                .findFirst().orElseThrow();
        assertEquals(Verdict.BETTER, byClicks.verdict());
        assertEquals(byClicks.rightResponseId(), byClicks.chosenResponseId());
        assertEquals(3, byClicks.strength());
        assertEquals(Set.of(Flag.UNTRUTHFUL), byClicks.flags());
        assertEquals("reads oddly " + IMG_XSS, byClicks.note());

        // 9. ann1 ranks: the third response moved to the top by a number key, then Alt+↓; the order on screen is
        // the ranking stored
        browser.get(base + "projects/" + ranking + "/label");
        long rankItem = currentItem(browser);
        // one of the first item's responses is script: text on screen, nothing run
        assertEquals("The cat sat on the mat.", text(browser, "#prompt-text"));
        assertTrue(browser.findElements(By.cssSelector("#rank-list .rank-item .text")).stream()
                .anyMatch(t -> t.getText().equals(SCRIPT_XSS + " " + IMG_XSS)), text(browser, "#rank-list"));
        assertInert(browser);
        // the shown order is random; whichever was last goes to the top by its number key
        browser.findElement(By.id("rank-item-2")).sendKeys("1");
        WebElement top = browser.findElement(By.cssSelector("#rank-list .rank-item:first-child"));
        top.sendKeys(Keys.chord(Keys.ALT, Keys.ARROW_DOWN));
        List<Long> onScreen = rankOrder(browser);
        ctrlEnter(browser);
        long rankItem2 = nextItem(browser, rankItem);
        assertEquals(onScreen, labelOf(ranking, "ann1", rankItem).ranking());
        browser.findElement(By.id("rank-item-0")).sendKeys(Keys.chord(Keys.SHIFT, Keys.ARROW_DOWN));
        onScreen = rankOrder(browser);
        browser.findElement(By.id("ranking-submit")).click();
        waitFor(browser, By.id("queue-empty"));
        assertEquals(onScreen, labelOf(ranking, "ann1", rankItem2).ranking());

        // 10. ann1 writes a demonstration, sent with Ctrl+Enter
        browser.get(base + "projects/" + demonstration + "/label");
        long demoItem = currentItem(browser);
        String story = "Once upon a time, a kind frog shared his pond with a lost duck. They became friends.";
        browser.findElement(By.id("demonstration-text")).sendKeys(story);
        browser.findElement(By.id("demonstration-text")).sendKeys(Keys.chord(Keys.CONTROL, Keys.ENTER));
        waitFor(browser, By.id("queue-empty"));
        assertEquals(story, labelOf(demonstration, "ann1", demoItem).demonstration());
        signOut(browser);

        // 11. ann2 labels the same items (overlap 1.0): comparisons by keys, one ranking by keys, one by dragging
        signIn(browser, "ann2", PASSWORD);
        browser.get(base + "projects/" + comparison + "/label");
        item = currentItem(browser);
        for (String key : List.of("1", "1", "2")) {
            item = answerByKey(browser, key, item);
        }
        assertInert(browser);
        answerByKey(browser, "b", item);
        browser.findElement(By.id("queue-empty"));
        browser.get(base + "projects/" + ranking + "/label");
        rankItem = currentItem(browser);
        browser.findElement(By.id("rank-item-1")).sendKeys("1");
        ctrlEnter(browser);
        rankItem2 = nextItem(browser, rankItem);
        // the second by dragging: the first response dropped onto the last moves down the list
        long dragged = rankOrder(browser).getFirst();
        new Actions(browser).dragAndDrop(browser.findElement(By.id("rank-item-0")),
                browser.findElement(By.id("rank-item-2"))).perform();
        onScreen = rankOrder(browser);
        assertTrue(onScreen.indexOf(dragged) > 0, "dragged " + dragged + ": " + onScreen);
        ctrlEnter(browser);
        waitFor(browser, By.id("queue-empty"));
        assertEquals(onScreen, labelOf(ranking, "ann2", rankItem2).ranking());
        assertEquals(8, store.labels(comparison).size());
        // an annotator may not download the export
        browser.get(base + "projects/" + comparison + "/export");
        assertEquals("Error 403", text(browser, "h1"));
        signOut(browser);
        assertEquals(4, store.labels(ranking).size());

        // 12. the quality pages show the agreement of the two on the overlapped items
        signIn(browser, "admin", ADMIN_PASSWORD);
        browser.get(base + "projects/" + comparison + "/quality");
        assertTrue(text(browser, "#q-agreement").matches("\\d+\\.\\d%"), text(browser, "#q-agreement"));
        String pairs = text(browser, "#quality-pairs tbody");
        assertTrue(pairs.contains("ann1") && pairs.contains("ann2"), pairs);
        assertTrue(text(browser, "#quality-annotators tbody").contains("ann1"));
        assertTrue(text(browser, "#quality-flags").contains("untruthful: 1"), text(browser, "#quality-flags"));
        screenshot(browser, "feedback-quality.png");
        browser.get(base + "projects/" + ranking + "/quality");
        assertTrue(text(browser, "#q-tau").matches("-?\\d\\.\\d{3}"), text(browser, "#q-tau"));
        // the labels page, from the project page's link: ann1's note with the <img onerror> payload is text
        browser.get(base + "projects/" + comparison);
        browser.findElement(By.id("labels-link")).click();
        waitFor(browser, By.id("labels-table"));
        assertTrue(browser.findElements(By.cssSelector("#labels-table .label-note")).stream()
                .anyMatch(n -> n.getText().equals("reads oddly " + IMG_XSS)), text(browser, "#labels-table"));
        assertInert(browser);

        // 13. the export, downloaded from the project page's links with the admin's session
        browser.get(base + "projects/" + comparison);
        List<JsonNode> pairsOut = jsonLines(download(browser, By.id("export-link")));
        assertEquals(6, pairsOut.size(), "three decisive comparisons each from two people");
        for (JsonNode r : pairsOut) {
            assertTrue(r.has("prompt") && r.has("chosen") && r.has("rejected") && r.has("annotator"), r.toString());
        }
        assertTrue(pairsOut.stream().anyMatch(r -> r.path("margin").asDouble() == 1.0), "the 'much better' margin");
        List<JsonNode> setAside = jsonLines(download(browser, By.id("export-set-aside-link")));
        assertEquals(2, setAside.size(), "the tie and the both-bad are set aside");
        assertTrue(setAside.stream().anyMatch(r -> SCRIPT_XSS.equals(r.path("note").asText())), setAside::toString);
        browser.get(base + "projects/" + ranking);
        String rankings = download(browser, By.id("export-link"));
        assertEquals(4, jsonLines(rankings).size());
        browser.get(base + "projects/" + demonstration);
        String demos = download(browser, By.id("export-link"));
        assertEquals(story, jsonLines(demos).getFirst().get("completion").asText());

        // 14. reward train and sft read the exported files unchanged (stories260K as the base, one step each)
        Path export = tmp.resolve("export.jsonl");
        Files.writeString(export, String.join("\n", pairsOut.stream().map(JsonNode::toString).toList()) + "\n"
                + rankings);
        Path rm = tmp.resolve("rm");
        StringWriter err = new StringWriter();
        int code = Main.run(new PrintWriter(new StringWriter()), new PrintWriter(err, true), "reward", "train",
                "--model", model.toString(), "--data", export.toString(), "--out", rm.toString(), "--max-steps", "1",
                "--per-device-train-batch-size", "4", "--max-length", "96", "--logging-steps", "1");
        assertEquals(0, code, err.toString());
        assertTrue(err.toString().contains("18 training pairs"), err.toString());
        assertEquals(1, Files.readAllLines(rm.resolve("metrics.jsonl")).size());
        assertTrue(Files.exists(rm.resolve("model.safetensors")));
        Path demosFile = tmp.resolve("demonstrations.jsonl");
        Files.writeString(demosFile, demos);
        Path sft = tmp.resolve("sft");
        code = Main.run(new PrintWriter(new StringWriter()), new PrintWriter(err, true), "sft", "--model",
                model.toString(), "--data", demosFile.toString(), "--out", sft.toString(), "--max-steps", "1",
                "--max-length", "96", "--logging-steps", "1");
        assertEquals(0, code, err.toString());
        assertEquals(1, Files.readAllLines(sft.resolve("metrics.jsonl")).size());
    }

    // ------------------------------------------------------------ the security check in the DOM

    /**
     * Nothing the payloads carry became an element or ran: no image at all on the page (the app shows none), no
     * script but the app's own file, and {@code window.__xss} never set.
     */
    private static void assertInert(WebDriver d) {
        JavascriptExecutor js = (JavascriptExecutor) d;
        assertEquals(0L, js.executeScript("return document.querySelectorAll('img').length;"), "an <img> element");
        assertEquals(List.of("/static/app.js"), js.executeScript("return Array.from(document.scripts)"
                + ".map(s => s.getAttribute('src'));"), "a script element besides the app's");
        assertEquals(0L, js.executeScript("return document.querySelectorAll('[onerror]').length;"));
        assertEquals("undefined", js.executeScript("return typeof window.__xss;"), "the payload ran");
    }

    // ------------------------------------------------------------ steps

    private void createAdmin(Path dataDir, String name) {
        ServeCommand cmd = new ServeCommand();
        cmd.env = Map.of(ServeCommand.PASSWORD_ENV, ADMIN_PASSWORD)::get;
        cmd.terminal = prompt -> null;
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = new CommandLine(cmd);
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setExecutionExceptionHandler((ex, c, p) -> Main.failure(ex, new PrintWriter(err, true), false, c));
        assertEquals(0, cl.execute("--data-dir", dataDir.toString(), "--create-admin", name), err.toString());
    }

    private void signIn(WebDriver d, String name, String password) {
        d.get(base + "login");
        d.findElement(By.id("login-name")).sendKeys(name);
        d.findElement(By.id("login-password")).sendKeys(password);
        d.findElement(By.id("login-submit")).click();
        waitFor(d, By.id("logout-submit"));
        assertTrue(d.findElement(By.id("nav-account")).getText().startsWith(name));
    }

    private static void signOut(WebDriver d) {
        d.findElement(By.id("logout-submit")).click();
        waitFor(d, By.id("login-form"));
        assertEquals(List.of(), d.manage().getCookies().stream().filter(c -> c.getName().equals("rlhf4j_session"))
                .toList(), "the session cookie is gone");
    }

    /** The People page's invitation link for an annotator. */
    private String invite(WebDriver admin) {
        admin.get(base + "users");
        new Select(admin.findElement(By.id("invite-role-select"))).selectByValue("annotator");
        admin.findElement(By.id("invite-create")).click();
        String url = waitFor(admin, By.id("invitation-url")).getAttribute("value");
        assertTrue(url.startsWith(base + "invite/"), url);
        return url;
    }

    private void accept(WebDriver d, String invitation, String name) {
        d.get(invitation);
        assertEquals("annotator", d.findElement(By.id("invite-role")).getText());
        d.findElement(By.id("invite-name")).sendKeys(name);
        d.findElement(By.id("invite-password")).sendKeys(PASSWORD);
        d.findElement(By.id("invite-submit")).click();
        waitFor(d, By.id("logout-submit"));
        assertTrue(d.findElement(By.id("nav-account")).getText().startsWith(name));
    }

    /** Fills the New project form; returns the new project's id (from the page it lands on). */
    private long createProject(WebDriver admin, String name, TaskType type, int k, String overlap, Path policy,
                               String guidelines) {
        admin.get(base + "projects");
        admin.findElement(By.cssSelector("#new-project summary")).click();
        admin.findElement(By.id("project-name")).sendKeys(name);
        new Select(admin.findElement(By.id("project-task-type"))).selectByValue(type.wireName());
        retype(admin.findElement(By.id("project-k")), Integer.toString(k));
        retype(admin.findElement(By.id("project-overlap")), overlap);
        retype(admin.findElement(By.id("project-overlap-annotators")), "2");
        if (policy != null) {
            admin.findElement(By.id("project-policy-model")).sendKeys(policy.toAbsolutePath().toString());
            retype(admin.findElement(By.id("project-max-new-tokens")), "40");
        }
        admin.findElement(By.id("project-guidelines")).sendKeys(guidelines);
        admin.findElement(By.id("project-create")).click();
        wait(admin).until(d -> d.getCurrentUrl().matches(".*/projects/\\d+$"));
        waitText(admin, By.id("project-title"), name);
        Matcher m = Pattern.compile("/projects/(\\d+)$").matcher(admin.getCurrentUrl());
        assertTrue(m.find(), admin.getCurrentUrl());
        long id = Long.parseLong(m.group(1));
        Project p = store.project(id).orElseThrow();
        assertEquals(type, p.taskType());
        assertEquals(k, p.settings().responsesPerItem());
        return id;
    }

    private static void paste(WebDriver admin, String jsonLines) {
        WebElement text = admin.findElement(By.id("import-text"));
        text.clear();
        text.sendKeys(jsonLines);
        admin.findElement(By.id("import-submit")).click();
    }

    /** Presses {@code key} on the comparison page; returns the next item's id (or -1 when the queue is empty). */
    private static long answerByKey(WebDriver d, String key, long item) {
        keys(d, key);
        return nextItem(d, item);
    }

    /** Waits for the page after a submit: another item, or the empty queue (-1). */
    private static long nextItem(WebDriver d, long item) {
        return wait(d).withMessage(() -> "waiting for the item after " + item + " on "
                + d.getCurrentUrl() + ": " + d.findElement(By.tagName("body")).getText()).until(x -> {
            if (!x.findElements(By.id("queue-empty")).isEmpty()) {
                return -1L;
            }
            List<WebElement> id = x.findElements(By.id("item-id"));
            // the keys work once the page's script has run
            if (id.isEmpty() || !"complete".equals(((JavascriptExecutor) x).executeScript(
                    "return document.readyState;"))) {
                return null;
            }
            long now = Long.parseLong(id.getFirst().getAttribute("value"));
            return now != item ? now : null;
        });
    }

    private static long currentItem(WebDriver d) {
        return Long.parseLong(waitFor(d, By.id("item-id")).getAttribute("value"));
    }

    private static List<Long> rankOrder(WebDriver d) {
        return d.findElements(By.cssSelector("#rank-list .rank-item")).stream()
                .map(li -> Long.parseLong(li.getAttribute("data-response-id"))).toList();
    }

    private Label labelOf(long project, String name, long item) {
        return store.labelsBy(project, userId(name)).stream().filter(l -> l.itemId() == item).findFirst()
                .orElseThrow(() -> new AssertionError("no label of " + name + " on item " + item));
    }

    private long userId(String name) {
        return store.userByName(name).map(User::id).orElseThrow();
    }

    /** The file behind a download link, fetched with the browser's session cookie. */
    private static String download(WebDriver d, By link) throws IOException, InterruptedException {
        String href = d.findElement(link).getAttribute("href");
        Cookie session = d.manage().getCookieNamed("rlhf4j_session");
        assertTrue(session != null && session.isHttpOnly(), "an HttpOnly session cookie");
        try (HttpClient http = HttpClient.newHttpClient()) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(href))
                    .header("Cookie", session.getName() + "=" + session.getValue()).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            assertTrue(r.headers().firstValue("Content-Disposition").orElse("").startsWith("attachment"));
            return r.body();
        }
    }

    private static List<JsonNode> jsonLines(String text) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (!line.isBlank()) {
                out.add(JSON.readTree(line));
            }
        }
        return out;
    }

    // ------------------------------------------------------------ WebDriver helpers

    private static void keys(WebDriver d, CharSequence keys) {
        new Actions(d).sendKeys(keys).perform();
    }

    /** Ctrl+Enter on whatever has the focus (the page's shortcut to send the form). */
    private static void ctrlEnter(WebDriver d) {
        new Actions(d).keyDown(Keys.CONTROL).sendKeys(Keys.ENTER).keyUp(Keys.CONTROL).perform();
    }

    private static void retype(WebElement input, String value) {
        input.clear();
        input.sendKeys(value);
    }

    private static String text(WebDriver d, String css) {
        return d.findElement(By.cssSelector(css)).getText();
    }

    /** A wait that reads again an element replaced as it was read (a page being left, a table redrawn). */
    private static WebDriverWait wait(WebDriver d) {
        return (WebDriverWait) new WebDriverWait(d, WAIT).ignoring(StaleElementReferenceException.class);
    }

    private static WebElement waitFor(WebDriver d, By by) {
        return wait(d).withMessage(() -> "waiting for " + by + " on " + d.getCurrentUrl() + ": "
                + d.findElement(By.tagName("body")).getText()).until(x -> {
            List<WebElement> found = x.findElements(by);
            return found.isEmpty() ? null : found.getFirst();
        });
    }

    private static void waitText(WebDriver d, By by, String part) {
        wait(d).withMessage(() -> "waiting for \"" + part + "\" in " + by + " on "
                + d.getCurrentUrl() + ": " + d.findElement(By.tagName("body")).getText()).until(x -> {
                    List<WebElement> found = x.findElements(by);
                    return !found.isEmpty() && found.getFirst().getText().contains(part);
                });
    }

    /** To target/screenshots/ always; to docs/img/ as well with -Drlhf4j.screenshots.docs=true. */
    private static void screenshot(WebDriver d, String name) throws IOException {
        // the window as tall as the page (to 2000 pixels), so that the picture shows it whole
        Dimension window = d.manage().window().getSize();
        long page = (Long) ((JavascriptExecutor) d).executeScript(
                "return document.documentElement.scrollHeight + window.outerHeight - window.innerHeight;");
        d.manage().window().setSize(new Dimension(window.getWidth(), (int) Math.min(2000, page)));
        try {
            shoot(d, name);
        } finally {
            d.manage().window().setSize(window);
        }
    }

    private static void shoot(WebDriver d, String name) throws IOException {
        TestBrowser.screenshot(d, Path.of("target", "screenshots", name));
        if (Boolean.getBoolean("rlhf4j.screenshots.docs")) {
            for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
                if (Files.isDirectory(dir.resolve("docs")) && Files.isDirectory(dir.resolve("rlhf4j-cli"))) {
                    TestBrowser.screenshot(d, dir.resolve("docs").resolve("img").resolve(name));
                    return;
                }
            }
            throw new IllegalStateException("no docs/ above " + Path.of("").toAbsolutePath());
        }
    }
}
