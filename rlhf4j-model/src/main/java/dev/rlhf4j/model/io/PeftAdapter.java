package dev.rlhf4j.model.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.Lora;
import dev.rlhf4j.model.LoraConfig;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * LoRA adapters in PEFT's layout, so that they move between rlhf4j and the Python world: a directory with
 * {@code adapter_config.json} ({@code peft_type} LORA, {@code r}, {@code lora_alpha}, {@code target_modules}, ...) and
 * {@code adapter_model.safetensors} holding {@code base_model.model.<module path>.lora_A.weight [r, in]} and
 * {@code ...lora_B.weight [out, r]} per adapted module, module paths as HF names them
 * ({@code transformer.h.0.attn.c_attn}, {@code model.layers.0.self_attn.q_proj}); a reward model's head is PEFT's
 * {@code modules_to_save} entry {@code base_model.model.score.weight}. GPT-2's Conv1D modules keep PEFT's
 * {@code fan_in_fan_out: true}; their A and B have the same shapes as a Linear's.
 *
 * <p>rlhf4j fuses q/k/v (and gate/up) into one matrix and, for interleaved-RoPE models (llama2.c checkpoints), keeps
 * the q and k rows in interleaved order: B's rows of q_proj and k_proj are permuted here as {@link HfCheckpoint}
 * permutes the weights, so an adapter means the same in both worlds.
 */
public final class PeftAdapter {
    public static final String CONFIG = "adapter_config.json";
    public static final String WEIGHTS = "adapter_model.safetensors";
    private static final String PREFIX = "base_model.model.";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** What {@code adapter_config.json} says. */
    public record Config(LoraConfig lora, String taskType, String baseModel, boolean scalarHead) {
    }

    private PeftAdapter() {
    }

    /** Whether {@code dir} is an adapter directory (has adapter_config.json). */
    public static boolean isAdapter(Path dir) {
        return Files.isDirectory(dir) && Files.isRegularFile(dir.resolve(CONFIG));
    }

