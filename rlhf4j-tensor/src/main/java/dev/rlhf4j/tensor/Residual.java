package dev.rlhf4j.tensor;

/** Residual connection {@code out = a + b}; its backward passes the gradient unchanged to both inputs. */
public final class Residual {
    private static final int BLOCK = 1 << 14;

    private Residual() {
    }

    /** {@code out = a + b}; {@code out} may be {@code a} or {@code b}. */
    public static void forward(Tensor a, Tensor b, Tensor out) {
        if (a.size() != b.size() || a.size() != out.size()) {
            throw new IllegalArgumentException("residual: shapes " + a.shapeString() + ", " + b.shapeString()
                    + " and " + out.shapeString() + " differ in size");
        }
        float[] ad = a.data(), bd = b.data(), od = out.data();
        int ao = a.offset(), bo = b.offset(), oo = out.offset(), n = a.size();
        Parallel.global().forBlocks(n, BLOCK, (block, worker) -> {
            int lo = block * BLOCK, hi = Math.min(n, lo + BLOCK);
            for (int i = lo; i < hi; i++) {
                od[oo + i] = ad[ao + i] + bd[bo + i];
            }
        });
    }

    /** {@code da += dout; db += dout}; either may be null. */
    public static void backward(Tensor dout, Tensor da, Tensor db) {
        for (Tensor d : new Tensor[] {da, db}) {
            if (d == null) {
                continue;
            }
            if (d.size() != dout.size()) {
                throw new IllegalArgumentException("residual backward: gradient " + d.shapeString() + " and "
                        + dout.shapeString() + " differ in size");
            }
            float[] g = dout.data(), dd = d.data();
            int go = dout.offset(), d0 = d.offset(), n = dout.size();
            Parallel.global().forBlocks(n, BLOCK, (block, worker) -> {
                int lo = block * BLOCK, hi = Math.min(n, lo + BLOCK);
                for (int i = lo; i < hi; i++) {
                    dd[d0 + i] += g[go + i];
                }
            });
        }
    }
}
