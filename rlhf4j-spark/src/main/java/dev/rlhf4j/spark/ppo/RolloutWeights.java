package dev.rlhf4j.spark.ppo;

import dev.rlhf4j.tensor.Bf16Matrix;
import dev.rlhf4j.tensor.ParamArena;

import java.io.Serializable;
import java.util.List;

/**
 * The weights a PPO rollout depends on ({@link dev.rlhf4j.train.ppo.PpoTrainer#rolloutWeights()}) at one version
 * (the step whose rollout they serve), as the driver broadcasts them: every arena's chunks, in fp32, or in bf16 (the
 * top 16 bits of each float, rounded to nearest even: half the bytes, and workers then sample from a policy that
 * differs from the driver's by bf16 rounding).
 *
 * @param runId   the driver's run
 * @param version the step whose rollout these weights serve
 * @param fp32    per arena, per chunk, the values (null in bf16)
 * @param bf16    per arena, per chunk, the bf16 bits (null in fp32)
 */
public record RolloutWeights(String runId, int version, float[][][] fp32, short[][][] bf16) implements Serializable {

    /** A copy of {@code arenas}' values, in bf16 when {@code halve}. */
    public static RolloutWeights of(String runId, int version, List<ParamArena> arenas, boolean halve) {
        float[][][] f = halve ? null : new float[arenas.size()][][];
        short[][][] h = halve ? new short[arenas.size()][][] : null;
        for (int a = 0; a < arenas.size(); a++) {
            ParamArena arena = arenas.get(a);
            int chunks = arena.chunkCount();
            if (halve) {
                h[a] = new short[chunks][];
            } else {
                f[a] = new float[chunks][];
            }
            for (int c = 0; c < chunks; c++) {
                float[] src = arena.chunk(c);
                if (halve) {
                    short[] bits = new short[src.length];
                    for (int i = 0; i < src.length; i++) {
                        bits[i] = Bf16Matrix.toBf16(src[i]);
                    }
                    h[a][c] = bits;
                } else {
                    f[a][c] = src.clone();
                }
            }
        }
        return new RolloutWeights(runId, version, f, h);
    }

    /** Bytes of weight values this version carries (what each executor receives once per step). */
    public long bytes() {
        long n = 0;
        if (fp32 != null) {
            for (float[][] a : fp32) {
                for (float[] c : a) {
                    n += 4L * c.length;
                }
            }
        } else {
            for (short[][] a : bf16) {
                for (short[] c : a) {
                    n += 2L * c.length;
                }
            }
        }
        return n;
    }

    /** Writes these values into {@code arenas}, which must have the driver's layout (same arenas, same sizes). */
    public void copyInto(List<ParamArena> arenas) {
        int count = fp32 != null ? fp32.length : bf16.length;
        if (arenas.size() != count) {
            throw new IllegalStateException("the driver sent " + count + " weight arenas, this worker's models have "
                    + arenas.size() + ": the executor built other models than the driver (different inputs?)");
        }
        for (int a = 0; a < count; a++) {
            ParamArena arena = arenas.get(a);
            int chunks = fp32 != null ? fp32[a].length : bf16[a].length;
            if (arena.chunkCount() != chunks) {
                throw new IllegalStateException("weight arena " + a + ": the driver sent " + chunks + " chunks, this "
                        + "worker has " + arena.chunkCount());
            }
            for (int c = 0; c < chunks; c++) {
                float[] dst = arena.chunk(c);
                int n = fp32 != null ? fp32[a][c].length : bf16[a][c].length;
                if (dst.length != n) {
                    throw new IllegalStateException("weight arena " + a + " chunk " + c + ": the driver sent " + n
                            + " values, this worker holds " + dst.length);
                }
                if (fp32 != null) {
                    System.arraycopy(fp32[a][c], 0, dst, 0, n);
                } else {
                    short[] bits = bf16[a][c];
                    for (int i = 0; i < n; i++) {
                        dst[i] = Bf16Matrix.fromBf16(bits[i]);
                    }
                }
            }
        }
    }
}