    /**
     * Writes {@code model}'s adapters (and its scalar head when it trains one) into {@code dir}; {@code baseModel}
     * goes into {@code base_model_name_or_path}: where the base weights are (a path, or a hub id for Python users).
     */
    public static void save(Transformer model, Path dir, String baseModel) throws IOException {
        Lora lora = model.lora();
        if (lora == null) {
            throw new IllegalArgumentException("the model has no adapters to save");
        }
        ModelConfig c = model.config();
        Files.createDirectories(dir);
        boolean score = lora.params().has(Lora.SCORE);
        List<Safetensors.Entry> entries = new ArrayList<>();
        for (LoraConfig.Site s : lora.sites()) {
            Tensor a = lora.params().get(s.aName()), b = lora.params().get(s.bName());
            String path = PREFIX + modulePath(c, s);
            entries.add(new Safetensors.Entry(path + ".lora_A.weight", a.shape(), a::copy));
            entries.add(new Safetensors.Entry(path + ".lora_B.weight", b.shape(), () -> hfRows(c, s, b, true)));
        }
        if (score) {
            Tensor t = lora.params().get(Lora.SCORE);
            entries.add(new Safetensors.Entry(PREFIX + Lora.SCORE, t.shape(), t::copy));
        }
        Safetensors.write(dir.resolve(WEIGHTS), entries, Safetensors.DType.F32, Map.of("format", "pt"));
        LoraConfig lc = lora.config();
        ObjectNode o = JSON.createObjectNode();
        o.put("peft_type", "LORA");
        o.put("task_type", model.heads().lm() ? "CAUSAL_LM" : "SEQ_CLS");
        o.put("base_model_name_or_path", baseModel);
        o.put("r", lc.r());
        if (lc.alpha() == Math.rint(lc.alpha())) {
            o.put("lora_alpha", (int) lc.alpha()); // PEFT's type: an int
        } else {
            o.put("lora_alpha", decimal(lc.alpha()));
        }
        o.put("lora_dropout", decimal(lc.dropout()));
        if (lc.targetModules().size() == 1 && lc.targetModules().getFirst().startsWith(LoraConfig.REGEX)) {
            o.put("target_modules", lc.targetModules().getFirst().substring(LoraConfig.REGEX.length()));
        } else if (lc.targetModules().equals(List.of(LoraConfig.ALL_LINEAR))) {
            o.put("target_modules", LoraConfig.ALL_LINEAR);
        } else {
            ArrayNode t = o.putArray("target_modules");
            lc.targetModules().forEach(t::add);
        }
        o.put("bias", "none");
        o.put("fan_in_fan_out", c.isGpt2());
        o.put("use_rslora", lc.useRslora());
        o.put("use_dora", false);
        o.put("init_lora_weights", true);
        o.put("inference_mode", true);
        if (score) {
            o.putArray("modules_to_save").add("classifier").add("score"); // as PEFT (0.11 on) writes SEQ_CLS
        } else {
            o.putNull("modules_to_save");
        }
        o.putNull("layers_to_transform");
        o.putObject("rank_pattern");
        o.putObject("alpha_pattern");
        Path tmp = dir.resolve(CONFIG + ".tmp");
        Files.writeString(tmp, JSON.writeValueAsString(o) + "\n", StandardCharsets.UTF_8);
        Files.move(tmp, dir.resolve(CONFIG), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Reads {@code adapter_config.json}; what rlhf4j cannot apply exactly fails with one line naming the field. */
    public static Config readConfig(Path dir) throws IOException {
        Path file = dir.resolve(CONFIG);
        JsonNode root = HfCheckpoint.readJson(file);
        String type = root.path("peft_type").asText("");
        if (!type.equals("LORA")) {
            throw new UserError(file + ": peft_type '" + type + "' is not LORA (rlhf4j reads LoRA adapters)");
        }
        if (!root.path("bias").asText("none").equals("none")) {
            throw new UserError(file + ": bias '" + root.path("bias").asText() + "' is not supported (only none)");
        }
        if (root.path("use_dora").asBoolean(false)) {
            throw new UserError(file + ": use_dora is true; DoRA adapters are not supported");
        }
        for (String field : List.of("rank_pattern", "alpha_pattern")) {
            if (root.has(field) && !root.get(field).isNull() && !root.get(field).isEmpty()) {
                throw new UserError(file + ": " + field + " is set; per-module ranks or alphas are not supported");
            }
        }
        for (String field : List.of("layers_to_transform", "layers_pattern")) {
            if (root.has(field) && !root.get(field).isNull() && !(root.get(field).isArray()
                    && root.get(field).isEmpty())) {
                throw new UserError(file + ": " + field + " is set; adapters on a subset of layers are not supported");
            }
        }
        if (!root.has("r") || !root.get("r").canConvertToInt()) {
            throw new UserError(file + ": r (the rank) is missing or not an integer");
        }
        JsonNode tm = root.path("target_modules");
        List<String> targets = new ArrayList<>();
        if (tm.isTextual()) {
            targets.add(tm.asText().equals(LoraConfig.ALL_LINEAR) ? LoraConfig.ALL_LINEAR
                    : LoraConfig.REGEX + tm.asText());
        } else if (tm.isArray()) {
            tm.forEach(t -> targets.add(t.asText()));
        } else {
            throw new UserError(file + ": target_modules is missing (a list of module names or a regular expression)");
        }
        float alpha = (float) root.path("lora_alpha").asDouble(8);
        float dropout = (float) root.path("lora_dropout").asDouble(0);
        LoraConfig lc;
        try {
            lc = new LoraConfig(root.get("r").asInt(), alpha, dropout, targets, root.path("use_rslora")
                    .asBoolean(false));
        } catch (UserError e) {
            throw new UserError(file + ": " + e.getMessage());
        }
        String task = root.path("task_type").asText("CAUSAL_LM");
        boolean score = task.equals("SEQ_CLS");
        JsonNode mts = root.path("modules_to_save");
        if (mts.isArray()) {
            // PEFT (0.11 on) lists ["classifier", "score"] for SEQ_CLS whatever the model calls its head, and skips
            // names that match no module: so does rlhf4j, refusing only a module it has and would not train
            for (JsonNode m : mts) {
                String name = m.asText();
                if (name.equals("score")) {
                    score = true;
                } else if (List.of("lm_head", "wte", "embed_tokens", "transformer.wte", "model.embed_tokens",
                        "model.norm", "transformer.ln_f").contains(name)) {
                    throw new UserError(file + ": modules_to_save names '" + name + "'; rlhf4j trains only the "
                            + "adapters and a scalar head (score), not whole base modules");
                }
            }
        }
        if (root.path("lora_bias").asBoolean(false)) {
            throw new UserError(file + ": lora_bias is true; adapters with a bias are not supported");
        }
        JsonNode exclude = root.path("exclude_modules");
        if (!exclude.isMissingNode() && !exclude.isNull() && !(exclude.isArray() && exclude.isEmpty())) {
            throw new UserError(file + ": exclude_modules is set; it is not supported");
        }
        JsonNode alora = root.path("alora_invocation_tokens");
        if (!alora.isMissingNode() && !alora.isNull()) {
            throw new UserError(file + ": alora_invocation_tokens is set; activated LoRA is not supported");
        }
        return new Config(lc, task, root.path("base_model_name_or_path").asText(""), score);
    }

    /**
     * Reads the adapters of {@code dir} onto {@code base} (which is not changed: the result shares its weights).
     * Names and shapes are checked against the base's configuration; a missing or unexpected tensor fails naming it.
     */
    public static Transformer load(Path dir, Transformer base) throws IOException {
        Config cfg = readConfig(dir);
        ModelConfig c = base.config();
        Path file = dir.resolve(WEIGHTS);
        if (!Files.isRegularFile(file)) {
            throw new UserError(dir + ": no " + WEIGHTS + " (rlhf4j reads adapters saved as safetensors)");
        }
        Lora lora;
        try {
            lora = Lora.zeros(cfg.lora(), c, cfg.scalarHead());
        } catch (UserError e) {
            throw new UserError(dir.resolve(CONFIG) + ": " + e.getMessage());
        }
        try (Safetensors st = Safetensors.open(file)) {
            Set<String> left = new LinkedHashSet<>(st.tensors().keySet());
            for (LoraConfig.Site s : lora.sites()) {
                String path = PREFIX + modulePath(c, s);
                read(st, file, path + ".lora_A.weight", lora.params().get(s.aName()), left);
                Tensor b = lora.params().get(s.bName());
                read(st, file, path + ".lora_B.weight", b, left);
                b.copyFrom(hfRows(c, s, b, false));
            }
            if (cfg.scalarHead()) {
                read(st, file, PREFIX + Lora.SCORE, lora.params().get(Lora.SCORE), left);
            }
            if (!left.isEmpty()) {
                throw new UserError(file + ": unexpected tensors " + String.join(", ", left.stream().limit(4).toList())
                        + (left.size() > 4 ? " (and " + (left.size() - 4) + " more)" : "") + " for a "
                        + c.family() + " model with " + c.layers() + " layers and target_modules "
                        + cfg.lora().targetModules());
            }
        }
        OutputHeads heads = cfg.scalarHead() ? (base.heads().lm() && !cfg.taskType().equals("SEQ_CLS")
                ? OutputHeads.BOTH : OutputHeads.SCALAR) : OutputHeads.LM;
        return base.withAdapters(lora, heads);
    }

    private static void read(Safetensors st, Path file, String name, Tensor into, Set<String> left)
            throws IOException {
        if (!st.has(name)) {
            throw new UserError(file + ": missing " + name + " " + into.shapeString());
        }
        Safetensors.TensorInfo info = st.info(name);
        if (!Arrays.equals(info.shape(), into.shape())) {
            throw new UserError(file + ": " + name + " has shape " + info.shapeString() + " but the model needs "
                    + into.shapeString());
        }
        st.readWeights(name, into.data(), into.offset());
        left.remove(name);
    }

    /** HF's module path of a site ({@code transformer.h.0.attn.c_attn}). */
    static String modulePath(ModelConfig c, LoraConfig.Site s) {
        return (c.isGpt2() ? "transformer.h." : "model.layers.") + s.layer() + "." + s.module();
    }

    /**
     * B's rows in HF's order ({@code toHf}) or back in rlhf4j's: for q_proj and k_proj of an interleaved-RoPE model,
     * HF's rotate-half pairing (i, i + d/2) is rlhf4j's (2i, 2i + 1) within each head, as in {@link HfCheckpoint}.
     */
    private static Tensor hfRows(ModelConfig c, LoraConfig.Site s, Tensor b, boolean toHf) {
        if (c.isGpt2() || !s.rope() || c.ropeStyle() != Rope.Style.INTERLEAVED) {
            return b.copy();
        }
        int rows = b.dim(0), cols = b.dim(1), hd = c.headDim(), half = hd / 2;
        float[] src = b.data(), out = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            int head = r / hd, within = r % hd;
            int hf = head * hd + (within % 2) * half + within / 2;
            int from = toHf ? r : hf, to = toHf ? hf : r;
            System.arraycopy(src, b.offset() + from * cols, out, to * cols, cols);
        }
        return Tensor.of(out, b.shape());
    }

    private static double decimal(float f) {
        return Double.parseDouble(Float.toString(f));
    }
}
