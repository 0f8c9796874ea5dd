package dev.rlhf4j.tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Parameters (or their gradients, or AdamW's moments) in a few large arrays with named views, so that AdamW,
 * clipping, zeroing, copying and saving are each one loop over the storage.
 *
 * <p>Tensors that take weight decay (matrices) are laid out before those that do not (norm weights and biases),
 * so each storage chunk is two ranges: {@code [0, decayEnd)} decayed and {@code [decayEnd, used)} not. A chunk
 * holds at most {@link #MAX_CHUNK} floats (a Java array's limit); larger models get several chunks.
 */
public final class ParamArena {
    public static final int MAX_CHUNK = Integer.MAX_VALUE - 16;

    /** Where one named tensor lives. */
    public record Entry(String name, int chunk, int offset, int[] shape, int size, boolean decay) {
        public String shapeString() {
            return Arrays.toString(shape);
        }
    }

    /** Collects named shapes, then lays them out. */
    public static final class Layout {
        private final Map<String, int[]> shapes = new LinkedHashMap<>();
        private final Map<String, Boolean> decays = new LinkedHashMap<>();

        /** Adds a tensor; {@code decay} says whether AdamW applies weight decay to it. */
        public Layout add(String name, boolean decay, int... shape) {
            if (shapes.containsKey(name)) {
                throw new IllegalArgumentException("duplicate parameter name " + name);
            }
            long n = 1;
            for (int d : shape) {
                if (d <= 0) {
                    throw new IllegalArgumentException("parameter " + name + " has a non-positive dimension: "
                            + Arrays.toString(shape));
                }
                n *= d;
            }
            if (n > MAX_CHUNK) {
                throw new IllegalArgumentException("parameter " + name + " " + Arrays.toString(shape)
                        + " is larger than one storage chunk (" + MAX_CHUNK + " floats)");
            }
            shapes.put(name, shape.clone());
            decays.put(name, decay);
            return this;
        }

        /** This layout less the named tensors (a model whose matrices are held elsewhere, packed). */
        public Layout without(Set<String> names) {
            Layout l = new Layout();
            for (Map.Entry<String, int[]> e : shapes.entrySet()) {
                if (!names.contains(e.getKey())) {
                    l.add(e.getKey(), decays.get(e.getKey()), e.getValue());
                }
            }
            return l;
        }

        /** Total number of floats the layout holds, without allocating it. */
        public long size() {
            long total = 0;
            for (int[] shape : shapes.values()) {
                long n = 1;
                for (int d : shape) {
                    n *= d;
                }
                total += n;
            }
            return total;
        }

        public ParamArena allocate() {
            return new ParamArena(this, MAX_CHUNK, "the weights");
        }

        ParamArena allocate(int chunkCapacity) {
            return new ParamArena(this, chunkCapacity, "the weights");
        }
    }

    private final Layout layout;
    private final int chunkCapacity;
    private final List<Entry> entries;
    private final Map<String, Entry> byName;
    private final Map<String, Tensor> views;
    private final float[][] chunks;
    private final int[] decayEnd;
    private final long totalSize;

    /** {@code purpose} names the arena in the error that refuses it when the heap cannot hold it. */
    private ParamArena(Layout layout, int chunkCapacity, String purpose) {
        this.layout = layout;
        this.chunkCapacity = chunkCapacity;
        List<Entry> placed = new ArrayList<>();
        List<Integer> used = new ArrayList<>();
        List<Integer> decayEnds = new ArrayList<>();
        used.add(0);
        decayEnds.add(0);
        long total = 0;
        for (boolean pass : new boolean[] {true, false}) {
            for (Map.Entry<String, int[]> e : layout.shapes.entrySet()) {
                boolean decay = layout.decays.get(e.getKey());
                if (decay != pass) {
                    continue;
                }
                int size = 1;
                for (int d : e.getValue()) {
                    size *= d;
                }
                if (size > chunkCapacity) {
                    throw new IllegalArgumentException("parameter " + e.getKey() + " does not fit in a chunk of "
                            + chunkCapacity + " floats");
                }
                int c = used.size() - 1;
                if ((long) used.get(c) + size > chunkCapacity) {
                    used.add(0);
                    decayEnds.add(0);
                    c++;
                }
                placed.add(new Entry(e.getKey(), c, used.get(c), e.getValue(), size, decay));
                used.set(c, used.get(c) + size);
                if (decay) {
                    decayEnds.set(c, used.get(c));
                }
                total += size;
            }
        }
        this.entries = Collections.unmodifiableList(placed);
        Heap.require(4 * total, "%s of a model of %,d parameters", purpose, total);
        this.chunks = new float[used.size()][];
        this.decayEnd = new int[used.size()];
        for (int c = 0; c < chunks.length; c++) {
            chunks[c] = new float[used.get(c)];
            decayEnd[c] = decayEnds.get(c);
        }
        this.totalSize = total;
        Map<String, Entry> names = new LinkedHashMap<>();
        Map<String, Tensor> v = new LinkedHashMap<>();
        for (Entry e : placed) {
            names.put(e.name(), e);
            v.put(e.name(), Tensor.view(chunks[e.chunk()], e.offset(), e.shape()));
        }
        this.byName = names;
        this.views = v;
    }

    /** A zero-filled arena with the same layout (gradients, optimizer moments). */
    public ParamArena zerosLike() {
        return zerosLike("a copy of the weights");
    }

    /** A zero-filled arena with the same layout; {@code purpose} ("the gradients") names it if the heap is short. */
    public ParamArena zerosLike(String purpose) {
        return new ParamArena(layout, chunkCapacity, purpose);
    }

    /** A deep copy: same layout, copied values. */
    public ParamArena copy() {
        ParamArena p = zerosLike();
        p.copyFrom(this);
        return p;
    }

    /** The view named {@code name}; fails naming the missing tensor. */
    public Tensor get(String name) {
        Tensor t = views.get(name);
        if (t == null) {
            throw new IllegalArgumentException("no parameter named '" + name + "'");
        }
        return t;
    }

    public boolean has(String name) {
        return views.containsKey(name);
    }

    public Entry entry(String name) {
        Entry e = byName.get(name);
        if (e == null) {
            throw new IllegalArgumentException("no parameter named '" + name + "'");
        }
        return e;
    }

    /** Entries in storage order. */
    public List<Entry> entries() {
        return entries;
    }

    /** Total number of floats. */
    public long size() {
        return totalSize;
    }

    public int chunkCount() {
        return chunks.length;
    }

    /** The storage of chunk {@code c}: decayed values in {@code [0, decayEnd(c))}, the rest after. */
    public float[] chunk(int c) {
        return chunks[c];
    }

    public int decayEnd(int c) {
        return decayEnd[c];
    }

    public void zero() {
        for (float[] c : chunks) {
            Arrays.fill(c, 0f);
        }
    }

    /** Copies all values from an arena with the same layout. */
    public void copyFrom(ParamArena other) {
        if (!sameLayout(other)) {
            throw new IllegalArgumentException("cannot copy between arenas of different layouts");
        }
        for (int c = 0; c < chunks.length; c++) {
            System.arraycopy(other.chunks[c], 0, chunks[c], 0, chunks[c].length);
        }
    }

    public boolean sameLayout(ParamArena other) {
        return other.layout == layout || (other.entries.size() == entries.size() && other.chunks.length == chunks.length
                && sameEntries(other));
    }

    private boolean sameEntries(ParamArena other) {
        for (int i = 0; i < entries.size(); i++) {
            Entry a = entries.get(i), b = other.entries.get(i);
            if (!a.name().equals(b.name()) || a.chunk() != b.chunk() || a.offset() != b.offset()
                    || !Arrays.equals(a.shape(), b.shape())) {
                return false;
            }
        }
        return true;
    }
}
