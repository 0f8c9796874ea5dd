package dev.rlhf4j.model;

import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.UserError;

/**
 * The architecture of a causal transformer, for both families rlhf4j runs, validated in one place.
 * <ul>
 *   <li>{@link Family#GPT2}: learned absolute positions, LayerNorm, GELU (tanh) MLP of {@code hiddenDim}, biases on
 *       every linear layer, LM head tied to the token embedding.</li>
 *   <li>{@link Family#LLAMA} (Llama 2/3, Mistral, Qwen2, SmolLM, TinyLlama): RMSNorm, rotary positions with
 *       {@code ropeTheta} in either pairing convention, SwiGLU MLP of {@code hiddenDim}, grouped-query attention
 *       with {@code kvHeads}, no biases except the optional q/k/v bias of Qwen2, tied or untied LM head.</li>
 * </ul>
 *
 * @param family         GPT2 or LLAMA
 * @param vocabSize      number of token embeddings (rows of the LM head)
 * @param dim            model (residual stream) width
 * @param layers         number of transformer blocks
 * @param heads          query heads
 * @param kvHeads        key/value heads (equal to heads for GPT-2; a divisor of heads for GQA)
 * @param hiddenDim      MLP intermediate width
 * @param maxSeqLen      longest sequence (positions table / RoPE table size)
 * @param normEps        epsilon of LayerNorm / RMSNorm
 * @param ropeTheta      RoPE base (LLAMA only)
 * @param ropeStyle      RoPE pairing convention (LLAMA only)
 * @param tiedEmbeddings whether the LM head reuses the token embedding
 * @param qkvBias        whether the q/k/v projection has a bias (always true for GPT-2)
 * @param ropeScaling    rotary frequency scaling of long-context Llama checkpoints, or null for none
 */
