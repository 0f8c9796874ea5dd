package dev.rlhf4j.feedback.testing;

import org.openqa.selenium.OutputType;
import org.openqa.selenium.TakesScreenshot;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebDriverException;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * A real headless Chromium for the tests, driven by Selenium: Debian's {@code chromium} and {@code chromium-driver}
 * packages ({@code /usr/bin/chromium}, {@code /usr/bin/chromedriver}; other paths through the environment variables
 * {@code RLHF4J_TEST_CHROMIUM} and {@code RLHF4J_TEST_CHROMEDRIVER}). No browser or driver is ever downloaded: the
 * driver's path is given to Selenium, which then skips Selenium Manager altogether.
 * <p>
 * Each {@link #start()} opens a new browser with a fresh profile, its window 1280×900 (the page's viewport is 1280
 * wide, a little less than 900 high); the caller {@code quit()}s it, and whatever is still open at exit is quit
 * then. Where the browser is absent or does not start, {@link #start()} is empty and {@link #unavailableReason()}
 * says why, for {@code Assumptions.assumeTrue(driver.isPresent(), TestBrowser.unavailableReason())}; after one
 * failed start no other is tried in the same JVM, so a suite without a browser skips quickly.
 */
public final class TestBrowser {
    public static final String CHROMIUM_ENV = "RLHF4J_TEST_CHROMIUM";
    public static final String CHROMEDRIVER_ENV = "RLHF4J_TEST_CHROMEDRIVER";
    public static final int WIDTH = 1280;
    public static final int HEIGHT = 900;

    /**
     * Selenium warns at every start that it has no DevTools (CDP) classes for Debian's Chromium version; the tests
     * drive the browser through WebDriver only, so the warning is noise. Held here: java.util.logging keeps loggers
     * weakly, and a collected logger would forget its level.
     */
    private static final Logger CDP_VERSION_LOG = Logger.getLogger("org.openqa.selenium.devtools.CdpVersionFinder");

    private static final List<WebDriver> OPEN = new ArrayList<>();
    private static final List<Path> PROFILES = new ArrayList<>();
    private static String reason;
    private static boolean cleanupRegistered;

    private TestBrowser() {
    }

    /** A new headless Chromium, or empty (see {@link #unavailableReason()}) where none can start here. */
    public static synchronized Optional<WebDriver> start() {
        if (reason != null) {
            return Optional.empty();
        }
        Path chromium = Path.of(orDefault(System.getenv(CHROMIUM_ENV), "/usr/bin/chromium"));
        Path chromedriver = Path.of(orDefault(System.getenv(CHROMEDRIVER_ENV), "/usr/bin/chromedriver"));
        Optional<String> absent = absent(chromium, chromedriver);
        if (absent.isPresent()) {
            reason = absent.get();
            return Optional.empty();
        }
        registerCleanup();
        CDP_VERSION_LOG.setLevel(Level.SEVERE);
        Path profile;
        try {
            profile = Files.createTempDirectory("rlhf4j-chromium-");
        } catch (IOException e) {
            throw new IllegalStateException("TestBrowser: no temporary directory for a profile", e);
        }
        PROFILES.add(profile);
        ChromeOptions options = new ChromeOptions();
        options.setBinary(chromium.toFile());
        options.addArguments(
                "--headless=new",
                // As root Chromium's sandbox cannot start; the pages are our own app's.
                "--no-sandbox",
                "--disable-gpu",
                // No network but 127.0.0.1: nothing in the background may try to reach the internet and stall.
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                // /dev/shm is small in containers; Chromium then crashes on big pages.
                "--disable-dev-shm-usage",
                "--user-data-dir=" + profile,
                "--window-size=" + WIDTH + "," + HEIGHT);
        ChromeDriverService service = new ChromeDriverService.Builder()
                .usingDriverExecutable(chromedriver.toFile())
                .usingAnyFreePort()
                .build();
        try {
            ChromeDriver driver = new ChromeDriver(service, options);
            OPEN.add(driver);
            return Optional.of(driver);
        } catch (WebDriverException e) {
            service.stop();
            reason = "browser tests skipped: " + chromium + " did not start under " + chromedriver + ": "
                    + Objects.requireNonNullElse(e.getMessage(), e.toString()).lines().findFirst().orElse("");
            return Optional.empty();
        }
    }

    /** Why {@link #start()} is empty, or "" when it has not been. */
    public static synchronized String unavailableReason() {
        return reason == null ? "" : reason;
    }

    /** Saves what the browser shows now as a PNG at {@code png} (its directories made as needed). */
    public static Path screenshot(WebDriver driver, Path png) throws IOException {
        byte[] image = ((TakesScreenshot) driver).getScreenshotAs(OutputType.BYTES);
        Path parent = png.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        return Files.write(png, image);
    }

    /** The reason to skip when the browser or its driver is not there. */
    static Optional<String> absent(Path chromium, Path chromedriver) {
        return Stream.of(chromium, chromedriver).filter(p -> !Files.isExecutable(p)).findFirst()
                .map(p -> "browser tests skipped: " + p + " is absent (apt-get install chromium chromium-driver)");
    }

    private static void registerCleanup() {
        if (cleanupRegistered) {
            return;
        }
        cleanupRegistered = true;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            synchronized (TestBrowser.class) {
                for (WebDriver driver : OPEN) {
                    try {
                        driver.quit(); // a no-op for a driver the test has quit already
                    } catch (WebDriverException e) {
                        System.err.println("TestBrowser: could not quit a browser: " + e);
                    }
                }
                PROFILES.forEach(TestBrowser::deleteTree);
            }
        }, "TestBrowser-quit"));
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            // Chromium may still be writing its profile as it exits; a leftover temp directory is harmless.
            System.err.println("TestBrowser: could not delete " + dir + ": " + e.getMessage());
        }
    }

    private static String orDefault(String value, String fallback) {
        return value == null || value.isBlank() ? fallback : value;
    }
}
