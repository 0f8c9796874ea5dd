package dev.rlhf4j.tensor;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ArenaAndRngTest {

    @Test
    void decayedTensorsComeFirstInEachChunk() {
        ParamArena.Layout layout = new ParamArena.Layout()
                .add("norm", false, 4).add("w1", true, 3, 4).add("bias", false, 2).add("w2", true, 5);
        assertEquals(23, layout.size());
        ParamArena a = layout.allocate();
        assertEquals(1, a.chunkCount());
        assertEquals(12 + 5, a.decayEnd(0));
        assertEquals(0, a.entry("w1").offset());
        assertEquals(12, a.entry("w2").offset());
        assertTrue(a.entry("norm").offset() >= a.decayEnd(0));
        assertEquals(23, a.size());
    }

    @Test
    void largeModelsSpillIntoSeveralChunks() {
        ParamArena a = new ParamArena.Layout()
                .add("a", true, 6).add("b", true, 6).add("c", false, 3).add("d", false, 3).allocate(10);
        assertEquals(3, a.chunkCount());
        a.get("b").fill(2f);
        a.get("d").fill(4f);
        ParamArena copy = a.copy();
        assertArrayEquals(new float[] {2, 2, 2, 2, 2, 2}, copy.get("b").toArray());
        assertArrayEquals(new float[] {4, 4, 4}, copy.get("d").toArray());
        ParamArena g = a.zerosLike();
        g.get("a").fill(1f);
        g.get("c").fill(1f);
        // norm over all chunks: 6 + 3 ones
        assertEquals(3.0, GradClip.globalNorm(g), 1e-12);
    }

    @Test
    void unknownNamesAndDuplicatesAreReported() {
        ParamArena a = new ParamArena.Layout().add("w", true, 2, 2).allocate();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.get("v"));
        assertTrue(e.getMessage().contains("'v'"));
        assertThrows(IllegalArgumentException.class, () -> new ParamArena.Layout().add("w", true, 1).add("w", true, 1));
    }

    @Test
    void rngStateRoundTripsAndSeedsDiffer() {
        Rng a = new Rng(7);
        for (int i = 0; i < 3; i++) {
            a.nextGaussian();
        }
        long[] state = a.state();
        double[] expect = {a.nextGaussian(), a.nextDouble(), a.nextInt(100), a.nextGaussian()};
        Rng b = new Rng(123);
        b.setState(state);
        double[] got = {b.nextGaussian(), b.nextDouble(), b.nextInt(100), b.nextGaussian()};
        assertArrayEquals(expect, got);
        assertNotEquals(new Rng(1).nextLong(), new Rng(2).nextLong());
    }

    @Test
    void gaussianHasUnitVariance() {
        Rng r = new Rng(3);
        double s = 0, s2 = 0;
        int n = 200_000;
        for (int i = 0; i < n; i++) {
            double x = r.nextGaussian();
            s += x;
            s2 += x * x;
        }
        assertEquals(0.0, s / n, 0.01);
        assertEquals(1.0, s2 / n, 0.01);
    }

    @Test
    void tensorShapeErrorsNameTheShapes() {
        Tensor t = Tensor.zeros(2, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> t.reshape(4, 2));
        assertTrue(e.getMessage().contains("[2, 3]") && e.getMessage().contains("[4, 2]"), e.getMessage());
        IllegalArgumentException r = assertThrows(IllegalArgumentException.class,
                () -> Tensor.requireShape("weights", t, 3, 2));
        assertTrue(r.getMessage().contains("weights") && r.getMessage().contains("[3, 2]"));
        assertFalse(t.slice(1, 2).toString().isEmpty());
        assertEquals(3, t.slice(1, 2).size());
    }
}
