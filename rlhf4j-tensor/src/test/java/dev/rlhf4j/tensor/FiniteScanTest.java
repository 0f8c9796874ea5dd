package dev.rlhf4j.tensor;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class FiniteScanTest {
    @Test
    void everyFiniteFloatPassesAndEveryNanOrInfinityIsFoundAtItsIndex() {
        float[] finite = {0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.MIN_NORMAL, Float.MAX_VALUE,
                -Float.MAX_VALUE, 1e-40f, 3.5f};
        assertEquals(-1, Tensor.firstNonFinite(finite, 0, finite.length));
        // a NaN with any payload and both infinities, at each position, counted from the offset
        float[] bad = {Float.NaN, Float.intBitsToFloat(0xFF800001), Float.intBitsToFloat(0x7FC12345),
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY};
        for (float b : bad) {
            for (int at = 0; at < 37; at++) {
                float[] a = new float[40];
                a[3 + at] = b;
                assertEquals(at, Tensor.firstNonFinite(a, 3, 37), "bits " + Integer.toHexString(
                        Float.floatToRawIntBits(b)) + " at " + at);
                assertEquals(-1, Tensor.firstNonFinite(a, 3, at), "before it");
            }
        }
        float[] two = new float[10];
        two[8] = Float.NaN;
        two[4] = Float.POSITIVE_INFINITY;
        assertEquals(4, Tensor.firstNonFinite(two, 0, 10), "the first of several");
    }

    @Test
    void heapShortageIsOneLineWithSizesAndTheFlag() {
        Heap.Shortage e = assertThrows(Heap.Shortage.class,
                () -> Heap.require(Long.MAX_VALUE / 2, "the test's %d arrays", 3));
        assertTrue(e.getMessage().startsWith("not enough memory: the test's 3 arrays need "), e.getMessage());
        assertTrue(e.getMessage().matches(".*GiB Java heap is free; give Java a larger heap, e\\.g\\. -Xmx\\d+g "
                + "\\(for \\./rlhf4j: RLHF4J_JAVA_OPTS=-Xmx\\d+g\\)"), e.getMessage());
        Heap.require(1024, "a kilobyte"); // fits
    }
}