public record ModelConfig(Family family, int vocabSize, int dim, int layers, int heads, int kvHeads, int hiddenDim,
                          int maxSeqLen, float normEps, double ropeTheta, Rope.Style ropeStyle,
                          boolean tiedEmbeddings, boolean qkvBias, RopeScaling ropeScaling) {

    public enum Family { GPT2, LLAMA }

    /**
     * HF's {@code rope_scaling}: {@code "linear"} divides every frequency by {@code factor}; {@code "llama3"} (Llama
     * 3.1) divides only the low frequencies, blending between {@code lowFreqFactor} and {@code highFreqFactor}
     * wavelengths of the original context.
     */
    public record RopeScaling(String type, double factor, double lowFreqFactor, double highFreqFactor,
                              int originalMaxPositions) {
        public RopeScaling {
            if (!"linear".equals(type) && !"llama3".equals(type)) {
                throw new UserError("model config: rope_scaling type '" + type
                        + "' is not supported (linear, llama3)");
            }
            if (!(factor > 0) || Double.isInfinite(factor)) {
                throw new UserError("model config: rope_scaling factor must be positive, got " + factor);
            }
            if ("llama3".equals(type) && (!(highFreqFactor > lowFreqFactor) || originalMaxPositions <= 0)) {
                throw new UserError("model config: llama3 rope_scaling needs high_freq_factor > "
                        + "low_freq_factor and original_max_position_embeddings > 0");
            }
        }

        /** The scaled inverse frequencies (HF {@code _compute_llama3_parameters} / linear scaling). */
        public float[] apply(float[] invFreq) {
            float[] out = invFreq.clone();
            for (int i = 0; i < out.length; i++) {
                double f = invFreq[i];
                if ("linear".equals(type)) {
                    out[i] = (float) (f / factor);
                    continue;
                }
                double wavelen = 2 * Math.PI / f;
                double lowWavelen = originalMaxPositions / lowFreqFactor;
                double highWavelen = originalMaxPositions / highFreqFactor;
                if (wavelen < highWavelen) {
                    out[i] = (float) f;
                } else if (wavelen > lowWavelen) {
                    out[i] = (float) (f / factor);
                } else {
                    double smooth = (originalMaxPositions / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                    out[i] = (float) ((1 - smooth) * f / factor + smooth * f);
                }
            }
            return out;
        }
    }

    public ModelConfig {
        if (family == null) {
            throw new UserError("model config: family is required (GPT2 or LLAMA)");
        }
        positive("vocabSize", vocabSize);
        positive("dim", dim);
        positive("layers", layers);
        positive("heads", heads);
        positive("kvHeads", kvHeads);
        positive("hiddenDim", hiddenDim);
        positive("maxSeqLen", maxSeqLen);
        if (dim % heads != 0) {
            throw new UserError("model config: dim " + dim + " is not divisible by heads " + heads);
        }
        if (heads % kvHeads != 0) {
            throw new UserError("model config: heads " + heads + " is not a multiple of kvHeads "
                    + kvHeads);
        }
        if (!(normEps > 0f) || Float.isInfinite(normEps)) {
            throw new UserError("model config: normEps must be a positive number, got " + normEps);
        }
        if (family == Family.GPT2) {
            if (kvHeads != heads) {
                throw new UserError("model config: GPT-2 has no grouped-query attention (kvHeads "
                        + kvHeads + " != heads " + heads + ")");
            }
            if (!tiedEmbeddings || !qkvBias) {
                throw new UserError("model config: GPT-2 always ties its embeddings and has biases");
            }
        } else {
            if ((dim / heads) % 2 != 0) {
                throw new UserError("model config: rotary embeddings need an even head dimension, got "
                        + dim / heads);
            }
            if (!(ropeTheta > 0) || Double.isInfinite(ropeTheta)) {
                throw new UserError("model config: ropeTheta must be a positive number, got "
                        + ropeTheta);
            }
            if (ropeStyle == null) {
                throw new UserError("model config: ropeStyle is required for the Llama family");
            }
        }
        if (ropeScaling != null && family == Family.GPT2) {
            throw new UserError("model config: GPT-2 has no rotary embeddings to scale");
        }
    }

    /** GPT-2 layout: MLP of 4·dim, LayerNorm epsilon 1e-5. */
    public static ModelConfig gpt2(int vocabSize, int dim, int layers, int heads, int maxSeqLen) {
        return new ModelConfig(Family.GPT2, vocabSize, dim, layers, heads, heads, 4 * dim, maxSeqLen, 1e-5f, 0,
                null, true, true, null);
    }

    /** Llama layout with the given sizes; HF checkpoints use {@link Rope.Style#ROTATE_HALF}. */
    public static ModelConfig llama(int vocabSize, int dim, int layers, int heads, int kvHeads, int hiddenDim,
                                    int maxSeqLen, float normEps, double ropeTheta, Rope.Style ropeStyle,
                                    boolean tiedEmbeddings, boolean qkvBias) {
        return new ModelConfig(Family.LLAMA, vocabSize, dim, layers, heads, kvHeads, hiddenDim, maxSeqLen, normEps,
                ropeTheta, ropeStyle, tiedEmbeddings, qkvBias, null);
    }

    /** The same configuration with another maximum sequence length (for example to size generation). */
    public ModelConfig withMaxSeqLen(int maxSeqLen) {
        return new ModelConfig(family, vocabSize, dim, layers, heads, kvHeads, hiddenDim, maxSeqLen, normEps, ropeTheta,
                ropeStyle, tiedEmbeddings, qkvBias, ropeScaling);
    }

    public int headDim() {
        return dim / heads;
    }

    /** Width of the fused q/k/v projection output. */
    public int qkvDim() {
        return (heads + 2 * kvHeads) * headDim();
    }

    /** Width of the first MLP projection: hiddenDim for GPT-2, 2·hiddenDim (gate and up fused) for Llama. */
    public int fcDim() {
        return family == Family.GPT2 ? hiddenDim : 2 * hiddenDim;
    }

    public boolean isGpt2() {
        return family == Family.GPT2;
    }

    private static void positive(String name, int v) {
        if (v <= 0) {
            throw new UserError("model config: " + name + " must be positive, got " + v);
        }
    }
}
