package dev.rlhf4j.spark.dp;

import org.apache.spark.BarrierTaskContext;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Base64;

/**
 * Gradient sums through Spark's own barrier messaging alone: each replica sends its array as base64 text through
 * {@link BarrierTaskContext#allGather} (via the driver's barrier coordinator), receives everyone's, and adds them
 * in replica order, so every replica computes the same bits. Nothing to set up and no port to open, but every byte
 * goes through the driver: each replica sends L floats (as 4/3 as many base64 bytes) and receives N·L, against the
 * ring's 2(N − 1)/N·L each way. Long arrays go in segments, so that one reply (N segments) stays well under
 * {@code spark.rpc.message.maxSize} (128 MiB by default).
 */
public final class AllGatherReducer extends BarrierReducer {
    /** Bytes of raw floats in all replicas' segments of one reply (before base64). */
    private static final int REPLY_BYTES = 48 << 20;

    private final BarrierTaskContext task;
    private final int segment;

    /** A reducer between the tasks of the current barrier stage. */
    public AllGatherReducer(BarrierTaskContext task) {
        super(task.partitionId(), task.getTaskInfos().length);
        this.task = task;
        this.segment = Math.max(1, REPLY_BYTES / 4 / replicas());
    }

    @Override
    void sumFloats(float[] data, int from, int length) {
        for (int lo = from, end = from + length; lo < end; lo += segment) {
            int m = Math.min(segment, end - lo);
            ByteBuffer mine = ByteBuffer.allocate(4 * m).order(ByteOrder.LITTLE_ENDIAN);
            mine.asFloatBuffer().put(data, lo, m);
            String text = Base64.getEncoder().encodeToString(mine.array());
            bytesSent += text.length();
            // the messages come back in partition order: everyone adds replica 0's, then 1's, ...
            String[] all = task.allGather(text);
            float[] sum = new float[m], theirs = new float[m];
            for (String s : all) {
                ByteBuffer b = ByteBuffer.wrap(Base64.getDecoder().decode(s)).order(ByteOrder.LITTLE_ENDIAN);
                if (b.remaining() != 4 * m) {
                    throw new IllegalStateException("replicas summed arrays of different lengths: " + m + " and "
                            + b.remaining() / 4 + " floats");
                }
                b.asFloatBuffer().get(theirs);
                for (int i = 0; i < m; i++) {
                    sum[i] += theirs[i];
                }
            }
            System.arraycopy(sum, 0, data, lo, m);
        }
    }

    @Override
    double[] sumDoubles(double[] values) {
        StringBuilder text = new StringBuilder();
        for (double v : values) {
            text.append(text.isEmpty() ? "" : ",").append(Double.toHexString(v)); // exact
        }
        String mine = text.toString();
        bytesSent += mine.length();
        double[] sum = new double[values.length];
        for (String s : task.allGather(mine)) {
            String[] parts = s.isEmpty() ? new String[0] : s.split(",");
            if (parts.length != values.length) {
                throw new IllegalStateException("replicas summed arrays of different lengths: " + values.length
                        + " and " + parts.length);
            }
            for (int i = 0; i < parts.length; i++) {
                sum[i] += Double.parseDouble(parts[i]);
            }
        }
        return sum;
    }

    @Override
    public void close() {
        // nothing held: the messages go through Spark's RPC
    }
}
