package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.feedback.testing.TestBrowser;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.Keys;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code rlhf4j report}: the page of real sft and ppo runs, checked in headless Chromium. */
class ReportCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();
    private WebDriver browser;

    @AfterEach
    void quit() {
        if (browser != null) {
            browser.quit();
        }
    }

    private int run(String... args) {
        return Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
    }

    /** The JSON in the page's data element. */
    private static JsonNode pageData(Path html) throws IOException {
        String page = Files.readString(html);
        String open = "<script type=\"application/json\" id=\"report-data\">";
        int from = page.indexOf(open) + open.length();
        return JSON.readTree(page.substring(from, page.indexOf("</script>", from)));
    }

    private WebDriver browser() {
        Optional<WebDriver> d = TestBrowser.start();
        Assumptions.assumeTrue(d.isPresent(), TestBrowser::unavailableReason);
        browser = d.get();
        return browser;
    }

    private static Object js(WebDriver d, String script) {
        return ((JavascriptExecutor) d).executeScript(script);
    }

    /** Opens the page and waits for its script to finish (or fail). */
    private static void open(WebDriver d, Path html) {
        d.get(html.toUri().toString());
        new WebDriverWait(d, Duration.ofSeconds(20)).until(x -> js(x, "return document.readyState").equals("complete"));
    }

    @Test
    void theReportOfAnSftAndAPpoRunHasEveryChartDrawnInChromium(@TempDir Path tmp) throws IOException {
        TinyRun tiny = TinyRun.create(tmp);
        Path runs = tmp.resolve("runs");
        Path sft = runs.resolve("sft"), ppo = runs.resolve("ppo");
        assertEquals(0, run(tiny.sft(sft, "--max-steps", "4", "--learning-rate", "1e-3")), err.toString());
        assertEquals(0, run(tiny.ppo(sft, ppo, "--max-steps", "3")), err.toString());
        out.getBuffer().setLength(0);
        assertEquals(0, run("report", runs.toString()), err.toString());
        Path html = runs.resolve("report.html");
        assertEquals(html.toString(), out.toString().strip());

        JsonNode data = pageData(html);
        assertEquals("[\"runs/ppo\",\"runs/sft\"]", JSON.writeValueAsString(
                List.of(data.at("/runs/0/name").asText(), data.at("/runs/1/name").asText())));
        List<String> metrics = new ArrayList<>();
        int charts = 0;
        for (JsonNode section : data.get("sections")) {
            for (JsonNode chart : section.get("charts")) {
                charts++;
                metrics.add(chart.get("metric").asText());
                for (JsonNode s : chart.get("series")) {
                    int steps = s.get("run").asInt() == 0 ? 3 : 4;
                    assertEquals(steps, s.get("x").size(), chart.toString());
                    assertEquals(steps, s.get("y").size(), chart.toString());
                }
            }
        }
        for (String m : List.of("loss", "learning_rate", "grad_norm", "tokens_per_s", "objective/kl",
                "objective/scores", "objective/entropy", "policy/clipfrac_avg", "response_length")) {
            assertTrue(metrics.contains(m), m + " not in " + metrics);
        }
        assertTrue(data.get("samples").size() > 0, "PPO's samples.jsonl");

        WebDriver d = browser();
        open(d, html);
        assertEquals(List.of(), js(d, "return window.rlhf4jErrors"));
        assertEquals((long) charts, js(d, "return window.rlhf4jReport.charts"));
        List<WebElement> boxes = d.findElements(By.cssSelector(".chart"));
        assertEquals(charts, boxes.size());
        for (WebElement box : boxes) {
            WebElement canvas = box.findElement(By.tagName("canvas"));
            assertTrue(canvas.getSize().getWidth() > 200 && canvas.getSize().getHeight() > 100,
                    box.getDomAttribute("data-metric"));
            // the legend has the run names, set as text
            assertFalse(box.findElements(By.cssSelector(".u-legend .u-label")).isEmpty());
        }
        assertEquals(List.of("runs/ppo", "runs/sft"), d.findElements(By.cssSelector("#runs .run")).stream()
                .map(WebElement::getText).toList());
        assertEquals(data.get("samples").size(), d.findElements(By.cssSelector("#samples tbody tr")).size());

        // the smoothing slider redraws every chart, without an error
        WebElement slider = d.findElement(By.id("smoothing"));
        String before = d.findElement(By.id("smoothing-value")).getText();
        slider.sendKeys(Keys.END);
        assertNotEquals(before, d.findElement(By.id("smoothing-value")).getText());
        slider.sendKeys(Keys.HOME);
        assertEquals("0.00", d.findElement(By.id("smoothing-value")).getText());
        assertEquals(List.of(), js(d, "return window.rlhf4jErrors"));
        slider.sendKeys(Keys.END);
        TestBrowser.screenshot(d, Path.of("target", "screenshots", "report.png"));
    }

    @Test
    void textFromTheRunsIsShownAsTextNeverAsMarkup(@TempDir Path tmp) throws IOException {
        String evil = "</script><img src=x onerror=\"window.pwned=1\"><b>bold</b>";
        Path r = Files.createDirectories(tmp.resolve("r"));
        Files.writeString(r.resolve("metrics.jsonl"), "{\"step\":1," + JSON.writeValueAsString(evil) + ":1}\n"
                + "{\"step\":2," + JSON.writeValueAsString(evil) + ":2}\n");
        Files.writeString(r.resolve("samples.jsonl"), JSON.writeValueAsString(Map.of("step", 1, "prompt", evil,
                "response", "line 1\n" + evil, "score", 0.5)) + "\n");
        Path html = tmp.resolve("out/page.html");
        assertEquals(0, run("report", r.toString(), "--out", html.toString()), err.toString());
        assertEquals(html.toString(), out.toString().strip());

        WebDriver d = browser();
        open(d, html);
        assertEquals(List.of(), js(d, "return window.rlhf4jErrors"));
        assertEquals(null, js(d, "return window.pwned === undefined ? null : window.pwned"));
        assertEquals(List.of(), d.findElements(By.tagName("img")));
        assertEquals(List.of(), d.findElements(By.tagName("b")));
        assertEquals(evil, d.findElement(By.cssSelector(".chart h3")).getText());
        List<WebElement> cells = d.findElements(By.cssSelector("#samples tbody td"));
        assertEquals(evil, cells.get(3).getText());
        assertEquals("line 1\n" + evil, cells.get(4).getText());
    }

    @Test
    void aMissingRunOrAMalformedLineIsOneLineNamingIt(@TempDir Path tmp) throws IOException {
        Path missing = tmp.resolve("nope");
        assertEquals(1, run("report", missing.toString()));
        assertEquals("rlhf4j: " + missing + ": no such directory", err.toString().strip());
        err.getBuffer().setLength(0);
        Path bad = Files.createDirectories(tmp.resolve("bad"));
        Files.writeString(bad.resolve("metrics.jsonl"), "{\"step\":1,\"loss\":1}\n{\"step\":2,\"loss\":\n");
        assertEquals(1, run("report", bad.toString()));
        assertTrue(err.toString().startsWith("rlhf4j: " + bad.resolve("metrics.jsonl") + ":2: not valid JSON"),
                err.toString());
        assertEquals(1, err.toString().strip().lines().count(), err.toString());
        assertFalse(Files.exists(bad.resolve("report.html")));
        err.getBuffer().setLength(0);
        assertEquals(2, run("report"));
        assertTrue(err.toString().startsWith("rlhf4j: "), err.toString());
    }
}
