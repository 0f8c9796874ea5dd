package dev.rlhf4j.tensor;

import java.util.Locale;

/**
 * A check before a large allocation (a model's parameters, its gradients, AdamW's moments) that the Java heap can
 * hold it, so that a model too large fails at once with one line saying what it needs and how to give it more,
 * instead of with an {@link OutOfMemoryError} after minutes of work.
 */
public final class Heap {
    private static final double GIB = 1 << 30;

    /** The refusal: one line with the bytes needed, the bytes free and the flag that gives more. */
    public static final class Shortage extends UserStateError {
        public Shortage(String message) {
            super(message);
        }
    }

    private Heap() {
    }

    /** Bytes the heap can still grow into: its maximum ({@code -Xmx}) less what is in use. */
    public static long available() {
        Runtime rt = Runtime.getRuntime();
        return rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
    }

    /**
     * Fails with a {@link Shortage} when {@code bytes} do not fit in the heap that is left; {@code what}, formatted
     * with {@code args} only then (a loader should not pay for the message), says what they are for ("the weights of
     * a model of %,d parameters"). In-use memory counts garbage not yet
     * collected, so a first refusal collects it and looks again before failing.
     */
    public static void require(long bytes, String what, Object... args) {
        if (bytes <= available()) {
            return;
        }
        System.gc();
        long available = available();
        if (bytes <= available) {
            return;
        }
        long max = Runtime.getRuntime().maxMemory();
        // room for what is in use now, the request, and a quarter more for activations and the rest of the run
        long suggested = (long) Math.ceil(((max - available) + bytes) * 1.25 / GIB);
        throw new Shortage(String.format(Locale.ROOT, "not enough memory: %s need %.1f GiB, but only "
                        + "%.1f GiB of the %.1f GiB Java heap is free; give Java a larger heap, e.g. -Xmx%dg "
                        + "(for ./rlhf4j: RLHF4J_JAVA_OPTS=-Xmx%dg)", String.format(Locale.ROOT, what, args),
                bytes / GIB, available / GIB, max / GIB,
                suggested, suggested));
    }
}
