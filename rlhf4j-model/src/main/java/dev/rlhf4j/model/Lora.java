package dev.rlhf4j.model;

import dev.rlhf4j.tensor.Gemm;
import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.Rng;
import dev.rlhf4j.tensor.Tensor;

import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * The LoRA adapters of one model (see {@link LoraConfig}): their parameters (and, on a model with a scalar head, that
 * head, trained in full as PEFT's {@code modules_to_save} does) in their own {@link ParamArena}, which is what an
 * optimizer updates, and the forward and backward of every adapter, side by side. The adapter is never merged into a
 * matrix while training: the forward computes {@code y += s·(x·Aᵀ)·Bᵀ} with two thin GEMMs, and the backward
 * {@code dB += s·dyᵀ·(x·Aᵀ)}, {@code dA += (s·dy·B)ᵀ·x}, {@code dx += (s·dy·B)·A}, recomputing {@code x·Aᵀ} (cheap at
 * rank r) rather than keeping it.
 *
 * <p>Dropout (PEFT's {@code lora_dropout}) drops inputs of the adapter only, and only in a training forward; its masks
 * derive from a seed, the forward's count and the site, so the backward regenerates them and a resumed run draws the
 * same ones.
 */
public final class Lora {
    /** Name of the scalar head in the adapter arena. */
    public static final String SCORE = "score.weight";

    private final LoraConfig config;
    private final List<LoraConfig.Site> sites;
    /** Per layer, per target: the sites on that projection. */
    private final List<Map<LoraConfig.Target, List<LoraConfig.Site>>> byLayer;
    private final ParamArena params;
    private ParamArena grads;
    private final float scale;
    private float[] xa = new float[0];
    private float[] dxa = new float[0];
    private float[] dropped = new float[0];
    private boolean training;
    /** Where the base weights came from, for PEFT's {@code base_model_name_or_path}; empty when unknown. */
    private String baseModel = "";
    private long dropoutSeed;
    private long forwards;
    /** The dropout stream of the last training forward, which the backward replays. */
    private long lastForward;

    /**
     * Fresh adapters for a model of configuration {@code c}: A as PEFT initialises it (Kaiming-uniform with
     * {@code a = √5}, i.e. U(−1/√in, 1/√in)) from {@code seed}, B zero, so the adapted model starts equal to the base;
     * with {@code scalarHead}, the head starts as {@code score}'s values (or zero when null).
     */
    public static Lora create(LoraConfig config, ModelConfig c, boolean scalarHead, Tensor score, long seed) {
        Lora lora = new Lora(config, c, scalarHead);
        Rng rng = new Rng(seed);
        for (LoraConfig.Site s : lora.sites) {
            Tensor a = lora.params.get(s.aName());
            float bound = (float) (1.0 / Math.sqrt(s.in()));
            float[] ad = a.data();
            for (int i = 0; i < a.size(); i++) {
                ad[a.offset() + i] = (2f * rng.nextFloat() - 1f) * bound;
            }
        }
        if (scalarHead && score != null) {
            lora.params.get(SCORE).copyFrom(score);
        }
        return lora;
    }

    /** Zero adapters (B and A zero) with this layout, to be filled from a file. */
    public static Lora zeros(LoraConfig config, ModelConfig c, boolean scalarHead) {
        return new Lora(config, c, scalarHead);
    }

    private Lora(LoraConfig config, ModelConfig c, boolean scalarHead) {
        this.config = config;
        this.sites = config.sites(c);
        this.scale = config.scale();
        ParamArena.Layout layout = new ParamArena.Layout();
        this.byLayer = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            byLayer.add(new EnumMap<>(LoraConfig.Target.class));
        }
        for (LoraConfig.Site s : sites) {
            layout.add(s.aName(), true, config.r(), s.in());
            layout.add(s.bName(), true, s.rows(), config.r());
            byLayer.get(s.layer()).computeIfAbsent(s.target(), t -> new ArrayList<>()).add(s);
        }
        if (scalarHead) {
            layout.add(SCORE, true, 1, c.dim());
        }
        this.params = layout.allocate();
    }

    /** A deep copy (its own parameters, no gradients). */
    public Lora copy(ModelConfig c) {
        Lora l = new Lora(config, c, params.has(SCORE));
        l.params.copyFrom(params);
        l.baseModel = baseModel;
        return l;
    }

    public LoraConfig config() {
        return config;
    }

    /** The base model's path or name, written into a saved adapter's config. */
    public String baseModel() {
        return baseModel;
    }

    /** Records where the base came from (a run factory calls this with the model path it loaded). */
    public Lora baseModel(String pathOrName) {
        this.baseModel = pathOrName == null ? "" : pathOrName;
        return this;
    }

    public List<LoraConfig.Site> sites() {
        return sites;
    }

    /** The trained parameters: every A and B (and the scalar head when there is one). */
    public ParamArena params() {
        return params;
    }

    /** Their gradients, allocated (zero) on first use. */
    public ParamArena grads() {
        if (grads == null) {
            grads = params.zerosLike("the adapters' gradients");
        }
        return grads;
    }

    /** Bytes held by the adapters' gradients (0 until first used). */
    long gradientBytes() {
        return grads == null ? 0 : 4 * grads.size();
    }

    boolean hasScore() {
        return params.has(SCORE);
    }

    /** Whether forwards are training forwards (dropout on); see {@link Transformer#train(boolean)}. */
    void train(boolean on) {
        training = on;
    }

    /** Restarts the dropout stream: the masks of the forwards that follow depend only on {@code seed}. */
    void dropoutSeed(long seed) {
        dropoutSeed = seed;
        forwards = 0;
    }

    /** Called at the start of each model forward. */
    void beginForward() {
        lastForward = forwards++;
    }

    private boolean dropping() {
        return training && config.dropout() > 0f;
    }

    /**
     * Adds the adapters on projection {@code target} of block {@code layer} to its output: {@code y[:, row0:row0+rows]
     * += s·(dropout(x)·Aᵀ)·Bᵀ} for each site. {@code x} is the projection's input {@code [n, in]}, {@code y} its
     * output; an {@code inference} forward (the KV-cache decoder) never drops.
     */
    void forward(int layer, LoraConfig.Target target, Tensor x, Tensor y, boolean inference) {
        List<LoraConfig.Site> list = byLayer.get(layer).get(target);
        if (list == null) {
            return;
        }
        int n = x.rows(), r = config.r(), ycols = y.cols();
        ensure(n * r, 0);
        for (LoraConfig.Site s : list) {
            Tensor a = params.get(s.aName()), b = params.get(s.bName());
            float[] xin = inference ? x.data() : input(s, x);
            int xo = xin == x.data() ? x.offset() : 0;
            Gemm.sgemm(false, true, n, r, s.in(), 1f, xin, xo, s.in(), a.data(), a.offset(), s.in(), 0f, xa, 0, r);
            Gemm.sgemm(false, true, n, s.rows(), r, scale, xa, 0, r, b.data(), b.offset(), r, 1f, y.data(),
                    y.offset() + s.row0(), ycols);
        }
    }

    /**
     * Backward of {@link #forward}: given the projection's output gradient {@code dy}, adds
     * {@code s·dy_siteᵀ·(x·Aᵀ)} to dB, {@code (s·dy_site·B)ᵀ·x} to dA and {@code (s·dy_site·B)·A} (through the
     * dropout mask) to {@code dx}.
     */
    void backward(int layer, LoraConfig.Target target, Tensor dy, Tensor x, Tensor dx) {
        List<LoraConfig.Site> list = byLayer.get(layer).get(target);
        if (list == null) {
            return;
        }
        ParamArena g = grads();
        int n = x.rows(), r = config.r(), dcols = dy.cols();
        ensure(n * r, 0);
        for (LoraConfig.Site s : list) {
            Tensor a = params.get(s.aName()), b = params.get(s.bName());
            Tensor ga = g.get(s.aName()), gb = g.get(s.bName());
            float[] xin = input(s, x);
            int xo = xin == x.data() ? x.offset() : 0;
            int dyo = dy.offset() + s.row0();
            Gemm.sgemm(false, true, n, r, s.in(), 1f, xin, xo, s.in(), a.data(), a.offset(), s.in(), 0f, xa, 0, r);
            // dB[rows, r] += s · dy_siteᵀ · xa
            Gemm.sgemm(true, false, s.rows(), r, n, scale, dy.data(), dyo, dcols, xa, 0, r, 1f, gb.data(),
                    gb.offset(), r);
            // dxa[n, r] = s · dy_site · B
            Gemm.sgemm(false, false, n, r, s.rows(), scale, dy.data(), dyo, dcols, b.data(), b.offset(), r, 0f, dxa,
                    0, r);
            // dA[r, in] += dxaᵀ · dropout(x)
            Gemm.sgemm(true, false, r, s.in(), n, 1f, dxa, 0, r, xin, xo, s.in(), 1f, ga.data(), ga.offset(),
                    s.in());
            if (dx == null) {
                continue;
            }
            if (!dropping()) {
                Gemm.sgemm(false, false, n, s.in(), r, 1f, dxa, 0, r, a.data(), a.offset(), s.in(), 1f, dx.data(),
                        dx.offset(), s.in());
            } else {
                // dx += mask/(1−p) ⊙ (dxa·A), the mask redrawn from the site's stream; the dropped-out input is not
                // needed once dA has it, so its buffer (filled by input() above, n·in long) holds dxa·A
                float[] tmp = dropped;
                Gemm.sgemm(false, false, n, s.in(), r, 1f, dxa, 0, r, a.data(), a.offset(), s.in(), 0f, tmp, 0,
                        s.in());
                float keep = 1f / (1f - config.dropout());
                Rng rng = maskRng(s);
                float[] dxd = dx.data();
                for (int i = 0; i < n * s.in(); i++) {
                    if (rng.nextFloat() >= config.dropout()) {
                        dxd[dx.offset() + i] += tmp[i] * keep;
                    }
                }
            }
        }
    }

    /** The adapter's input: {@code x} itself, or a dropped-out copy in a training forward with dropout. */
    private float[] input(LoraConfig.Site s, Tensor x) {
        if (!dropping()) {
            return x.data();
        }
        int size = x.rows() * s.in();
        ensure(0, size);
        float keep = 1f / (1f - config.dropout());
        Rng rng = maskRng(s);
        float[] xd = x.data();
        for (int i = 0; i < size; i++) {
            dropped[i] = rng.nextFloat() >= config.dropout() ? xd[x.offset() + i] * keep : 0f;
        }
        return dropped;
    }

    private Rng maskRng(LoraConfig.Site s) {
        long h = dropoutSeed * 0x9E3779B97F4A7C15L + lastForward;
        h = h * 0x9E3779B97F4A7C15L + s.layer();
        h = h * 0x9E3779B97F4A7C15L + s.module().hashCode();
        return new Rng(h);
    }

    private void ensure(int rank, int input) {
        if (xa.length < rank) {
            xa = new float[rank];
            dxa = new float[rank];
        }
        if (dropped.length < input) {
            dropped = new float[input];
        }
    }

    /**
     * Adds {@code s·B·A} of every site into the fused base matrices of {@code base} (rlhf4j's layout), for
     * {@code convert --merge-lora} and for using an adapter as a plain model.
     */
    public void mergeInto(ParamArena base) {
        for (LoraConfig.Site s : sites) {
            Tensor w = base.get(weightName(s));
            Tensor a = params.get(s.aName()), b = params.get(s.bName());
            Gemm.sgemm(false, false, s.rows(), s.in(), config.r(), scale, b.data(), b.offset(), config.r(), a.data(),
                    a.offset(), s.in(), 1f, w.data(), w.offset() + s.row0() * s.in(), s.in());
        }
        if (hasScore() && base.has(SCORE)) {
            base.get(SCORE).copyFrom(params.get(SCORE));
        }
    }

    /** rlhf4j's name of the fused matrix a site adapts. */
    static String weightName(LoraConfig.Site s) {
        String pre = "h." + s.layer() + ".";
        return pre + switch (s.target()) {
            case QKV -> "attn.qkv.weight";
            case ATTN_OUT -> "attn.proj.weight";
            case MLP_IN -> "mlp.fc.weight";
            case MLP_OUT -> "mlp.proj.weight";
        };
    }
}
