package dev.rlhf4j.feedback.web;

/** A request refused with an HTTP status and a message for the person or script (JSON {"error"} under /api). */
final class HttpError extends RuntimeException {
    private final int status;
    private final long retryAfterSeconds;

    HttpError(int status, String message) {
        this(status, message, 0);
    }

    HttpError(int status, String message, long retryAfterSeconds) {
        super(message);
        this.status = status;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    int status() {
        return status;
    }

    /** Seconds for the Retry-After header of a 429 (0: none). */
    long retryAfterSeconds() {
        return retryAfterSeconds;
    }

    static HttpError badRequest(String message) {
        return new HttpError(400, message);
    }

    static HttpError notFound(String what) {
        return new HttpError(404, what + " not found");
    }
}
