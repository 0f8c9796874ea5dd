package dev.rlhf4j.model;

import dev.rlhf4j.tensor.Attention;
import dev.rlhf4j.tensor.Embedding;
import dev.rlhf4j.tensor.F32Matrix;
import dev.rlhf4j.tensor.Gemm;
import dev.rlhf4j.tensor.Residual;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.WeightMatrix;

import java.util.Arrays;

/**
 * Inference with a key/value cache for a batch of sequences that advance together: a prefill of left-padded
 * prompts, then one token per sequence per step. Each call runs the model's layers on the new tokens only, appending
 * their keys and values to the cache; nothing is kept for a backward. Padding is a slot whose mask is 0: no query
 * attends to it, and the positions of real tokens count only real tokens (as HF does for left-padded batches).
 *
 * <p>The decoder reads the model's current parameters on every step, so it follows a policy that is being trained;
 * it holds its own buffers and may be used alongside the model's training forward. One thread at a time.
 *
 * <p>With a packed generation dtype (bfloat16 or Q8_0) over a float32 model, the decoder holds its own packed copy of
 * the model's matrices and reads those instead (half or a quarter of the bytes per token; a decoding step is bound
 * by reading the weights); norms, biases and adapters are still read live. The copy is taken at construction and
 * again by {@link #refreshPacked()}, which a trainer calls after each optimizer step. A model that is itself packed
 * is read as it is.
 */
public final class KvCacheDecoder {
    private final Transformer model;
    private final ModelConfig c;
    private final int batch;
    /** Tokens per sequence the caller asked for: the limit {@link #run} enforces. */
    private final int capacity;
    /** Slots per sequence in the cache arrays: {@code capacity} rounded up to the vector length, so that a query's
     * scores are whole vector loops; the slots past {@code capacity} are never filled. */
    private final int stride;
    private final Rope rope;
    private final float[][] kCache;
    private final float[][] vCache;
    private final int[] slotMask;
    private final int[] realTokens;
    private final Attention.Scratch scratch = new Attention.Scratch();
    /** Each layer's parameter views, looked up once (they stay valid while the model trains in place). */
    private LayerWeights[] blocks;
    /** The generation dtype asked for. */
    private final WeightDtype dtype;
    /** The packed matrices read (the decoder's copy, or the packed model's own), or null for float32. */
    private PackedWeights packed;
    private WeightMatrix lmHead;

    private final Tensor lnfW;
    private final Tensor lnfB;
    private int length;
    private int[] positions = new int[0];
    private int rowsCap;
    private float[] x, ln, qkv, att, tmp, fc, act, stat1, stat2, last;
    private float[] logits;
    /** The scalar head at the positions whose logits {@link #run} returned, or null without a scalar head. */
    private float[] values;

    /**
     * @param capacity the most tokens (prompt and generated) per sequence; at most the model's maximum sequence
     *                 length
     */
    public KvCacheDecoder(Transformer model, int batch, int capacity) {
        this(model, batch, capacity, WeightDtype.FP32);
    }

    /**
     * @param capacity the most tokens (prompt and generated) per sequence; at most the model's maximum sequence
     *                 length
     * @param dtype    how the matrices are read: FP32 as the model holds them, or BF16/Q8_0 from a packed copy
     *                 ({@link #refreshPacked()}); ignored for a model that is itself packed
     */
    public KvCacheDecoder(Transformer model, int batch, int capacity, WeightDtype dtype) {
        this.model = model;
        this.dtype = dtype;
        this.c = model.config();
        if (batch <= 0 || capacity <= 0) {
            throw new IllegalArgumentException("decoder: batch and capacity must be positive, got " + batch + " and "
                    + capacity);
        }
        if (capacity > c.maxSeqLen()) {
            throw new IllegalArgumentException("decoder: " + capacity + " tokens per sequence exceed the model's "
                    + "maximum sequence length of " + c.maxSeqLen());
        }
        if (!model.heads().lm()) {
            throw new IllegalArgumentException("decoder: the model has no LM head");
        }
        this.batch = batch;
        int align = Attention.cacheAlign();
        this.capacity = capacity;
        this.stride = (capacity + align - 1) / align * align;
        this.rope = c.isGpt2() ? null : Transformer.rope(c);
        long perLayer = (long) batch * c.kvHeads() * c.headDim() * this.stride;
        if (perLayer > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("decoder: a cache of " + batch + " x " + capacity
                    + " tokens is too large for one array per layer");
        }
        this.kCache = new float[c.layers()][(int) perLayer];
        this.vCache = new float[c.layers()][(int) perLayer];
        this.slotMask = new int[batch * this.stride];
        this.realTokens = new int[batch];
        refreshPacked();
        this.lnfW = p("ln_f.weight");
        this.lnfB = pOpt("ln_f.bias");
    }

