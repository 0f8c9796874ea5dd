package dev.rlhf4j.tensor;

import java.util.Arrays;

/**
 * A float32 tensor: a shape over contiguous row-major storage, which may be a view into a larger array (an arena
 * or a workspace). Tensors are cheap handles; kernels read and write {@link #data()} from {@link #offset()}.
 */
public final class Tensor {
    private final float[] data;
    private final int offset;
    private final int[] shape;
    private final int size;

    private Tensor(float[] data, int offset, int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            n *= d;
        }
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has " + n
                    + " elements, more than one array can hold");
        }
        if (offset < 0 || offset + n > data.length) {
            throw new IllegalArgumentException("view of shape " + Arrays.toString(shape) + " at offset " + offset
                    + " does not fit in storage of " + data.length + " floats");
        }
        this.data = data;
        this.offset = offset;
        this.shape = shape.clone();
        this.size = (int) n;
    }

    /** A new zero-filled tensor. */
    public static Tensor zeros(int... shape) {
        long n = 1;
        for (int d : shape) {
            n *= Math.max(d, 0);
        }
        if (n > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " is too large for one array");
        }
        return new Tensor(new float[(int) n], 0, shape);
    }

    /** Wraps {@code values} (not copied) with the given shape, which must hold exactly that many elements. */
    public static Tensor of(float[] values, int... shape) {
        Tensor t = new Tensor(values, 0, shape);
        if (t.size != values.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + t.size
                    + " elements but " + values.length + " values were given");
        }
        return t;
    }

    /** A view of {@code data} starting at {@code offset}. */
    public static Tensor view(float[] data, int offset, int... shape) {
        return new Tensor(data, offset, shape);
    }

    /**
     * The index, counted from {@code offset}, of the first NaN or infinity in {@code data[offset, offset + n)}, or
     * -1 when all are finite: cheap enough for model loaders to check every weight as they read it. A float is NaN or
     * infinite when its 8 exponent bits are all ones, and exactly then adding 1 at the lowest of them carries into
     * the sign bit; OR-ing those sums is a branch-free integer loop the JIT compiles well without the Vector API
     * (whose start-up a loader should not pay), and only a file with a bad weight is searched a second time.
     */
    public static int firstNonFinite(float[] data, int offset, int n) {
        int carries = 0;
        for (int i = offset, end = offset + n; i < end; i++) {
            carries |= (Float.floatToRawIntBits(data[i]) & 0x7F800000) + 0x00800000;
        }
        if (carries >= 0) {
            return -1;
        }
        for (int i = 0; i < n; i++) {
            if (!Float.isFinite(data[offset + i])) {
                return i;
            }
        }
        return -1;
    }

    public float[] data() {
        return data;
    }

    public int offset() {
        return offset;
    }

    public int[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** Size of dimension {@code i}; negative {@code i} counts from the end. */
    public int dim(int i) {
        return shape[i < 0 ? shape.length + i : i];
    }

    public int size() {
        return size;
    }

    /** Size of the last dimension (1 for a scalar). */
    public int cols() {
        return shape.length == 0 ? 1 : shape[shape.length - 1];
    }

    /** Product of all dimensions but the last: the number of rows when seen as a matrix. */
    public int rows() {
        return shape.length == 0 ? 1 : size / Math.max(1, cols());
    }

    /** The same storage with another shape of the same size. */
    public Tensor reshape(int... newShape) {
        long n = 1;
        for (int d : newShape) {
            n *= d;
        }
        if (n != size) {
            throw new IllegalArgumentException("cannot reshape " + shapeString() + " (" + size + " elements) to "
                    + Arrays.toString(newShape));
        }
        return new Tensor(data, offset, newShape);
    }

    /** Rows {@code [from, to)} along the first dimension, as a view. */
    public Tensor slice(int from, int to) {
        if (shape.length == 0 || from < 0 || to > shape[0] || from > to) {
            throw new IllegalArgumentException("slice [" + from + ", " + to + ") out of range for " + shapeString());
        }
        int[] s = shape.clone();
        int inner = shape[0] == 0 ? 0 : size / shape[0];
        s[0] = to - from;
        return new Tensor(data, offset + from * inner, s);
    }

    public float get(int... index) {
        return data[offset + flatIndex(index)];
    }

    public void set(float value, int... index) {
        data[offset + flatIndex(index)] = value;
    }

    private int flatIndex(int[] index) {
        if (index.length != shape.length) {
            throw new IllegalArgumentException("index of rank " + index.length + " for tensor " + shapeString());
        }
        int flat = 0;
        for (int i = 0; i < index.length; i++) {
            if (index[i] < 0 || index[i] >= shape[i]) {
                throw new IndexOutOfBoundsException("index " + Arrays.toString(index) + " out of bounds for "
                        + shapeString());
            }
            flat = flat * shape[i] + index[i];
        }
        return flat;
    }

    public void fill(float value) {
        Arrays.fill(data, offset, offset + size, value);
    }

    public void zero() {
        fill(0f);
    }

    /** Copies {@code src} (same size) into this tensor. */
    public void copyFrom(Tensor src) {
        if (src.size != size) {
            throw new IllegalArgumentException("copy from " + src.shapeString() + " into " + shapeString());
        }
        System.arraycopy(src.data, src.offset, data, offset, size);
    }

    /** A fresh array with this tensor's elements. */
    public float[] toArray() {
        return Arrays.copyOfRange(data, offset, offset + size);
    }

    /** A new tensor with a copy of the elements. */
    public Tensor copy() {
        return of(toArray(), shape);
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    @Override
    public String toString() {
        return "Tensor" + shapeString();
    }

    /** Fails with a message naming both shapes unless {@code t} has exactly {@code expected}. */
    public static void requireShape(String what, Tensor t, int... expected) {
        if (!Arrays.equals(t.shape, expected)) {
            throw new IllegalArgumentException(what + ": expected shape " + Arrays.toString(expected) + " but got "
                    + t.shapeString());
        }
    }

    /** Fails unless {@code t} is a matrix view with {@code cols} columns (any number of leading dimensions). */
    public static void requireCols(String what, Tensor t, int cols) {
        if (t.cols() != cols) {
            throw new IllegalArgumentException(what + ": expected last dimension " + cols + " but got shape "
                    + t.shapeString());
        }
    }

    /** Fails unless {@code a} and {@code b} have the same number of rows. */
    public static void requireSameRows(String what, Tensor a, Tensor b) {
        if (a.rows() != b.rows()) {
            throw new IllegalArgumentException(what + ": row counts differ: " + a.shapeString() + " vs "
                    + b.shapeString());
        }
    }
}
