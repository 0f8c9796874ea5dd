package dev.rlhf4j.tensor;

/**
 * Embedding lookup ({@code nn.Embedding}): {@code out[i] = table[ids[i]]}, and its backward, a scatter-add of the
 * output gradient into the rows of the table. The backward runs in parallel over blocks of columns, each visiting
 * the ids in order, so repeated ids are summed in a fixed order.
 */
public final class Embedding {
    private static final int COL_BLOCK = 32;

    private Embedding() {
    }

    /** {@code out[i, :] = table[ids[i], :]}, or {@code +=} when {@code accumulate}. */
    public static void forward(int[] ids, Tensor table, Tensor out, boolean accumulate) {
        int n = out.rows(), d = table.cols(), vocab = table.rows();
        check(ids, n, vocab, table, out);
        float[] td = table.data(), od = out.data();
        int to = table.offset(), oo = out.offset();
        Parallel.global().forRange(n, d, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                int src = to + ids[i] * d, dst = oo + i * d;
                if (accumulate) {
                    for (int c = 0; c < d; c++) {
                        od[dst + c] += td[src + c];
                    }
                } else {
                    System.arraycopy(td, src, od, dst, d);
                }
            }
        });
    }

    /** {@code dtable[ids[i], :] += dout[i, :]} for every i. */
    public static void backward(int[] ids, Tensor dout, Tensor dtable) {
        int n = dout.rows(), d = dtable.cols(), vocab = dtable.rows();
        check(ids, n, vocab, dtable, dout);
        float[] gd = dtable.data(), od = dout.data();
        int go = dtable.offset(), oo = dout.offset();
        Parallel.global().forBlocks(d, COL_BLOCK, (block, worker) -> {
            int c0 = block * COL_BLOCK, c1 = Math.min(d, c0 + COL_BLOCK);
            for (int i = 0; i < n; i++) {
                int dst = go + ids[i] * d, src = oo + i * d;
                for (int c = c0; c < c1; c++) {
                    gd[dst + c] += od[src + c];
                }
            }
        });
    }

    private static void check(int[] ids, int n, int vocab, Tensor table, Tensor out) {
        if (table.rank() != 2) {
            throw new IllegalArgumentException("embedding: table must be [rows, dim], got " + table.shapeString());
        }
        if (out.cols() != table.cols()) {
            throw new IllegalArgumentException("embedding: output " + out.shapeString() + " does not match table "
                    + table.shapeString());
        }
        if (ids.length < n) {
            throw new IllegalArgumentException("embedding: " + ids.length + " ids for " + n + " output rows");
        }
        for (int i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new IllegalArgumentException("embedding: id " + ids[i] + " at position " + i
                        + " is outside the table's " + vocab + " rows");
            }
        }
    }
}
