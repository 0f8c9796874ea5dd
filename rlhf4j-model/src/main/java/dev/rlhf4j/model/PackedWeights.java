package dev.rlhf4j.model;

import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.WeightMatrix;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;

/**
 * A model's matrices held packed ({@link WeightDtype#BF16} or {@link WeightDtype#Q8_0}): every block's four
 * projections, the LM head, and the token embedding when it is tied to the head. These are nearly all of a model's
 * bytes (GPT-2 small: all but 0.1M of 124M parameters); norms, biases, the position embedding, an untied token
 * embedding and a scalar head stay float32. Immutable: a model being trained is packed again after it changes.
 */
final class PackedWeights {
    private final WeightDtype dtype;
    /** [layer][LoraConfig.Target ordinal]. */
    private final WeightMatrix[][] blocks;
    private final WeightMatrix lmHead;
    private final WeightMatrix wte;
    private final long bytes;
    private final long elements;

    private PackedWeights(WeightDtype dtype, ModelConfig c, OutputHeads heads, Map<String, WeightMatrix> m) {
        this.dtype = dtype;
        this.blocks = new WeightMatrix[c.layers()][];
        for (int l = 0; l < c.layers(); l++) {
            blocks[l] = new WeightMatrix[LoraConfig.Target.values().length];
            for (LoraConfig.Target t : LoraConfig.Target.values()) {
                blocks[l][t.ordinal()] = require(m, "h." + l + "." + paramSuffix(t));
            }
        }
        this.wte = c.tiedEmbeddings() ? require(m, "wte") : null;
        this.lmHead = !heads.lm() ? null : c.tiedEmbeddings() ? wte : require(m, "lm_head.weight");
        long b = 0, e = 0;
        for (WeightMatrix w : m.values()) {
            b += w.bytes();
            e += (long) w.rows() * w.cols();
        }
        this.bytes = b;
        this.elements = e;
    }

    /** The arena name of a block projection's weight, after {@code h.<layer>.}. */
    static String paramSuffix(LoraConfig.Target t) {
        return switch (t) {
            case QKV -> "attn.qkv.weight";
            case ATTN_OUT -> "attn.proj.weight";
            case MLP_IN -> "mlp.fc.weight";
            case MLP_OUT -> "mlp.proj.weight";
        };
    }

    /** The parameters a packed model holds packed, in layout order. */
    static Set<String> names(ModelConfig c, OutputHeads heads) {
        Set<String> s = new LinkedHashSet<>();
        if (c.tiedEmbeddings()) {
            s.add("wte");
        }
        for (int l = 0; l < c.layers(); l++) {
            for (LoraConfig.Target t : LoraConfig.Target.values()) {
                s.add("h." + l + "." + paramSuffix(t));
            }
        }
        if (heads.lm() && !c.tiedEmbeddings()) {
            s.add("lm_head.weight");
        }
        return s;
    }

    /** Packs the matrices of {@code params} (a full float32 arena of this configuration). */
    static PackedWeights pack(ModelConfig c, OutputHeads heads, ParamArena params, WeightDtype dtype) {
        if (dtype == WeightDtype.FP32) {
            throw new IllegalArgumentException("fp32 weights are not packed");
        }
        Map<String, WeightMatrix> m = new LinkedHashMap<>();
        for (String name : names(c, heads)) {
            m.put(name, dtype.pack(params.get(name)));
        }
        return new PackedWeights(dtype, c, heads, m);
    }

    /** Wraps matrices already packed, e.g. Q8_0 tensors read from a GGUF file, named as {@link #names} lists. */
    static PackedWeights of(ModelConfig c, OutputHeads heads, WeightDtype dtype, Map<String, WeightMatrix> m) {
        return new PackedWeights(dtype, c, heads, m);
    }

    private static WeightMatrix require(Map<String, WeightMatrix> m, String name) {
        WeightMatrix w = m.get(name);
        if (w == null) {
            throw new IllegalArgumentException("packed weights: " + name + " is missing");
        }
        return w;
    }

    WeightDtype dtype() {
        return dtype;
    }

    /** Layer {@code l}'s four projections, indexed by {@link LoraConfig.Target#ordinal()}. */
    WeightMatrix[] layer(int l) {
        return blocks[l];
    }

    /** The LM head (the token embedding when tied), or null without an LM head. */
    WeightMatrix lmHead() {
        return lmHead;
    }

    /** The token embedding when it is packed (tied to the head), else null. */
    WeightMatrix wte() {
        return wte;
    }

    /** The matrix held under a layout name, or null when that parameter is not packed. */
    WeightMatrix get(String name) {
        if (name.equals("wte")) {
            return wte;
        }
        if (name.equals("lm_head.weight")) {
            return wte == null ? lmHead : null;
        }
        for (int l = 0; l < blocks.length; l++) {
            for (LoraConfig.Target t : LoraConfig.Target.values()) {
                if (name.equals("h." + l + "." + paramSuffix(t))) {
                    return blocks[l][t.ordinal()];
                }
            }
        }
        return null;
    }

    long bytes() {
        return bytes;
    }

    /** Number of weights held packed. */
    long elements() {
        return elements;
    }
}
