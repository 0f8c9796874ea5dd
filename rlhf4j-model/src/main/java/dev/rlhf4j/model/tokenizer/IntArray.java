package dev.rlhf4j.model.tokenizer;

import java.util.Arrays;

/** A growable list of ints, so that encoding does not box every token id. */
final class IntArray {

    private int[] values;
    private int size;

    IntArray(int capacity) {
        values = new int[Math.max(capacity, 8)];
    }

    void add(int v) {
        if (size == values.length) {
            values = Arrays.copyOf(values, size * 2);
        }
        values[size++] = v;
    }

    void addAll(int[] vs) {
        if (size + vs.length > values.length) {
            values = Arrays.copyOf(values, Math.max(size * 2, size + vs.length));
        }
        System.arraycopy(vs, 0, values, size, vs.length);
        size += vs.length;
    }

    int size() {
        return size;
    }

    int get(int i) {
        return values[i];
    }

    int[] toArray() {
        return Arrays.copyOf(values, size);
    }
}
