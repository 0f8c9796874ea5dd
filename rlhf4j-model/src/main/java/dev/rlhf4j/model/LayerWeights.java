package dev.rlhf4j.model;

import dev.rlhf4j.tensor.Activations;
import dev.rlhf4j.tensor.LayerNorm;
import dev.rlhf4j.tensor.Linear;
import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.RmsNorm;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.WeightMatrix;

/**
 * One transformer layer's parameter views, and the parts of its forward that the training forward
 * ({@link Transformer#forward}) and the KV-cache {@link KvCacheDecoder} share: the attention input (norm, q/k/v
 * projection, rotary positions) and the feed-forward (norm, up projection, GELU or SwiGLU, down projection). What
 * differs stays with each caller: the attention itself (full and masked, or against the cache), and where the
 * activations go (kept per layer for the backward, or overwritten in place). The bias views are null where the
 * family has none.
 *
 * <p>{@code packed} holds the four projections packed ({@link PackedWeights#layer}: bfloat16 or Q8_0, frozen),
 * indexed by {@link LoraConfig.Target#ordinal()}, or is null when they are the float32 views {@code qkvW} and so on
 * (which are then null when packed).
 */
record LayerWeights(int layer, Tensor ln1w, Tensor ln1b, Tensor qkvW, Tensor qkvB, Tensor projW, Tensor projB,
                    Tensor ln2w, Tensor ln2b, Tensor fcW, Tensor fcB, Tensor mlpProjW, Tensor mlpProjB, Lora lora,
                    WeightMatrix[] packed) {

    /**
     * The views of layer {@code l} ({@code h.l.*}) in {@code params}, with the model's adapters (null for none) and
     * its packed projections (null for float32 ones, which {@code params} then holds).
     */
    static LayerWeights of(ParamArena params, int l, Lora lora, WeightMatrix[] packed) {
        String pre = "h." + l + ".";
        boolean f32 = packed == null;
        return new LayerWeights(l, params.get(pre + "ln1.weight"), optional(params, pre + "ln1.bias"),
                f32 ? params.get(pre + "attn.qkv.weight") : null, optional(params, pre + "attn.qkv.bias"),
                f32 ? params.get(pre + "attn.proj.weight") : null, optional(params, pre + "attn.proj.bias"),
                params.get(pre + "ln2.weight"), optional(params, pre + "ln2.bias"),
                f32 ? params.get(pre + "mlp.fc.weight") : null, optional(params, pre + "mlp.fc.bias"),
                f32 ? params.get(pre + "mlp.proj.weight") : null, optional(params, pre + "mlp.proj.bias"), lora,
                packed);
    }

    private static Tensor optional(ParamArena params, String name) {
        return params.has(name) ? params.get(name) : null;
    }

    /**
     * The attention's input: {@code qkv = rope(ln1(in) W_qkv + b_qkv)}, with the normalised input in {@code ln1}
     * and the norm's statistics in {@code mean} (LayerNorm only) and {@code rstd}. {@code rope} is null for GPT-2.
     */
    void attentionInput(ModelConfig c, Rope rope, int[] positions, Tensor in, Tensor ln1, float[] mean,
                        float[] rstd, Tensor qkv, boolean inference) {
        norm(c, in, ln1w, ln1b, ln1, mean, rstd);
        project(LoraConfig.Target.QKV, ln1, qkv, inference);
        if (rope != null) {
            rope.forward(qkv, positions, c.heads() + c.kvHeads());
        }
    }

    /**
     * The feed-forward: {@code out = act(ln2(mid) W_fc + b_fc) W_proj + b_proj}, GELU for GPT-2 and SwiGLU for
     * Llama, keeping the normalised input, the up projection and the activation in {@code ln2}, {@code fc} and
     * {@code act}. The caller adds {@code out} to the residual stream.
     */
    void feedForward(ModelConfig c, Tensor mid, Tensor ln2, float[] mean, float[] rstd, Tensor fc, Tensor act,
                     Tensor out, boolean inference) {
        feedForwardHidden(c, mid, ln2, mean, rstd, fc, act, inference);
        project(LoraConfig.Target.MLP_OUT, act, out, inference);
    }

    /**
     * {@link #feedForward} up to the activation {@code act}, without the down projection: all a checkpointed
     * backward needs to recompute.
     */
    void feedForwardHidden(ModelConfig c, Tensor mid, Tensor ln2, float[] mean, float[] rstd, Tensor fc, Tensor act,
                           boolean inference) {
        norm(c, mid, ln2w, ln2b, ln2, mean, rstd);
        project(LoraConfig.Target.MLP_IN, ln2, fc, inference);
        if (c.isGpt2()) {
            Activations.geluForward(fc, act);
        } else {
            Activations.swigluForward(fc, act);
        }
    }

    /**
     * One of the block's four projections, {@code y = x·Wᵀ + b} plus the adapters on it: the one place where a
     * projection's weights are applied in a forward, the training forward's and the decoder's alike.
     */
    void project(LoraConfig.Target t, Tensor x, Tensor y, boolean inference) {
        if (packed != null) {
            packed[t.ordinal()].forward(x, bias(t), y);
        } else {
            Linear.forward(x, weight(t), bias(t), y);
        }
        if (lora != null) {
            lora.forward(layer, t, x, y, inference);
        }
    }

    /**
     * Backward of {@link #project}: {@code dx = dy·W} (added when {@code accumulateDx}), the base's weight and bias
     * gradients into {@code dw}/{@code db} when they are not null (a base under an adapter has none), then the
     * adapters' gradients and their share of {@code dx}. A packed base is frozen: {@code dw} and {@code db} must
     * then be null.
     */
    void projectBackward(LoraConfig.Target t, Tensor dy, Tensor x, Tensor dx, boolean accumulateDx, Tensor dw,
                         Tensor db) {
        if (packed != null) {
            if (dw != null || db != null) {
                throw new IllegalStateException("layer " + layer + ": packed " + packed[t.ordinal()]
                        + " weights are frozen and have no gradient");
            }
            packed[t.ordinal()].backwardInput(dy, dx, accumulateDx);
        } else {
            Linear.backward(dy, x, weight(t), dx, accumulateDx, dw, db);
        }
        if (lora != null) {
            lora.backward(layer, t, dy, x, dx);
        }
    }

    Tensor weight(LoraConfig.Target t) {
        return switch (t) {
            case QKV -> qkvW;
            case ATTN_OUT -> projW;
            case MLP_IN -> fcW;
            case MLP_OUT -> mlpProjW;
        };
    }

    Tensor bias(LoraConfig.Target t) {
        return switch (t) {
            case QKV -> qkvB;
            case ATTN_OUT -> projB;
            case MLP_IN -> fcB;
            case MLP_OUT -> mlpProjB;
        };
    }

    /** The family's norm: LayerNorm (weight and bias) for GPT-2, RMSNorm (weight) for Llama; no mean for RMSNorm. */
    static void norm(ModelConfig c, Tensor in, Tensor w, Tensor b, Tensor out, float[] mean, float[] rstd) {
        if (c.isGpt2()) {
            LayerNorm.forward(in, w, b, out, mean, rstd, c.normEps());
        } else {
            RmsNorm.forward(in, w, out, rstd, c.normEps());
        }
    }
}
