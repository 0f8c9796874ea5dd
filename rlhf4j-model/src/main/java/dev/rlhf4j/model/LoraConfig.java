package dev.rlhf4j.model;

import dev.rlhf4j.tensor.UserError;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * A LoRA adapter's settings (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"), with PEFT's field
 * names: a frozen projection {@code y = x·Wᵀ} becomes {@code y = x·Wᵀ + s·(dropout(x)·Aᵀ)·Bᵀ} with {@code A [r, in]},
 * {@code B [out, r]} and {@code s = lora_alpha / r} ({@code lora_alpha / √r} with rsLoRA, Kalajdzievski 2023).
 *
 * @param r             the rank
 * @param alpha         {@code lora_alpha}
 * @param dropout       {@code lora_dropout}: applied to the adapter's input in training forwards only
 * @param targetModules PEFT's {@code target_modules}: module names (q_proj, k_proj, v_proj, o_proj, gate_proj,
 *                      up_proj, down_proj; GPT-2's c_attn, c_proj, c_fc), dotted suffixes of a module's path
 *                      ({@code attn.c_proj}), {@code all-linear}; or, as one entry {@code re:PATTERN}, a regular
 *                      expression the whole module path must match (PEFT's string form)
 * @param useRslora     scale by {@code alpha/√r} instead of {@code alpha/r}
 */
public record LoraConfig(int r, float alpha, float dropout, List<String> targetModules, boolean useRslora) {
    /** PEFT's {@code all-linear}: every linear layer of the blocks (not the output head). */
    public static final String ALL_LINEAR = "all-linear";
    /** The prefix that marks {@link #targetModules} as a regular expression. */
    public static final String REGEX = "re:";

    public LoraConfig {
        if (r <= 0) {
            throw new UserError("lora r must be a positive rank, got " + r);
        }
        if (!(alpha > 0f) || !Float.isFinite(alpha)) {
            throw new UserError("lora_alpha must be positive, got " + alpha);
        }
        if (!(dropout >= 0f && dropout < 1f)) {
            throw new UserError("lora_dropout must be in [0, 1), got " + dropout);
        }
        if (targetModules == null || targetModules.isEmpty()) {
            throw new UserError("lora target_modules is empty: name at least one module (or all-linear)");
        }
        targetModules = List.copyOf(targetModules);
        for (String t : targetModules) {
            if (t.isBlank()) {
                throw new UserError("lora target_modules has an empty name");
            }
            if (t.startsWith(REGEX)) {
                if (targetModules.size() != 1) {
                    throw new UserError("lora target_modules: a regular expression (" + t
                            + ") must be the only entry");
                }
                try {
                    Pattern.compile(t.substring(REGEX.length()));
                } catch (PatternSyntaxException e) {
                    throw new UserError("lora target_modules: bad regular expression " + t + ": "
                            + e.getDescription());
                }
            }
        }
    }

    /** PEFT's defaults for a family when no target modules are given: c_attn for GPT-2, q_proj and v_proj for Llama. */
    public static List<String> defaultTargets(ModelConfig c) {
        return c.isGpt2() ? List.of("c_attn") : List.of("q_proj", "v_proj");
    }

    /** r, alpha and targets as given; no dropout, no rsLoRA. */
    public static LoraConfig of(int r, float alpha, List<String> targets) {
        return new LoraConfig(r, alpha, 0f, targets, false);
    }

    /** The factor on the adapter's output. */
    public float scale() {
        return useRslora ? (float) (alpha / Math.sqrt(r)) : alpha / r;
    }

    /** Which projection of a block an adapter sits on: the fused matrices rlhf4j keeps. */
    public enum Target { QKV, ATTN_OUT, MLP_IN, MLP_OUT }

    /**
     * One adapted module: rows {@code [row0, row0 + rows)} of the fused projection {@code target} of block
     * {@code layer} (q_proj is the first rows of rlhf4j's q/k/v matrix, up_proj the second half of its gate/up
     * matrix), with input width {@code in}. {@code module} is the module's path inside the block as HF names it
     * ({@code attn.c_attn}, {@code self_attn.q_proj}); {@code rope} marks q and k, whose rows rlhf4j permutes for
     * interleaved-RoPE models.
     */
    public record Site(int layer, String module, Target target, int row0, int rows, int in, boolean rope) {
        /** The adapter's down projection's name in rlhf4j's arena. */
        public String aName() {
            return "h." + layer + "." + module + ".lora_A";
        }

        /** The adapter's up projection's name in rlhf4j's arena. */
        public String bName() {
            return "h." + layer + "." + module + ".lora_B";
        }

        /** The short module name PEFT's target lists use ({@code q_proj}, {@code c_attn}). */
        public String shortName() {
            return module.substring(module.lastIndexOf('.') + 1);
        }
    }

    /** The modules of block {@code l} that an adapter can sit on, in a fixed order. */
    static List<Site> candidates(ModelConfig c, int l) {
        int d = c.dim(), f = c.hiddenDim();
        if (c.isGpt2()) {
            return List.of(new Site(l, "attn.c_attn", Target.QKV, 0, c.qkvDim(), d, false),
                    new Site(l, "attn.c_proj", Target.ATTN_OUT, 0, d, c.heads() * c.headDim(), false),
                    new Site(l, "mlp.c_fc", Target.MLP_IN, 0, c.fcDim(), d, false),
                    new Site(l, "mlp.c_proj", Target.MLP_OUT, 0, d, f, false));
        }
        int q = c.heads() * c.headDim(), kv = c.kvHeads() * c.headDim();
        return List.of(new Site(l, "self_attn.q_proj", Target.QKV, 0, q, d, true),
                new Site(l, "self_attn.k_proj", Target.QKV, q, kv, d, true),
                new Site(l, "self_attn.v_proj", Target.QKV, q + kv, kv, d, false),
                new Site(l, "self_attn.o_proj", Target.ATTN_OUT, 0, d, q, false),
                new Site(l, "mlp.gate_proj", Target.MLP_IN, 0, f, d, false),
                new Site(l, "mlp.up_proj", Target.MLP_IN, f, f, d, false),
                new Site(l, "mlp.down_proj", Target.MLP_OUT, 0, d, f, false));
    }

    /** HF's path of block {@code l}'s module {@code module} ({@code transformer.h.0.attn.c_attn}). */
    static String modulePath(ModelConfig c, int l, String module) {
        return (c.isGpt2() ? "transformer.h." : "model.layers.") + l + "." + module;
    }

    /**
     * The adapted modules of a model of configuration {@code c}, in layer order; fails naming the modules that exist
     * when a target matches none.
     */
    public List<Site> sites(ModelConfig c) {
        List<Site> out = new ArrayList<>();
        boolean[] used = new boolean[targetModules.size()];
        Pattern regex = targetModules.getFirst().startsWith(REGEX)
                ? Pattern.compile(targetModules.getFirst().substring(REGEX.length())) : null;
        for (int l = 0; l < c.layers(); l++) {
            for (Site s : candidates(c, l)) {
                String path = modulePath(c, l, s.module());
                boolean match = false;
                for (int i = 0; i < targetModules.size(); i++) {
                    String t = targetModules.get(i);
                    boolean m = regex != null ? regex.matcher(path).matches()
                            : t.equals(ALL_LINEAR) || path.equals(t) || path.endsWith("." + t);
                    if (m) {
                        used[i] = true;
                        match = true;
                    }
                }
                if (match) {
                    out.add(s);
                }
            }
        }
        for (int i = 0; i < used.length; i++) {
            if (!used[i]) {
                List<String> names = new ArrayList<>();
                for (Site s : candidates(c, 0)) {
                    names.add(s.shortName());
                }
                throw new UserError("lora target module '" + targetModules.get(i) + "' matches no module of this "
                        + c.family().name().toLowerCase(Locale.ROOT) + " model; its modules are "
                        + String.join(", ", names.stream().distinct().toList()) + " (or all-linear)");
            }
        }
        return out;
    }
}
