package dev.rlhf4j.spark.ppo;

import dev.rlhf4j.tensor.Bf16Matrix;
import dev.rlhf4j.tensor.ParamArena;

import java.io.Serializable;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The weights a PPO rollout depends on ({@link dev.rlhf4j.train.ppo.PpoTrainer#rolloutWeights()}) at one version
 * (the step whose rollout they serve), as the driver broadcasts them: every arena's chunks as raw little-endian bytes,
 * fp32, or bf16 (the top 16 bits of each float, rounded to nearest even: half the bytes, and workers then sample from
 * a policy that differs from the driver's by bf16 rounding). Raw byte arrays serialise as one block copy each, where
 * float arrays would be written value by value; they are cut into pieces of at most {@value #PIECE} values.
 *
 * @param runId   the driver's run
 * @param version the step whose rollout these weights serve
 * @param bf16    whether the values are bf16 (else fp32)
 * @param sizes   per arena, the number of values of each of its chunks (the layout the receiver must have)
 * @param pieces  the values, arena by arena, chunk by chunk, in pieces of at most {@value #PIECE} values
 */
public record RolloutWeights(String runId, int version, boolean bf16, int[][] sizes, List<byte[]> pieces)
        implements Serializable {
    /** Values per piece: a piece is at most 1 GiB of fp32. */
    static final int PIECE = 1 << 28;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort S16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** A copy of {@code arenas}' values, in bf16 when {@code halve}. */
    public static RolloutWeights of(String runId, int version, List<ParamArena> arenas, boolean halve) {
        int[][] sizes = new int[arenas.size()][];
        List<byte[]> pieces = new ArrayList<>();
        for (int a = 0; a < arenas.size(); a++) {
            ParamArena arena = arenas.get(a);
            sizes[a] = new int[arena.chunkCount()];
            for (int c = 0; c < arena.chunkCount(); c++) {
                float[] src = arena.chunk(c);
                sizes[a][c] = src.length;
                for (int from = 0; from < src.length; from += PIECE) {
                    int n = Math.min(PIECE, src.length - from);
                    byte[] piece = new byte[n * (halve ? 2 : 4)];
                    MemorySegment dst = MemorySegment.ofArray(piece);
                    if (halve) {
                        short[] bits = new short[n];
                        for (int i = 0; i < n; i++) {
                            bits[i] = Bf16Matrix.toBf16(src[from + i]);
                        }
                        MemorySegment.copy(bits, 0, dst, S16, 0, n);
                    } else {
                        MemorySegment.copy(src, from, dst, F32, 0, n);
                    }
                    pieces.add(piece);
                }
            }
        }
        return new RolloutWeights(runId, version, halve, sizes, pieces);
    }

    /** Bytes of weight values this version carries (what each executor receives once per step). */
    public long bytes() {
        long n = 0;
        for (byte[] p : pieces) {
            n += p.length;
        }
        return n;
    }

    /** Writes these values into {@code arenas}, which must have the driver's layout (same arenas, same sizes). */
    public void copyInto(List<ParamArena> arenas) {
        if (arenas.size() != sizes.length) {
            throw new IllegalStateException("the driver sent " + sizes.length + " weight arenas, this worker's models "
                    + "have " + arenas.size() + ": the executor built other models than the driver (other inputs?)");
        }
        int p = 0;
        for (int a = 0; a < sizes.length; a++) {
            ParamArena arena = arenas.get(a);
            if (arena.chunkCount() != sizes[a].length) {
                throw new IllegalStateException("weight arena " + a + ": the driver sent " + sizes[a].length
                        + " chunks, this worker has " + arena.chunkCount());
            }
            for (int c = 0; c < sizes[a].length; c++) {
                float[] dst = arena.chunk(c);
                if (dst.length != sizes[a][c]) {
                    throw new IllegalStateException("weight arena " + a + " chunk " + c + ": the driver sent "
                            + sizes[a][c] + " values, this worker holds " + dst.length);
                }
                for (int from = 0; from < dst.length; from += PIECE) {
                    int n = Math.min(PIECE, dst.length - from);
                    MemorySegment src = MemorySegment.ofArray(pieces.get(p++));
                    if (bf16) {
                        for (int i = 0; i < n; i++) {
                            dst[from + i] = Bf16Matrix.fromBf16(src.getAtIndex(S16, i));
                        }
                    } else {
                        MemorySegment.copy(src, F32, 0, dst, from, n);
                    }
                }
            }
        }
    }
}
