package dev.rlhf4j.feedback.web;

import io.github.bucket4j.Bandwidth;
import io.github.bucket4j.Bucket;
import io.github.bucket4j.ConsumptionProbe;

import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Slows password guessing (sign in, the API's session, accepting an invitation): token buckets (bucket4j) per user
 * name and per client address. A name gets {@link #NAME_TRIES} tries, then one a minute; an address, which many
 * people may share behind one router, {@link #ADDRESS_TRIES}, then one every six seconds. Every try takes a token
 * before the password is checked (so parallel guesses cannot outrun the bucket); a successful sign-in gives it back.
 */
final class LoginThrottle {
    static final int NAME_TRIES = 5;
    static final int ADDRESS_TRIES = 20;
    /** Buckets kept before the idle ones are dropped (bounds the memory a flood of made-up names can take). */
    private static final int MAX_BUCKETS = 100_000;

    private final Map<String, Bucket> byName = new ConcurrentHashMap<>();
    private final Map<String, Bucket> byAddress = new ConcurrentHashMap<>();

    /** A try that was let through; {@link #succeeded} refunds it. */
    record Attempt(Bucket name, Bucket address) {
    }

    /** Takes a try for {@code name} from {@code address}, or throws a 429 with the seconds to wait. */
    Attempt acquire(String name, String address) {
        Bucket n = bucket(byName, name == null ? "" : name.toLowerCase(Locale.ROOT), NAME_TRIES,
                Duration.ofMinutes(1));
        Bucket a = bucket(byAddress, address, ADDRESS_TRIES, Duration.ofSeconds(6));
        ConsumptionProbe pa = a.tryConsumeAndReturnRemaining(1);
        if (!pa.isConsumed()) {
            throw tooMany(pa);
        }
        ConsumptionProbe pn = n.tryConsumeAndReturnRemaining(1);
        if (!pn.isConsumed()) {
            a.addTokens(1);
            throw tooMany(pn);
        }
        return new Attempt(n, a);
    }

    /** The password was right: the try does not count. */
    void succeeded(Attempt attempt) {
        attempt.name().addTokens(1);
        attempt.address().addTokens(1);
    }

    private static HttpError tooMany(ConsumptionProbe p) {
        long seconds = Math.max(1, TimeUnit.NANOSECONDS.toSeconds(p.getNanosToWaitForRefill()) + 1);
        return new HttpError(429, "too many sign-in attempts; try again in " + seconds + " s", seconds);
    }

    private static Bucket bucket(Map<String, Bucket> map, String key, int tries, Duration refill) {
        if (map.size() > MAX_BUCKETS) {
            // full buckets are the same as no bucket: dropping them forgets nothing
            map.values().removeIf(b -> b.getAvailableTokens() >= tries);
        }
        return map.computeIfAbsent(key, k -> Bucket.builder()
                .addLimit(Bandwidth.builder().capacity(tries).refillGreedy(1, refill).build()).build());
    }
}