    /**
     * Packs the model's current matrices again (a no-op for float32 generation or a packed model): call it after the
     * weights change, or generation goes on with the old ones.
     */
    public void refreshPacked() {
        if (model.isPacked()) {
            packed = model.packedWeights();
        } else if (dtype != WeightDtype.FP32) {
            packed = null; // let the old copy go before the new one is made
            packed = PackedWeights.pack(c, OutputHeads.LM, model.arena(), dtype);
        }
        blocks = new LayerWeights[c.layers()];
        for (int l = 0; l < c.layers(); l++) {
            blocks[l] = model.layer(l, packed);
        }
        lmHead = packed != null ? packed.lmHead() : new F32Matrix(model.lmHeadWeight());
    }

    /** The storage type the decoder reads the matrices in. */
    public WeightDtype weightDtype() {
        return packed == null ? WeightDtype.FP32 : packed.dtype();
    }

    public int batch() {
        return batch;
    }

    /** Slots filled so far (the same for every sequence, padding included). */
    public int length() {
        return length;
    }

    /** Tokens each sequence may hold in total (prompt, padding and generated), as given to the constructor. */
    public int capacity() {
        return capacity;
    }

    /** Forgets every sequence, keeping the buffers. */
    public void reset() {
        length = 0;
        Arrays.fill(slotMask, 0);
        Arrays.fill(realTokens, 0);
    }

    /** Bytes held by the key/value cache. */
    public long cacheBytes() {
        return 8L * c.layers() * kCache[0].length;
    }

    /**
     * Runs {@code n} new tokens per sequence ({@code tokens} and {@code mask} are {@code [batch, n]} row-major; mask
     * 1 for a real token, 0 for padding, null for all real) and returns the logits of the last of them for each
     * sequence, {@code [batch, vocab]} (a view valid until the next call).
     */
    public Tensor step(int[] tokens, int[] mask, int n) {
        run(tokens, mask, n, false);
        return Tensor.view(logits, 0, batch, c.vocabSize());
    }

    /** As {@link #step} but returns the logits of every new position, {@code [batch·n, vocab]}. */
    public Tensor stepAllPositions(int[] tokens, int[] mask, int n) {
        run(tokens, mask, n, true);
        return Tensor.view(logits, 0, batch * n, c.vocabSize());
    }

