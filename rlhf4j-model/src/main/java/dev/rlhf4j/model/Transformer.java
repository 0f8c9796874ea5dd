package dev.rlhf4j.model;

import dev.rlhf4j.tensor.Activations;
import dev.rlhf4j.tensor.Attention;
import dev.rlhf4j.tensor.CrossEntropy;
import dev.rlhf4j.tensor.Embedding;
import dev.rlhf4j.tensor.F32Matrix;
import dev.rlhf4j.tensor.Gemm;
import dev.rlhf4j.tensor.LayerNorm;
import dev.rlhf4j.tensor.Linear;
import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.Residual;
import dev.rlhf4j.tensor.RmsNorm;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.TokenLogProbs;
import dev.rlhf4j.tensor.WeightMatrix;

import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A pre-norm causal transformer of the GPT-2 or Llama family with an LM head and/or a scalar head, written the
 * llm.c way: each step of the forward has its backward in reverse order in {@link #backward()}, parameters and
 * gradients live in {@link ParamArena}s with named views, and activations in a {@link Workspace} reused across
 * calls.
 *
 * <p>Use: {@link #forward(TokenBatch)} computes the final (normalised) hidden states and clears the hidden-state
 * gradient; the heads' losses then add into that gradient ({@link #lmLoss}, {@link #lmHeadBackward},
 * {@link #scalarHeadBackward}, or directly through {@link #hiddenGrad()}); {@link #backward()} propagates it and
 * accumulates every parameter gradient. Gradients accumulate across calls until {@link #zeroGrad()}.
 *
 * <p>A model is used by one thread at a time.
 */
public final class Transformer {
    /**
     * Logits materialised at once by {@link #lmLoss}: 64M floats (256 MB) by default, {@code
     * -Drlhf4j.lmHead.chunkFloats}
     * to change. Larger chunks read and write the head-weight gradient fewer times.
     */
    private static final long LOGITS_CHUNK_FLOATS = Long.getLong("rlhf4j.lmHead.chunkFloats", 1L << 26);

    private final ModelConfig config;
    private final OutputHeads heads;
    /** The weights; under LoRA, the frozen base, which other models (the reference) may share. */
    private final ParamArena params;
    /** Allocated on first use, so that models used only for inference never hold gradients. */
    private ParamArena grads;
    /** The LoRA adapters, or null for a model trained (or used) in full. */
    private final Lora lora;
    /**
     * The matrices held packed (bfloat16 or Q8_0, frozen), or null when {@link #params} holds every weight as
     * float32; when packed, {@link #params} holds only the rest (norms, biases, position embedding, ...).
     */
    private final PackedWeights packed;
    private boolean frozen;
    private final Rope rope;
    private Workspace ws;
    private TokenBatch batch;
    private boolean gradientCheckpointing;

    /** A model with all parameters zero; see {@link #initialize(long)}. */
    public Transformer(ModelConfig config, OutputHeads heads) {
        this(config, heads, layout(config, heads).allocate());
    }

    private Transformer(ModelConfig config, OutputHeads heads, ParamArena params) {
        this(config, heads, params, null);
    }

    private Transformer(ModelConfig config, OutputHeads heads, ParamArena params, Lora lora) {
        this(config, heads, params, lora, null);
    }

    private Transformer(ModelConfig config, OutputHeads heads, ParamArena params, Lora lora, PackedWeights packed) {
        this.config = config;
        this.heads = heads;
        this.params = params;
        this.lora = lora;
        this.packed = packed;
        this.rope = config.isGpt2() ? null : rope(config);
        if (heads.scalar() && !params.has(Lora.SCORE) && (lora == null || !lora.hasScore())) {
            throw new IllegalArgumentException("a model with a scalar head needs " + Lora.SCORE);
        }
    }

    /**
     * This model with fresh LoRA adapters and output heads {@code newHeads}: the new model shares this one's weights
     * (they stay frozen: only the adapters, and a scalar head when it has one, are trained) and has its own workspace.
     * A scalar head starts from this model's {@code score.weight} when it has one, else from zero. This model itself
     * is left as it is and can serve as the frozen reference, with no second copy of the weights (TRL's PPO with
     * PEFT does the same).
     */
    public Transformer withLora(LoraConfig loraConfig, OutputHeads newHeads, long seed) {
        requireNoAdapters("add adapters");
        Tensor score = newHeads.scalar() && params.has(Lora.SCORE) ? params.get(Lora.SCORE) : null;
        return new Transformer(config, newHeads, params, Lora.create(loraConfig, config, newHeads.scalar(), score,
                seed), packedFor(newHeads));
    }

    /** This model (its weights shared) with the given adapters, e.g. read from a PEFT directory. */
    public Transformer withAdapters(Lora adapters, OutputHeads newHeads) {
        requireNoAdapters("add adapters");
        return new Transformer(config, newHeads, params, adapters, packedFor(newHeads));
    }

    /** The adapters, or null when the model has none. */
    public Lora lora() {
        return lora;
    }

    public boolean hasAdapters() {
        return lora != null;
    }

    /**
     * The base model without the adapters: a frozen model sharing these weights (for LoRA, the PPO or DPO reference:
     * the starting policy, held once). The model itself when it has no adapters is not frozen by this call.
     */
    public Transformer withoutAdapters() {
        if (lora == null) {
            return this;
        }
        OutputHeads base = heads.scalar() && !params.has(Lora.SCORE) ? OutputHeads.LM : heads;
        Transformer t = new Transformer(config, base, params, null, packedFor(base));
        t.freeze();
        return t;
    }

    /**
     * This model's packed weights for a model with heads {@code newHeads} on the same base: the same object, unless
     * an LM head is added to a base packed without one (it then has no packed head to share).
     */
    private PackedWeights packedFor(OutputHeads newHeads) {
        if (packed != null && newHeads.lm() && packed.lmHead() == null) {
            throw new IllegalStateException("the packed base has no LM head to share; pack a model that has one");
        }
        return packed;
    }

    /**
     * A frozen copy of this model with its matrices (every block projection, the LM head, and the token embedding
     * when tied) packed as {@code dtype}: half the bytes for bfloat16, a little over a quarter for Q8_0, and as
     * much less memory traffic per decoded token; the rest stays float32. It runs every forward, {@link #logits},
     * {@link #lmLoss} and {@link #tokenLogProbs} without a backward, the {@link KvCacheDecoder}, and
     * {@link #withLora} (adapters trained over the packed base: gradients flow through it to the adapters below).
     * {@link #params()} fails on it (the arena would lack the matrices): {@link #unpacked()} gives a float32 model
     * to save or train. FP32 returns this model.
     */
    public Transformer packed(WeightDtype dtype) {
        if (dtype == WeightDtype.FP32) {
            return this;
        }
        requireNoAdapters("pack the weights");
        if (packed != null) {
            throw new IllegalStateException("the model is already packed as " + packed.dtype().label());
        }
        PackedWeights pw = PackedWeights.pack(config, heads, params, dtype);
        return packedModel(config, heads, restOf(config, heads, params, pw.dtype()), pw);
    }

    /** A frozen packed model over {@code rest} (an arena of {@link #restLayout}) and {@code pw}. */
    static Transformer packedModel(ModelConfig config, OutputHeads heads, ParamArena rest, PackedWeights pw) {
        Transformer t = new Transformer(config, heads, rest, null, pw);
        t.freeze();
        return t;
    }

    /**
     * A frozen packed model from matrices already packed as {@code dtype} (e.g. Q8_0 tensors read from a GGUF file
     * as they are), named as in {@link #layout} (every block projection, the LM head, and {@code wte} when tied),
     * and {@code rest}, an arena of {@link #restLayout} holding everything else.
     */
    public static Transformer packedFrom(ModelConfig config, OutputHeads heads, ParamArena rest, WeightDtype dtype,
                                         Map<String, WeightMatrix> matrices) {
        return packedModel(config, heads, rest, PackedWeights.of(config, heads, dtype, matrices));
    }

    /** The parameters a packed model holds packed: every block projection, the LM head, {@code wte} when tied. */
    public static Set<String> packedNames(ModelConfig c, OutputHeads heads) {
        return PackedWeights.names(c, heads);
    }

    /** The layout of what a packed model keeps in float32: the full layout less its packed matrices. */
    public static ParamArena.Layout restLayout(ModelConfig c, OutputHeads heads) {
        return layout(c, heads).without(PackedWeights.names(c, heads));
    }

    private static ParamArena restOf(ModelConfig c, OutputHeads heads, ParamArena params, WeightDtype dtype) {
        ParamArena rest = restLayout(c, heads).allocate();
        for (ParamArena.Entry e : rest.entries()) {
            rest.get(e.name()).copyFrom(params.get(e.name()));
        }
        return rest;
    }

    /** Whether the matrices are held packed ({@link #packed}). */
    public boolean isPacked() {
        return packed != null;
    }

    /** How the matrices are stored. */
    public WeightDtype weightDtype() {
        return packed == null ? WeightDtype.FP32 : packed.dtype();
    }

    /** Bytes held by the base weights: the float32 arena plus the packed matrices (adapters not included). */
    public long weightBytes() {
        return 4L * params.size() + (packed == null ? 0 : packed.bytes());
    }

    /**
     * A float32 model with the same weights (packed ones widened exactly: a bfloat16 or Q8_0 value is a float32)
     * and the same adapters: to save, merge or train in full. A float32 model returns itself.
     */
    public Transformer unpacked() {
        if (packed == null) {
            return this;
        }
        ParamArena full = layout(config, heads).allocate();
        for (ParamArena.Entry e : full.entries()) {
            WeightMatrix w = packed.get(e.name());
            if (w != null) {
                full.get(e.name()).copyFrom(w.toF32());
            } else if (params.has(e.name())) {
                full.get(e.name()).copyFrom(params.get(e.name()));
            } // else a scalar head that lives with the adapters (the merge copies it in)
        }
        return new Transformer(config, heads, full, lora == null ? null : lora.copy(config));
    }

    /**
     * A plain model whose weights are the base with every adapter merged in ({@code W + s·B·A}) and the trained scalar
     * head, its own copy: what {@code convert --merge-lora} writes, and how an adapter is used where a full model is
     * expected. Without adapters, a copy.
     */
    public Transformer merged() {
        if (packed != null) {
            return unpacked().merged();
        }
        if (lora == null) {
            return copy();
        }
        Transformer t = new Transformer(config, heads);
        for (ParamArena.Entry e : t.params.entries()) {
            if (params.has(e.name())) {
                t.params.get(e.name()).copyFrom(params.get(e.name()));
            }
        }
        lora.mergeInto(t.params);
        return t;
    }

    /**
     * The parameters an optimizer updates: every weight, or under LoRA the adapters (and the scalar head); what a
     * checkpoint saves and {@link #grads()} mirrors.
     */
    public ParamArena trainable() {
        return lora != null ? lora.params() : params();
    }

    /** Number of trained parameters ({@link #parameterCount()} without adapters). */
    public long trainableCount() {
        return trainable().size();
    }

    /**
     * Training mode: dropout (LoRA's, the only dropout rlhf4j has) applies in the forwards that follow; off by
     * default, and for every forward of a model used for inference.
     */
    public void train(boolean on) {
        if (lora != null) {
            lora.train(on);
        }
    }

    /** Restarts the dropout stream from {@code seed} (a trainer calls it once per step, so resumed runs match). */
    public void dropoutSeed(long seed) {
        if (lora != null) {
            lora.dropoutSeed(seed);
        }
    }

    private void requireNoAdapters(String what) {
        if (lora != null) {
            throw new IllegalStateException("cannot " + what + " to a model that has adapters; merge them first");
        }
    }

    /** Layer {@code l}'s weights and adapters, as the forwards apply them. */
    LayerWeights layer(int l) {
        return LayerWeights.of(params, l, lora, packed == null ? null : packed.layer(l));
    }

    /** Layer {@code l} with its projections read from {@code pw} instead (the decoder's packed copy). */
    LayerWeights layer(int l, PackedWeights pw) {
        return LayerWeights.of(params, l, lora, pw == null ? null : pw.layer(l));
    }

    /** The weights held as float32: all of them, or for a packed model the rest (for the model's own kernels). */
    ParamArena arena() {
        return params;
    }

    /** The packed weights, or null. */
    PackedWeights packedWeights() {
        return packed;
    }

    /** The scalar head's weight (the trained copy under LoRA), or null for a model without a scalar head. */
    Tensor scalarHeadWeight() {
        return heads.scalar() ? scoreWeight() : null;
    }

    /** The scalar head's weight: the trained copy under LoRA. */
    private Tensor scoreWeight() {
        return lora != null && lora.hasScore() ? lora.params().get(Lora.SCORE) : p(Lora.SCORE);
    }

    private Tensor scoreGrad() {
        ParamArena g = grads();
        return g == null || !g.has(Lora.SCORE) ? null : g.get(Lora.SCORE);
    }

    /** The rotary embedding of a Llama-family configuration, scaled as the configuration says. */
    static Rope rope(ModelConfig c) {
        float[] inv = Rope.inverseFrequencies(c.headDim(), c.ropeTheta());
        if (c.ropeScaling() != null) {
            inv = c.ropeScaling().apply(inv);
        }
        return new Rope(c.headDim(), c.maxSeqLen(), inv, c.ropeStyle());
    }

    /** A model initialised GPT-2 style from {@code seed} (see {@link #initialize(long)}). */
    public static Transformer create(ModelConfig config, OutputHeads heads, long seed) {
        Transformer m = new Transformer(config, heads);
        m.initialize(seed);
        return m;
    }

    /** Every parameter's name and shape; decayed tensors are the matrices (and embeddings), not norms or biases. */
    public static ParamArena.Layout layout(ModelConfig c, OutputHeads heads) {
        ParamArena.Layout l = new ParamArena.Layout();
        int d = c.dim();
        boolean gpt2 = c.isGpt2();
        l.add("wte", true, c.vocabSize(), d);
        if (gpt2) {
            l.add("wpe", true, c.maxSeqLen(), d);
        }
        for (int i = 0; i < c.layers(); i++) {
            String p = "h." + i + ".";
            l.add(p + "ln1.weight", false, d);
            if (gpt2) {
                l.add(p + "ln1.bias", false, d);
            }
            l.add(p + "attn.qkv.weight", true, c.qkvDim(), d);
            if (c.qkvBias()) {
                l.add(p + "attn.qkv.bias", false, c.qkvDim());
            }
            l.add(p + "attn.proj.weight", true, d, c.heads() * c.headDim());
            if (gpt2) {
                l.add(p + "attn.proj.bias", false, d);
            }
            l.add(p + "ln2.weight", false, d);
            if (gpt2) {
                l.add(p + "ln2.bias", false, d);
            }
            l.add(p + "mlp.fc.weight", true, c.fcDim(), d);
            if (gpt2) {
                l.add(p + "mlp.fc.bias", false, c.fcDim());
            }
            l.add(p + "mlp.proj.weight", true, d, c.hiddenDim());
            if (gpt2) {
                l.add(p + "mlp.proj.bias", false, d);
            }
        }
        l.add("ln_f.weight", false, d);
        if (gpt2) {
            l.add("ln_f.bias", false, d);
        }
        if (heads.lm() && !c.tiedEmbeddings()) {
            l.add("lm_head.weight", true, c.vocabSize(), d);
        }
        if (heads.scalar()) {
            l.add("score.weight", true, 1, d);
        }
        return l;
    }

    /**
     * GPT-2's initialisation (Radford et al. 2019; HF {@code GPT2PreTrainedModel._init_weights}): weights and
     * embeddings ~ N(0, 0.02), the two residual output projections ~ N(0, 0.02/√(2·layers)), biases 0, norm
     * weights 1. Draws are taken in layout order from one {@link Rng}, so a seed always gives the same model.
     */
    public void initialize(long seed) {
        Rng rng = new Rng(seed);
        double residualStd = 0.02 / Math.sqrt(2.0 * config.layers());
        for (ParamArena.Entry e : params.entries()) {
            Tensor t = params.get(e.name());
            String n = e.name();
            if (n.endsWith(".bias")) {
                t.zero();
            } else if (n.startsWith("ln") || n.contains(".ln")) {
                t.fill(1f);
            } else if (n.endsWith("attn.proj.weight") || n.endsWith("mlp.proj.weight")) {
                rng.fillNormal(t, residualStd);
            } else {
                rng.fillNormal(t, 0.02);
            }
        }
    }

    public ModelConfig config() {
        return config;
    }

    public OutputHeads heads() {
        return heads;
    }

    /**
     * Every weight as float32 (under LoRA, the frozen base). Fails on a packed model, whose arena lacks the packed
     * matrices: {@link #unpacked()} first.
     */
    public ParamArena params() {
        if (packed != null) {
            throw new IllegalStateException("the model's matrices are packed as " + packed.dtype().label()
                    + ", so it has no float32 arena of all its weights; use unpacked() to save, copy or train it");
        }
        return params;
    }

    /** The gradients (allocated, zero, on first use), or null once frozen. */
    public ParamArena grads() {
        if (frozen) {
            return null;
        }
        if (lora != null) {
            return lora.grads();
        }
        if (grads == null) {
            grads = params.zerosLike("the gradients");
        }
        return grads;
    }

    public boolean frozen() {
        return frozen;
    }

    /**
     * Drops the gradients: the model can still run forward (a reference or reward model) but not backward, so from the
     * next forward on its workspace keeps one layer's activations rather than every layer's.
     */
    public void freeze() {
        frozen = true;
        grads = null;
        if (lora != null) {
            lora.train(false);
        }
        if (ws != null) {
            ws.dropGradBuffers();
        }
    }

    /**
     * A model with other heads on the same backbone: shared parameters are copied, new ones (a scalar head on a
     * language model, say, to start a reward model from an SFT model) are initialised as {@link #initialize} would,
     * from {@code seed}. HF's {@code AutoModelForSequenceClassification.from_pretrained} on a causal LM does the same.
     */
    public Transformer withHeads(OutputHeads newHeads, long seed) {
        requireNoAdapters("change the heads");
        if (packed != null) {
            return unpacked().withHeads(newHeads, seed);
        }
        Transformer t = create(config, newHeads, seed);
        for (ParamArena.Entry e : t.params.entries()) {
            if (params.has(e.name())) {
                t.params.get(e.name()).copyFrom(params.get(e.name()));
            }
        }
        return t;
    }

    /**
     * A deep copy of the parameters (trainable, gradients zero), with its own workspace; under LoRA the base stays
     * shared and the adapters are copied.
     */
    public Transformer copy() {
        if (lora != null) {
            return new Transformer(config, heads, params, lora.copy(config), packed);
        }
        if (packed != null) {
            return packedModel(config, heads, params.copy(), packed);
        }
        return new Transformer(config, heads, params.copy());
    }

    /** A frozen deep copy, as PPO's reference model. */
    public Transformer frozenCopy() {
        Transformer t = copy();
        t.freeze();
        return t;
    }

    public void zeroGrad() {
        requireTrainable();
        grads().zero();
    }

    /** Bytes held by the gradients (0 until the first backward, or when frozen). */
    public long gradientBytes() {
        return lora != null ? (frozen ? 0 : lora.gradientBytes()) : grads == null ? 0 : 4 * grads.size();
    }

    /** Number of parameters of the model (the base's, without adapters). */
    public long parameterCount() {
        return params.size() + (packed == null ? 0 : packed.elements());
    }

    /** The LM head weight: the token embedding when tied. Fails on a packed model: {@link #lmHead()}. */
    public Tensor lmHeadWeight() {
        if (!heads.lm()) {
            throw new IllegalStateException("this model has no LM head");
        }
        return params().get(config.tiedEmbeddings() ? "wte" : "lm_head.weight");
    }

    /** The LM head in its storage type (a view of {@link #lmHeadWeight()} for a float32 model). */
    public WeightMatrix lmHead() {
        if (!heads.lm()) {
            throw new IllegalStateException("this model has no LM head");
        }
        return packed != null ? packed.lmHead() : new F32Matrix(lmHeadWeight());
    }

    /** {@code out[i] = wte[tokens[i]]}: the token embedding, from the packed table when it is packed. */
    void embedTokens(int[] tokens, Tensor out, PackedWeights pw) {
        if (pw != null && pw.wte() != null) {
            pw.wte().gatherRows(tokens, out, false);
        } else {
            Embedding.forward(tokens, params.get("wte"), out, false);
        }
    }

    /** The LM head's gradient; null under LoRA (the head stays frozen, as PEFT leaves it). */
    private Tensor lmHeadGrad() {
        return lora != null ? null : grads.get(config.tiedEmbeddings() ? "wte" : "lm_head.weight");
    }

    private Tensor p(String name) {
        return params.get(name);
    }

    /** A base weight's gradient, or null when there is none (frozen, or the base under LoRA). */
    private Tensor g(String name) {
        return grads == null || lora != null ? null : grads.get(name);
    }

    private Tensor gOpt(String name) {
        return grads == null || lora != null || !grads.has(name) ? null : grads.get(name);
    }

    private Tensor pOpt(String name) {
        return params.has(name) ? params.get(name) : null;
    }

    // ------------------------------------------------------------------ forward

    /**
     * Runs the backbone on {@code batch} and returns the final normalised hidden states {@code [batch·seq, dim]}
     * (a view into the workspace, valid until the next forward). Clears the hidden-state gradient.
     */
    public Tensor forward(TokenBatch batch) {
        int n = batch.rows();
        if (batch.seq() > config.maxSeqLen()) {
            throw new IllegalArgumentException("sequence length " + batch.seq() + " exceeds the model's maximum of "
                    + config.maxSeqLen());
        }
        for (int i = 0; i < n; i++) {
            if (batch.positions()[i] < 0 || batch.positions()[i] >= config.maxSeqLen()) {
                throw new IllegalArgumentException("position " + batch.positions()[i] + " at row " + i
                        + " is outside [0, " + config.maxSeqLen() + ")");
            }
        }
        this.batch = batch;
        if (lora != null) {
            lora.beginForward();
        }
        Workspace w = workspace(batch.batch(), batch.seq());
        int d = config.dim();
        boolean gpt2 = config.isGpt2();
        Attention.Dims dims = attentionDims(batch);
        Tensor x = w.res(0, n);
        embedTokens(batch.tokens(), x, packed);
        if (gpt2) {
            Embedding.forward(batch.positions(), p("wpe"), x, true);
        }
        for (int l = 0; l < config.layers(); l++) {
            block(l, w, batch, dims, false);
        }
        w.heldBlock = config.layers() - 1;
        Tensor last = w.res(config.layers(), n);
        Tensor out = w.view(w.lnf, n, d);
        if (gpt2) {
            LayerNorm.forward(last, p("ln_f.weight"), p("ln_f.bias"), out, w.lnfMean, w.lnfRstd, config.normEps());
        } else {
            RmsNorm.forward(last, p("ln_f.weight"), out, w.lnfRstd, config.normEps());
        }
        if (w.dHidden != null) {
            w.view(w.dHidden, n, d).zero();
        }
        return out;
    }

    /**
     * Block {@code l}'s forward from its input {@code res[l]}: every activation its backward reads goes to the
     * workspace's buffers of layer {@code l} (under checkpointing, the one set all layers share), and, unless
     * {@code recompute}, its output to {@code res[l + 1]}. The backward's recompute stops before the MLP's down
     * projection: nothing it produces is read by the backward, and the output it would write is already there.
     */
    private void block(int l, Workspace w, TokenBatch b, Attention.Dims dims, boolean recompute) {
        int n = b.rows(), d = config.dim();
        LayerWeights k = layer(l);
        Tensor in = w.res(l, n);
        Tensor ln1 = w.view(w.ln1[l], n, d);
        Tensor qkv = w.view(w.qkv[l], n, config.qkvDim());
        k.attentionInput(config, rope, b.positions(), in, ln1, w.ln1Mean[l], w.ln1Rstd[l], qkv, false);
        Tensor atty = w.view(w.atty[l], n, config.heads() * config.headDim());
        Attention.forward(dims, qkv, b.mask(), b.segmentStarts(), atty, w.probs[l], w.attnScratch);
        Tensor proj = w.view(w.tmp, n, d);
        k.project(LoraConfig.Target.ATTN_OUT, atty, proj, false);
        Tensor mid = w.view(w.resMid[l], n, d);
        Residual.forward(in, proj, mid);
        Tensor ln2 = w.view(w.ln2[l], n, d), fc = w.view(w.fc[l], n, config.fcDim());
        Tensor act = w.view(w.act[l], n, config.hiddenDim());
        if (recompute) {
            k.feedForwardHidden(config, mid, ln2, w.ln2Mean[l], w.ln2Rstd[l], fc, act, false);
        } else {
            k.feedForward(config, mid, ln2, w.ln2Mean[l], w.ln2Rstd[l], fc, act, proj, false);
            Residual.forward(mid, proj, w.res(l + 1, n));
        }
    }

    /**
     * Per-block activation checkpointing (Chen et al. 2016, "Training deep nets with sublinear memory cost"; HF's
     * {@code gradient_checkpointing_enable}): the forward keeps only each block's input, and the backward recomputes
     * one block's activations at a time, in one layer-sized set of buffers, just before that block's backward. The
     * workspace then holds {@code (layers + 1)·rows·dim} floats of block inputs plus ONE layer's activations (among
     * them its attention probabilities {@code [batch, heads, seq, seq]}) instead of every layer's, for about one more
     * forward of compute (less the last block's and every MLP down projection). The recompute runs the same kernels
     * on the same inputs with the same thread count, and replays LoRA's dropout masks (it is not a new forward), so
     * losses and gradients are bit-identical to training without it. Off by default; takes effect at the next
     * forward. Not copied by {@link #copy()} or the {@code with...} methods.
     */
    public void gradientCheckpointing(boolean on) {
        gradientCheckpointing = on;
    }

    /** Whether {@link #gradientCheckpointing(boolean)} is on. */
    public boolean gradientCheckpointing() {
        return gradientCheckpointing;
    }

    /** The final hidden states of the last forward. */
    public Tensor hidden() {
        requireForward();
        return ws.view(ws.lnf, batch.rows(), config.dim());
    }

    /** The gradient with respect to the final hidden states, which heads add into before {@link #backward()}. */
    public Tensor hiddenGrad() {
        requireTrainable();
        requireForward();
        ws.ensureGradBuffers();
        return ws.view(ws.dHidden, batch.rows(), config.dim());
    }

    private Attention.Dims attentionDims(TokenBatch b) {
        return new Attention.Dims(b.batch(), b.seq(), config.heads(), config.kvHeads(), config.headDim());
    }

    // ------------------------------------------------------------------ heads

    /** Full logits {@code [rows, vocab]} of the last forward into {@code out} (for generation and tests). */
    public void logits(Tensor out) {
        requireForward();
        lmHead().forward(hidden(), null, out);
    }

    /** Full logits of the last forward in a new tensor. */
    public Tensor logits() {
        Tensor out = Tensor.zeros(batch.rows(), config.vocabSize());
        logits(out);
        return out;
    }

    /**
     * Backward of {@link #logits}: adds {@code dlogits·W} to the hidden-state gradient and {@code dlogitsᵀ·h} to
     * the head's weight gradient.
     */
    public void lmHeadBackward(Tensor dlogits) {
        requireTrainable();
        requireForward();
        headBackward(dlogits, hidden(), hiddenGrad(), lmHeadGrad());
    }

    /** {@code dh += dlogits·W}, and {@code dW += dlogitsᵀ·h} unless {@code dW} is null (a frozen or packed head). */
    private void headBackward(Tensor dlogits, Tensor h, Tensor dh, Tensor dW) {
        if (packed != null) {
            packed.lmHead().backwardInput(dlogits, dh, true);
        } else {
            Linear.backward(dlogits, h, lmHeadWeight(), dh, true, dW, null);
        }
    }

    /**
     * Cross-entropy of the LM head against {@code targets} (per row of the last forward; {@link
     * CrossEntropy#IGNORE_INDEX} to skip a row) with optional per-row weights, computed over chunks of rows so that
     * the full logits matrix never exists. Returns {@code Σ w_i·loss_i}. When {@code backward}, the gradient of
     * {@code scale·Σ w_i·loss_i} is added to the head's weight gradient and the hidden-state gradient, ready for
     * {@link #backward()}.
     */
    public double lmLoss(int[] targets, float[] weights, float scale, boolean backward) {
        requireForward();
        if (backward) {
            requireTrainable();
        }
        int n = batch.rows(), v = config.vocabSize(), d = config.dim();
        if (targets.length != n) {
            throw new IllegalArgumentException("lm loss: " + targets.length + " targets for " + n + " rows ("
                    + batch.batch() + " x " + batch.seq() + ")");
        }
        if (weights != null && weights.length != n) {
            throw new IllegalArgumentException("lm loss: " + weights.length + " weights for " + n + " rows");
        }
        int chunkRows = (int) Math.max(1, Math.min(n, LOGITS_CHUNK_FLOATS / v));
        Workspace w = ws;
        w.ensureLogitsChunk(chunkRows * v);
        Tensor h = hidden();
        WeightMatrix wHead = lmHead();
        Tensor dh = backward ? hiddenGrad() : null;
        Tensor dW = backward ? lmHeadGrad() : null;
        double total = 0;
        int[] tChunk = new int[chunkRows];
        float[] wChunk = weights == null ? null : new float[chunkRows];
        for (int r0 = 0; r0 < n; r0 += chunkRows) {
            int rows = Math.min(chunkRows, n - r0);
            Tensor logits = Tensor.view(w.logitsChunk, 0, rows, v);
            Tensor hc = h.slice(r0, r0 + rows);
            wHead.forward(hc, null, logits);
            System.arraycopy(targets, r0, tChunk, 0, rows);
            if (wChunk != null) {
                System.arraycopy(weights, r0, wChunk, 0, rows);
            }
            total += CrossEntropy.forward(logits, tChunk, wChunk, scale, backward, null);
            if (backward) {
                headBackward(logits, hc, dh.slice(r0, r0 + rows), dW);
            }
        }
        return total;
    }

    /**
     * Log-probabilities of {@code tokens[i]} under the LM head at row {@code rows[i]} of the last forward (logits
     * divided by {@code temperature}), and the entropies of those rows' distributions when {@code entropy} is not
     * null, computed over vocabulary chunks (see {@link TokenLogProbs}): what PPO needs per response token.
     */
    public TokenLogProbs.Saved tokenLogProbs(int[] rows, int[] tokens, float temperature, float[] logp,
                                             float[] entropy) {
        return tokenLogProbs(rows, tokens, temperature, logp, entropy, false);
    }

    /**
     * As {@link #tokenLogProbs(int[], int[], float, float[], float[])}; {@code forBackward} says that
     * {@link #tokenLogProbsBackward} follows without an entropy gradient, so that a frozen head (LoRA, packed) keeps
     * what lets that backward skip the logits' recomputation (see {@link TokenLogProbs}).
     */
    public TokenLogProbs.Saved tokenLogProbs(int[] rows, int[] tokens, float temperature, float[] logp,
                                             float[] entropy, boolean forBackward) {
        requireForward();
        boolean frozenHead = lora != null || packed != null;
        return TokenLogProbs.forward(gatherRows(rows), lmHead(), tokens, temperature, logp, entropy,
                forBackward && frozenHead);
    }

    /**
     * Backward of {@link #tokenLogProbs}: adds the gradient of {@code Σ dlogp_i·log p_i + Σ dentropy_i·H_i} to the
     * head's weight gradient and to the hidden-state gradient at {@code rows}, ready for {@link #backward()}.
     */
    public void tokenLogProbsBackward(int[] rows, int[] tokens, float temperature, TokenLogProbs.Saved saved,
                                      float[] dlogp, float[] dentropy) {
        requireTrainable();
        requireForward();
        int d = config.dim();
        Tensor dh = Tensor.zeros(rows.length, d);
        TokenLogProbs.backward(gatherRows(rows), lmHead(), tokens, temperature, saved, dlogp, dentropy, dh,
                lmHeadGrad());
        Tensor g = hiddenGrad();
        float[] gd = g.data(), src = dh.data();
        for (int i = 0; i < rows.length; i++) {
            int at = g.offset() + rows[i] * d;
            for (int k = 0; k < d; k++) {
                gd[at + k] += src[i * d + k];
            }
        }
    }

    private Tensor gatherRows(int[] rows) {
        Tensor h = hidden();
        int n = batch.rows(), d = config.dim();
        Tensor out = Tensor.zeros(rows.length, d);
        for (int i = 0; i < rows.length; i++) {
            if (rows[i] < 0 || rows[i] >= n) {
                throw new IllegalArgumentException("row " + rows[i] + " is outside the " + n + " rows of the batch");
            }
            System.arraycopy(h.data(), h.offset() + rows[i] * d, out.data(), i * d, d);
        }
        return out;
    }

    /** The scalar head ({@code score.weight}) at every row of the last forward: {@code out[i] = h_i · w}. */
    public void scalarHead(float[] out) {
        requireForward();
        if (!heads.scalar()) {
            throw new IllegalStateException("this model has no scalar head");
        }
        int n = batch.rows();
        if (out.length < n) {
            throw new IllegalArgumentException("scalar head: output of " + out.length + " for " + n + " rows");
        }
        Tensor h = hidden();
        Tensor wv = scoreWeight();
        Gemm.sgemm(false, true, n, 1, config.dim(), 1f, h.data(), h.offset(), config.dim(), wv.data(), wv.offset(),
                config.dim(), 0f, out, 0, 1);
    }

    /**
     * Backward of {@link #scalarHead}: adds {@code dvalues_i · w} to the hidden gradient, {@code Σ dvalues_i·h_i} to
     * w's.
     */
    public void scalarHeadBackward(float[] dvalues) {
        requireTrainable();
        requireForward();
        int n = batch.rows();
        if (dvalues.length < n) {
            throw new IllegalArgumentException("scalar head backward: " + dvalues.length + " gradients for " + n
                    + " rows");
        }
        Tensor dv = Tensor.view(dvalues, 0, n, 1);
        Linear.backward(dv, hidden(), scoreWeight(), hiddenGrad(), true, lora != null ? scoreGrad()
                : g(Lora.SCORE), null);
    }

    // ------------------------------------------------------------------ backward

    /**
     * Propagates the hidden-state gradient through the backbone, adding every parameter's gradient into
     * {@link #grads()}.
     */
    public void backward() {
        requireTrainable();
        requireForward();
        Workspace w = ws;
        w.ensureGradBuffers();
        TokenBatch b = batch;
        int n = b.rows(), d = config.dim();
        boolean gpt2 = config.isGpt2();
        Attention.Dims dims = attentionDims(b);
        Tensor dres = w.view(w.dres, n, d);
        dres.zero();
        Tensor dHidden = w.view(w.dHidden, n, d);
        Tensor last = w.res(config.layers(), n);
        if (gpt2) {
            LayerNorm.backward(dHidden, last, p("ln_f.weight"), w.lnfMean, w.lnfRstd, dres, g("ln_f.weight"),
                    g("ln_f.bias"));
        } else {
            RmsNorm.backward(dHidden, last, p("ln_f.weight"), w.lnfRstd, dres, g("ln_f.weight"));
        }
        Tensor dln = w.view(w.dln, n, d);
        for (int l = config.layers() - 1; l >= 0; l--) {
            if (w.sharedLayers && w.heldBlock != l) {
                // the forward kept the block inputs and the last block's activations: recompute block l's
                block(l, w, b, dims, true);
                w.heldBlock = l;
            }
            String pre = "h." + l + ".";
            LayerWeights k = layer(l);
            Tensor in = w.res(l, n);
            Tensor mid = w.view(w.resMid[l], n, d);
            // MLP: out = mid + proj(act(fc(norm2(mid))))
            Tensor act = w.view(w.act[l], n, config.hiddenDim());
            Tensor dact = w.view(w.dact, n, config.hiddenDim());
            k.projectBackward(LoraConfig.Target.MLP_OUT, dres, act, dact, false, g(pre + "mlp.proj.weight"),
                    gOpt(pre + "mlp.proj.bias"));
            Tensor fc = w.view(w.fc[l], n, config.fcDim());
            Tensor dfc = w.view(w.dfc, n, config.fcDim());
            if (gpt2) {
                Activations.geluBackward(fc, dact, dfc);
            } else {
                Activations.swigluBackward(fc, dact, dfc);
            }
            Tensor ln2 = w.view(w.ln2[l], n, d);
            k.projectBackward(LoraConfig.Target.MLP_IN, dfc, ln2, dln, false, g(pre + "mlp.fc.weight"),
                    gOpt(pre + "mlp.fc.bias"));
            if (gpt2) {
                LayerNorm.backward(dln, mid, p(pre + "ln2.weight"), w.ln2Mean[l], w.ln2Rstd[l], dres,
                        g(pre + "ln2.weight"), g(pre + "ln2.bias"));
            } else {
                RmsNorm.backward(dln, mid, p(pre + "ln2.weight"), w.ln2Rstd[l], dres, g(pre + "ln2.weight"));
            }
            // Attention: mid = in + proj(attn(qkv(norm1(in))))
            Tensor atty = w.view(w.atty[l], n, config.heads() * config.headDim());
            Tensor datty = w.view(w.datty, n, config.heads() * config.headDim());
            k.projectBackward(LoraConfig.Target.ATTN_OUT, dres, atty, datty, false, g(pre + "attn.proj.weight"),
                    gOpt(pre + "attn.proj.bias"));
            Tensor qkv = w.view(w.qkv[l], n, config.qkvDim());
            Tensor dqkv = w.view(w.dqkv, n, config.qkvDim());
            Attention.backward(dims, datty, qkv, w.probs[l], dqkv, w.attnScratch);
            if (rope != null) {
                rope.backward(dqkv, b.positions(), config.heads() + config.kvHeads());
            }
            Tensor ln1 = w.view(w.ln1[l], n, d);
            k.projectBackward(LoraConfig.Target.QKV, dqkv, ln1, dln, false, g(pre + "attn.qkv.weight"),
                    gOpt(pre + "attn.qkv.bias"));
            if (gpt2) {
                LayerNorm.backward(dln, in, p(pre + "ln1.weight"), w.ln1Mean[l], w.ln1Rstd[l], dres,
                        g(pre + "ln1.weight"), g(pre + "ln1.bias"));
            } else {
                RmsNorm.backward(dln, in, p(pre + "ln1.weight"), w.ln1Rstd[l], dres, g(pre + "ln1.weight"));
            }
        }
        if (lora == null) {
            Embedding.backward(b.tokens(), dres, g("wte"));
            if (gpt2) {
                Embedding.backward(b.positions(), dres, g("wpe"));
            }
        }
    }

    // ------------------------------------------------------------------ workspace

    private Workspace workspace(int batchSize, int seq) {
        long rows = (long) batchSize * seq;
        long probs = (long) batchSize * config.heads() * seq * seq;
        // a frozen model never runs a backward, so one layer's activations are all it needs, as under checkpointing
        boolean shared = gradientCheckpointing || frozen;
        if (ws == null || rows > ws.rowsCap || probs > ws.probsCap || ws.sharedLayers != shared) {
            if (rows * Math.max(config.fcDim(), config.qkvDim()) > Integer.MAX_VALUE - 16
                    || probs > Integer.MAX_VALUE - 16) {
                throw new IllegalArgumentException("batch [" + batchSize + ", " + seq + "] is too large for one "
                        + "activation buffer; use smaller micro-batches");
            }
            ws = null; // the old buffers can be collected while the new ones are allocated
            ws = new Workspace(config, (int) rows, (int) probs, shared);
        }
        return ws;
    }

    /** Bytes held by the activation workspace (0 before the first forward). */
    public long workspaceBytes() {
        return ws == null ? 0 : ws.bytes();
    }

    private void requireTrainable() {
        if (frozen) {
            throw new IllegalStateException("the model is frozen: it has no gradients");
        }
        grads();
    }

    private void requireForward() {
        if (batch == null) {
            throw new IllegalStateException("call forward first");
        }
    }

    /**
     * Activations kept for the backward, one set per layer, and the gradient buffers shared by all layers
     * (llm.c's ActivationTensors). Sized for the largest batch seen. With {@link #sharedLayers} every layer's entry of
     * the per-layer groups (all but {@code res}) is the same array, so the forward and backward index them as usual.
     */
    static final class Workspace {
        final int rowsCap;
        final int probsCap;
        final int dim;
        /** One set of per-layer activations shared by all layers (checkpointing, or a frozen model). */
        final boolean sharedLayers;
        final float[][] res;
        final float[][] ln1, ln1Mean, ln1Rstd, qkv, probs, atty, resMid, ln2, ln2Mean, ln2Rstd, fc, act;
        final float[] lnf, lnfMean, lnfRstd, tmp;
        final Attention.Scratch attnScratch = new Attention.Scratch();
        private final ModelConfig c;
        float[] dres, dln, dqkv, datty, dfc, dact, dHidden;
        float[] logitsChunk = new float[0];
        /** With {@link #sharedLayers}, the block whose activations the shared buffers hold (-1: none). */
        int heldBlock = -1;

        Workspace(ModelConfig c, int rows, int probsSize, boolean sharedLayers) {
            this.c = c;
            this.rowsCap = rows;
            this.probsCap = probsSize;
            this.dim = c.dim();
            this.sharedLayers = sharedLayers;
            int layers = c.layers(), d = c.dim();
            res = new float[layers + 1][rows * d];
            ln1 = perLayer(layers, rows * d);
            ln1Mean = perLayer(layers, rows);
            ln1Rstd = perLayer(layers, rows);
            qkv = perLayer(layers, rows * c.qkvDim());
            probs = perLayer(layers, probsSize);
            atty = perLayer(layers, rows * c.heads() * c.headDim());
            resMid = perLayer(layers, rows * d);
            ln2 = perLayer(layers, rows * d);
            ln2Mean = perLayer(layers, rows);
            ln2Rstd = perLayer(layers, rows);
            fc = perLayer(layers, rows * c.fcDim());
            act = perLayer(layers, rows * c.hiddenDim());
            lnf = new float[rows * d];
            lnfMean = new float[rows];
            lnfRstd = new float[rows];
            tmp = new float[rows * d];
        }

        /** One buffer of {@code size} floats per layer, or one shared by all layers. */
        private float[][] perLayer(int layers, int size) {
            if (!sharedLayers) {
                return new float[layers][size];
            }
            float[][] group = new float[layers][];
            Arrays.fill(group, new float[size]);
            return group;
        }

        void ensureGradBuffers() {
            if (dres != null) {
                return;
            }
            int rows = rowsCap, d = c.dim();
            dres = new float[rows * d];
            dln = new float[rows * d];
            dqkv = new float[rows * c.qkvDim()];
            datty = new float[rows * c.heads() * c.headDim()];
            dfc = new float[rows * c.fcDim()];
            dact = new float[rows * c.hiddenDim()];
            dHidden = new float[rows * d];
        }

        void dropGradBuffers() {
            dres = dln = dqkv = datty = dfc = dact = dHidden = null;
        }

        void ensureLogitsChunk(int size) {
            if (logitsChunk.length < size) {
                logitsChunk = new float[size];
            }
        }

        Tensor res(int layer, int rows) {
            return view(res[layer], rows, dim);
        }

        Tensor view(float[] storage, int rows, int cols) {
            return Tensor.view(storage, 0, rows, cols);
        }

        /** Bytes of every distinct buffer (a buffer shared by the layers counts once). */
        long bytes() {
            Set<float[]> seen = Collections.newSetFromMap(new IdentityHashMap<>());
            for (float[][] group : new float[][][] {res, ln1, ln1Mean, ln1Rstd, qkv, probs, atty, resMid, ln2, ln2Mean,
                    ln2Rstd, fc, act}) {
                seen.addAll(Arrays.asList(group));
            }
            seen.addAll(Arrays.asList(lnf, lnfMean, lnfRstd, tmp, dres, dln, dqkv, datty, dfc, dact,
                    dHidden, logitsChunk));
            long floats = 0;
            for (float[] a : seen) {
                floats += a == null ? 0 : a.length;
            }
            return 4 * floats;
        }
    }
}
