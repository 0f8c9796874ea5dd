package dev.rlhf4j.feedback.web;

import dev.rlhf4j.feedback.generate.ResponseSampler;
import dev.rlhf4j.feedback.store.FeedbackStore;

/**
 * The feedback web app and its JSON API (Javalin), started on a port; {@link #close} stops it and waits for the
 * requests in flight.
 */
public final class FeedbackServer implements AutoCloseable {
    /**
     * Where to listen; {@code secureCookies} when served behind TLS (the cookies get the Secure attribute);
     * {@code publicUrl} (may be null) is the address people reach, used in invitation links.
     */
    public record Config(String host, int port, boolean secureCookies, String publicUrl) {
    }

    private FeedbackServer() {
    }

    /** Starts the app on {@code config}'s port (0: a free one). */
    public static FeedbackServer start(FeedbackStore store, ResponseSampler sampler, Config config) {
        throw new UnsupportedOperationException("not yet written (issue 12)");
    }

    /** The address it serves, for example {@code http://127.0.0.1:8080/}. */
    public String url() {
        throw new UnsupportedOperationException("not yet written (issue 12)");
    }

    @Override
    public void close() {
    }
}