    private void run(int[] tokens, int[] mask, int n, boolean allPositions) {
        int rows = batch * n;
        if (n <= 0 || tokens.length != rows || (mask != null && mask.length != rows)) {
            throw new IllegalArgumentException("decoder: " + tokens.length + " tokens"
                    + (mask == null ? "" : " and " + mask.length + " mask entries") + " for [" + batch + ", " + n
                    + "]");
        }
        if (length + n > capacity) {
            throw new IllegalArgumentException("decoder: " + (length + n) + " tokens exceed the cache capacity of "
                    + capacity);
        }
        ensureBuffers(rows, allPositions ? rows : batch);
        int d = c.dim();
        if (positions.length < rows) {
            positions = new int[rows];
        }
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < n; t++) {
                int i = b * n + t;
                boolean real = mask == null || mask[i] != 0;
                slotMask[b * stride + length + t] = real ? 1 : 0;
                positions[i] = real ? realTokens[b]++ : 0;
            }
        }
        Tensor h = view(x, rows, d);
        model.embedTokens(tokens, h, packed);
        if (c.isGpt2()) {
            Embedding.forward(positions, p("wpe"), h, true);
        }
        Attention.Dims dims = new Attention.Dims(batch, n, c.heads(), c.kvHeads(), c.headDim());
        Tensor lnT = view(ln, rows, d), qkvT = view(qkv, rows, c.qkvDim());
        Tensor attT = view(att, rows, c.heads() * c.headDim()), tmpT = view(tmp, rows, d);
        Tensor fcT = view(fc, rows, c.fcDim()), actT = view(act, rows, c.hiddenDim());
        for (int l = 0; l < c.layers(); l++) {
            LayerWeights k = blocks[l];
            k.attentionInput(c, rope, positions, h, lnT, stat1, stat2, qkvT, true);
            Attention.appendToCache(dims, qkvT, kCache[l], vCache[l], stride, length);
            Attention.forwardCached(dims, qkvT, kCache[l], vCache[l], stride, length, slotMask, attT, scratch);
            k.project(LoraConfig.Target.ATTN_OUT, attT, tmpT, true);
            Residual.forward(h, tmpT, h);
            k.feedForward(c, h, lnT, stat1, stat2, fcT, actT, tmpT, true);
            Residual.forward(h, tmpT, h);
        }
        Tensor finalIn = h;
        int outRows = rows;
        if (!allPositions) {
            // only the last position of each sequence reaches the LM head
            for (int b = 0; b < batch; b++) {
                System.arraycopy(x, (b * n + n - 1) * d, last, b * d, d);
            }
            finalIn = view(last, batch, d);
            outRows = batch;
        }
        Tensor normed = view(ln, outRows, d);
        LayerWeights.norm(c, finalIn, lnfW, lnfB, normed, stat1, stat2);
        lmHead.forward(normed, null, view(logits, outRows, c.vocabSize()));
        Tensor score = model.scalarHeadWeight();
        if (score != null) {
            // a value head on the trunk: its value of each returned position, from the same normalised state
            if (values == null || values.length < outRows) {
                values = new float[outRows];
            }
            Gemm.sgemm(false, true, outRows, 1, d, 1f, normed.data(), normed.offset(), d, score.data(),
                    score.offset(), d, 0f, values, 0, 1);
        }
        length += n;
    }

    /**
     * For a model with a scalar head (a value head on the policy's trunk), that head's output at the positions whose
     * logits the last {@link #step} or {@link #stepAllPositions} returned, in the same order (valid until the next
     * call); null for a model without one.
     */
    public float[] values() {
        return model.heads().scalar() ? values : null;
    }

    private Tensor p(String name) {
        return model.arena().get(name);
    }

    private Tensor pOpt(String name) {
        return model.arena().has(name) ? model.arena().get(name) : null;
    }

    private static Tensor view(float[] a, int rows, int cols) {
        return Tensor.view(a, 0, rows, cols);
    }

    private void ensureBuffers(int rows, int logitRows) {
        if (x == null || rows > rowsCap) {
            rowsCap = rows;
            x = new float[rows * c.dim()];
            ln = new float[rows * c.dim()];
            qkv = new float[rows * c.qkvDim()];
            att = new float[rows * c.heads() * c.headDim()];
            tmp = new float[rows * c.dim()];
            fc = new float[rows * c.fcDim()];
            act = new float[rows * c.hiddenDim()];
            stat1 = new float[rows];
            stat2 = new float[rows];
            last = new float[batch * c.dim()];
        }
        if (logits == null || logits.length < (long) logitRows * c.vocabSize()) {
            logits = new float[logitRows * c.vocabSize()];
        }
    }
}
