package dev.rlhf4j.feedback.testing;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.WebDriverWait;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TestBrowserTest {
    private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    private static final String PAGE = """
            <!doctype html>
            <html><head><meta charset="utf-8"><title>rlhf4j browser test</title></head>
            <body>
              <p id="status">waiting</p>
              <button id="go" onclick="document.getElementById('status').textContent = 'clicked'">Go</button>
            </body></html>
            """;

    private HttpServer server;
    private final AtomicInteger pagesServed = new AtomicInteger();

    @BeforeEach
    void servePage() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            byte[] body = PAGE.getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/html; charset=utf-8");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
            pagesServed.incrementAndGet();
        });
        server.start();
    }

    @AfterEach
    void stopServer() {
        server.stop(0);
    }

    @Test
    void clickRunsThePageScriptAndTheScreenshotIsAPng() throws IOException {
        Optional<WebDriver> started = TestBrowser.start();
        Assumptions.assumeTrue(started.isPresent(), TestBrowser.unavailableReason());
        WebDriver driver = started.get();
        try {
            driver.get("http://127.0.0.1:" + server.getAddress().getPort() + "/");
            assertEquals("rlhf4j browser test", driver.getTitle());
            assertTrue(pagesServed.get() >= 1, "the page did not come from the test's server");
            assertEquals("waiting", driver.findElement(By.id("status")).getText());

            driver.findElement(By.id("go")).click();
            new WebDriverWait(driver, Duration.ofSeconds(10))
                    .until(ExpectedConditions.textToBe(By.id("status"), "clicked"));
            assertEquals("clicked", driver.findElement(By.id("status")).getText());

            Path png = TestBrowser.screenshot(driver, Path.of("target", "screenshots", "TestBrowserTest.png"));
            byte[] bytes = Files.readAllBytes(png);
            assertTrue(bytes.length > PNG_SIGNATURE.length, "empty screenshot " + png);
            assertArrayEquals(PNG_SIGNATURE, Arrays.copyOf(bytes, PNG_SIGNATURE.length), "not a PNG: " + png);
            BufferedImage image = ImageIO.read(new ByteArrayInputStream(bytes));
            assertNotNull(image, "the PNG does not decode: " + png);
            assertEquals(TestBrowser.WIDTH, image.getWidth(), "screenshot width");
        } finally {
            driver.quit();
        }
    }

    @Test
    void anAbsentBrowserOrDriverIsNamedInTheReason(@TempDir Path dir) {
        Path chromium = dir.resolve("chromium");
        Path chromedriver = dir.resolve("chromedriver");
        assertEquals(Optional.of("browser tests skipped: " + chromium
                + " is absent (apt-get install chromium chromium-driver)"), TestBrowser.absent(chromium, chromedriver));
        assertTrue(TestBrowser.absent(Path.of("/bin/sh"), chromedriver).orElseThrow().contains(chromedriver + " is"));
        assertEquals(Optional.empty(), TestBrowser.absent(Path.of("/bin/sh"), Path.of("/bin/sh")));
    }
}
