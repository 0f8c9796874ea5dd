package dev.rlhf4j.tensor;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * Named tensors written by {@code tools/fixtures/make_fixtures.py} (PyTorch) as JSON test resources:
 * {@code {"name": {"shape": [...], "data": [...]}}}.
 */
public final class Fixtures {
    private final String resource;
    private final JsonNode root;

    private Fixtures(String resource, JsonNode root) {
        this.resource = resource;
        this.root = root;
    }

    public static Fixtures load(String resource) {
        try (InputStream in = Fixtures.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("missing test resource " + resource
                        + " (regenerate with tools/fixtures/make_fixtures.py)");
            }
            return new Fixtures(resource, new ObjectMapper().readTree(in));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private JsonNode node(String name) {
        JsonNode n = root.get(name);
        if (n == null) {
            throw new IllegalArgumentException(resource + " has no tensor named " + name);
        }
        return n;
    }

    public boolean has(String name) {
        return root.has(name);
    }

    public List<String> names() {
        List<String> out = new ArrayList<>();
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            out.add(it.next());
        }
        return out;
    }

    public int[] shape(String name) {
        JsonNode s = node(name).get("shape");
        int[] out = new int[s.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = s.get(i).asInt();
        }
        return out;
    }

    public float[] floats(String name) {
        JsonNode d = node(name).get("data");
        float[] out = new float[d.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) d.get(i).asDouble();
        }
        return out;
    }

    public double[] doubles(String name) {
        JsonNode d = node(name).get("data");
        double[] out = new double[d.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = d.get(i).asDouble();
        }
        return out;
    }

    public int[] ints(String name) {
        JsonNode d = node(name).get("data");
        int[] out = new int[d.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = d.get(i).asInt();
        }
        return out;
    }

    /** A new tensor holding the fixture's values, with its shape. */
    public Tensor tensor(String name) {
        int[] shape = shape(name);
        return Tensor.of(floats(name), shape.length == 0 ? new int[] {1} : shape);
    }
}
