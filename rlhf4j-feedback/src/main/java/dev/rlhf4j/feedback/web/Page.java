package dev.rlhf4j.feedback.web;

import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.User;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/**
 * What every page's layout needs: its title, the signed-in user (null on the sign-in pages), the CSRF token its
 * forms carry, and a notice to show once (null for none).
 */
public record Page(String title, User user, String csrf, String notice) {
    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'")
            .withZone(ZoneOffset.UTC);

    public Page withNotice(String n) {
        return new Page(title, user, csrf, n);
    }

    public boolean admin() {
        return user != null && user.role() == Role.ADMIN;
    }

    /** Admins and annotators label; viewers do not. */
    public boolean labels() {
        return user != null && user.role() != Role.VIEWER;
    }

    /** Admins and viewers see quality figures and generation jobs. */
    public boolean seesQuality() {
        return user != null && user.role() != Role.ANNOTATOR;
    }

    public static String time(long epochMillis) {
        return TIME.format(Instant.ofEpochMilli(epochMillis));
    }

    public static String time(Long epochMillis) {
        return epochMillis == null ? "" : time(epochMillis.longValue());
    }

    /** A ratio as a percentage with one decimal, or a dash. */
    public static String percent(Double x) {
        return x == null ? "–" : String.format(java.util.Locale.ROOT, "%.1f%%", 100 * x);
    }

    /** A number with three decimals, or a dash. */
    public static String decimal(Double x) {
        return x == null ? "–" : String.format(java.util.Locale.ROOT, "%.3f", x);
    }

    public static String seconds(double s) {
        return String.format(java.util.Locale.ROOT, "%.1f s", s);
    }
}
