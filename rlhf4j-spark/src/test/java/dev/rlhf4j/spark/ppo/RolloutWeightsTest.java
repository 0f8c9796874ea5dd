package dev.rlhf4j.spark.ppo;

import dev.rlhf4j.tensor.ParamArena;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The weights as the driver broadcasts them: exact in fp32, bf16-rounded in bf16, refused for another layout. */
class RolloutWeightsTest {

    private static ParamArena arena(long seed, int... sizes) {
        ParamArena.Layout l = new ParamArena.Layout();
        for (int i = 0; i < sizes.length; i++) {
            l.add("w" + i, i % 2 == 0, sizes[i]);
        }
        ParamArena a = l.allocate();
        Random r = new Random(seed);
        for (int c = 0; c < a.chunkCount(); c++) {
            float[] v = a.chunk(c);
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(7) - 3));
            }
        }
        return a;
    }

    /** Through Java serialisation, as Spark's broadcast carries it. */
    private static RolloutWeights roundTrip(RolloutWeights w) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(w);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            return (RolloutWeights) in.readObject();
        }
    }

    @Test
    void fp32WeightsArriveExactlyAndBf16WeightsRoundedToNearest() throws Exception {
        ParamArena policy = arena(1, 7, 300, 5), critic = arena(2, 33);
        RolloutWeights w = roundTrip(RolloutWeights.of("run", 3, List.of(policy, critic), false));
        assertEquals(4L * (policy.size() + critic.size()), w.bytes());
        ParamArena p2 = arena(9, 7, 300, 5), c2 = arena(8, 33);
        w.copyInto(List.of(p2, c2));
        assertArrayEquals(policy.chunk(0), p2.chunk(0));
        assertArrayEquals(critic.chunk(0), c2.chunk(0));

        RolloutWeights h = roundTrip(RolloutWeights.of("run", 3, List.of(policy, critic), true));
        assertEquals(2L * (policy.size() + critic.size()), h.bytes(), "half the bytes");
        h.copyInto(List.of(p2, c2));
        float[] want = policy.chunk(0), got = p2.chunk(0);
        for (int i = 0; i < want.length; i++) {
            // bf16 keeps 8 significant bits: rounding to nearest errs by at most half a unit in the last place,
            // u = 2^-8 relative to the value
            assertEquals(want[i], got[i], Math.abs(want[i]) * 0x1p-8f, "value " + i);
            assertEquals(0, Float.floatToRawIntBits(got[i]) & 0xFFFF, "a bf16 value: " + got[i]);
        }
    }

    @Test
    void weightsForOtherModelsAreRefusedNamingWhatDiffers() {
        RolloutWeights w = RolloutWeights.of("run", 1, List.of(arena(1, 10, 4)), false);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> w.copyInto(List.of(arena(1, 10, 4), arena(2, 3))));
        assertTrue(e.getMessage().contains("1 weight arenas, this worker's models have 2"), e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> w.copyInto(List.of(arena(1, 10, 5))));
        assertTrue(e.getMessage().contains("the driver sent 14 values, this worker holds 15"), e.getMessage());
    }
}
