package dev.rlhf4j.model.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * Hugging Face model directories: {@code config.json} and {@code model.safetensors} (or a sharded index), read into
 * a {@link Transformer} and written back so that {@code transformers} loads them unchanged (same names, shapes,
 * layouts and dtypes as its own {@code save_pretrained}).
 *
 * <p>Supported {@code model_type}s: {@code gpt2} (Conv1D weights stored {@code [in, out]}, transposed here) and the
 * Llama family {@code llama}, {@code mistral}, {@code qwen2} ({@code q_proj}, {@code k_proj}, {@code v_proj} stacked
 * into one q/k/v projection, {@code gate_proj} and {@code up_proj} into one MLP input projection; rotate-half RoPE as
 * stored). OutputHeads follow the file: {@code score.weight} gives a scalar head ({@code *ForSequenceClassification}),
 * {@code lm_head.weight}, a tied embedding or a causal-LM architecture an LM head.
 */
public final class HfCheckpoint {
    public static final String CONFIG = "config.json";
    public static final String GENERATION_CONFIG = "generation_config.json";

    private static final ObjectMapper JSON = new ObjectMapper();
    /** Where {@link #save} puts a LoRA model's adapter (PEFT's layout) beside the merged weights. */
    public static final String ADAPTER_DIR = "adapter";
    private static final List<String> TYPES = List.of("gpt2", "llama", "mistral", "qwen2");

    private HfCheckpoint() {
    }

    /**
     * config.json in rlhf4j's terms.
     *
     * @param modelType     HF's model_type
     * @param config        the architecture
     * @param architectures HF's architectures list (e.g. "LlamaForCausalLM"), possibly empty
     * @param bosId         bos_token_id
     * @param eosIds        eos_token_id (an int or a list in HF)
     * @param padId         pad_token_id
     */
    public record HfConfig(String modelType, ModelConfig config, List<String> architectures, OptionalInt bosId,
                           List<Integer> eosIds, OptionalInt padId) {
    }

    /**
     * How to write a model.
     *
     * @param dtype     F32 (exact), BF16 or F16 (rounded to nearest even)
     * @param modelType HF model_type, or null for the natural one: gpt2 for GPT-2, qwen2 for a Llama-family model
     *                  with q/k/v bias, llama otherwise
     * @param tokenizer written beside the weights when not null
     * @param bosId     bos_token_id for config.json and generation_config.json (else the tokenizer's)
     * @param eosIds    eos_token_id(s) (else the tokenizer's)
     * @param padId     pad_token_id (else the tokenizer's)
     */
    public record SaveOptions(Safetensors.DType dtype, String modelType, Tokenizer tokenizer, OptionalInt bosId,
                              List<Integer> eosIds, OptionalInt padId) {
        public SaveOptions {
            if (dtype != Safetensors.DType.F32 && dtype != Safetensors.DType.BF16 && dtype != Safetensors.DType.F16) {
                throw new UserError("HF checkpoint: dtype must be F32, BF16 or F16, got " + dtype);
            }
            if (modelType != null && !TYPES.contains(modelType)) {
                throw new UserError("HF checkpoint: model_type '" + modelType + "' is not one of "
                        + TYPES);
            }
            eosIds = List.copyOf(eosIds);
        }

        public static SaveOptions of(Safetensors.DType dtype) {
            return new SaveOptions(dtype, null, null, OptionalInt.empty(), List.of(), OptionalInt.empty());
        }

        /** Keeps the model_type and special token ids of a loaded model. */
        public static SaveOptions like(LoadedModel loaded, Safetensors.DType dtype) {
            String type = TYPES.contains(loaded.modelType()) ? loaded.modelType() : null;
            return new SaveOptions(dtype, type, null, loaded.bosId(), loaded.eosIds(), loaded.padId());
        }

        public SaveOptions withTokenizer(Tokenizer t) {
            return new SaveOptions(dtype, modelType, t, bosId, eosIds, padId);
        }

        public SaveOptions withModelType(String type) {
            return new SaveOptions(dtype, type, tokenizer, bosId, eosIds, padId);
        }
    }

    // ------------------------------------------------------------------ config.json

    /** Reads config.json; an unsupported model_type or setting fails with one line naming the file. */
    public static HfConfig readConfig(Path file) throws IOException {
        JsonNode root = readJson(file);
        String type = root.path("model_type").asText(null);
        if (type == null) {
            throw new IOException(file + ": no \"model_type\"");
        }
        ModelConfig config;
        try {
            config = switch (type) {
                case "gpt2" -> gpt2Config(root, file);
                case "llama", "mistral", "qwen2" -> llamaConfig(type, root, file);
                default -> throw new IOException(file + ": model_type '" + type + "' is not supported (" +
                        String.join(", ", TYPES) + ")");
            };
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage());
        }
        List<String> architectures = new ArrayList<>();
        root.path("architectures").forEach(a -> architectures.add(a.asText()));
        return new HfConfig(type, config, List.copyOf(architectures), optionalId(root, "bos_token_id"),
                ids(root.get("eos_token_id")), optionalId(root, "pad_token_id"));
    }

    private static ModelConfig gpt2Config(JsonNode root, Path file) throws IOException {
        int dim = requiredInt(root, "n_embd", file);
        int hidden = optionalInt(root, "n_inner", 4 * dim, file);
        String act = root.path("activation_function").asText("gelu_new");
        if (!act.equals("gelu_new") && !act.equals("gelu_pytorch_tanh")) {
            throw new IOException(file + ": activation_function '" + act + "' is not supported (rlhf4j's GPT-2 uses "
                    + "the tanh GELU: gelu_new, gelu_pytorch_tanh)");
        }
        if (root.path("scale_attn_by_inverse_layer_idx").asBoolean(false)
                || !root.path("scale_attn_weights").asBoolean(true)) {
            throw new IOException(file + ": GPT-2 attention scaling other than 1/sqrt(head_dim) is not supported");
        }
        if (!root.path("tie_word_embeddings").asBoolean(true)) {
            throw new IOException(file + ": GPT-2 with untied embeddings is not supported");
        }
        int heads = requiredInt(root, "n_head", file);
        return new ModelConfig(ModelConfig.Family.GPT2, requiredInt(root, "vocab_size", file), dim,
                requiredInt(root, "n_layer", file), heads, heads, hidden, requiredInt(root, "n_positions", file),
                (float) number(root, "layer_norm_epsilon", 1e-5, file), 0, null, true, true, null);
    }

    /** HF's LlamaConfig, MistralConfig and Qwen2Config, with their class defaults for the optional keys. */
    private static ModelConfig llamaConfig(String type, JsonNode root, Path file) throws IOException {
        int dim = requiredInt(root, "hidden_size", file);
        int heads = requiredInt(root, "num_attention_heads", file);
        int kvHeads = optionalInt(root, "num_key_value_heads", heads, file);
        int headDim = optionalInt(root, "head_dim", -1, file);
        if (headDim != -1 && (long) headDim * heads != dim) {
            throw new IOException(file + ": head_dim " + headDim + " is not hidden_size / num_attention_heads"
                    + " (" + dim + " / " + heads + "), which rlhf4j requires");
        }
        String act = root.path("hidden_act").asText("silu");
        if (!act.equals("silu")) {
            throw new IOException(file + ": hidden_act '" + act + "' is not supported (silu)");
        }
        // Llama's attention_bias puts a bias on o_proj as well as on q/k/v; rlhf4j's layer has the q/k/v bias only.
        if (type.equals("llama") && root.path("attention_bias").asBoolean(false)) {
            throw new IOException(file + ": attention_bias=true (a bias on o_proj as well as q/k/v) is not supported");
        }
        if (root.path("mlp_bias").asBoolean(false)) {
            throw new IOException(file + ": mlp_bias=true is not supported");
        }
        int maxPos = optionalInt(root, "max_position_embeddings", type.equals("llama") ? 2048 : 32768, file);
        // rlhf4j has no sliding-window attention: capping the length at the window keeps every sequence in the
        // range where full causal attention computes the same thing.
        boolean sliding = switch (type) {
            case "mistral" -> root.hasNonNull("sliding_window");
            case "qwen2" -> root.path("use_sliding_window").asBoolean(false);
            default -> false;
        };
        if (sliding) {
            maxPos = Math.min(maxPos, optionalInt(root, "sliding_window", 4096, file));
        }
        return new ModelConfig(ModelConfig.Family.LLAMA, requiredInt(root, "vocab_size", file), dim,
                requiredInt(root, "num_hidden_layers", file), heads, kvHeads,
                requiredInt(root, "intermediate_size", file), maxPos,
                (float) number(root, "rms_norm_eps", 1e-6, file), number(root, "rope_theta", 10000.0, file),
                Rope.Style.ROTATE_HALF, root.path("tie_word_embeddings").asBoolean(false), type.equals("qwen2"),
                ropeScaling(root.get("rope_scaling"), file));
    }

    private static ModelConfig.RopeScaling ropeScaling(JsonNode s, Path file) throws IOException {
        if (s == null || s.isNull()) {
            return null;
        }
        String type = s.has("rope_type") ? s.get("rope_type").asText() : s.path("type").asText("default");
        if (type.equals("default")) {
            return null;
        }
        return new ModelConfig.RopeScaling(type, number(s, "factor", 0, file), number(s, "low_freq_factor", 0, file),
                number(s, "high_freq_factor", 0, file), optionalInt(s, "original_max_position_embeddings", 0, file));
    }

    // ------------------------------------------------------------------ the name mapping

    /**
     * One HF tensor and where it goes: rows {@code [row0, row0 + hfShape[0])} of an rlhf4j parameter (elements for a
     * vector), or, for GPT-2's Conv1D ({@code transposed}), the whole parameter transposed. {@code rope} marks the q
     * and k blocks, whose rows are permuted when an interleaved-RoPE model is written.
     */
    private record Part(String name, boolean inBase, int[] hfShape, int row0, boolean transposed, boolean rope) {
    }

    private static Part part(String name, int... shape) {
        return new Part(name, true, shape, 0, false, false);
    }

    private static Part conv1d(String name, int in, int out) {
        return new Part(name, true, new int[] {in, out}, 0, true, false);
    }

    private static Part head(String name, int... shape) {
        return new Part(name, false, shape, 0, false, false);
    }

    private static Part rows(String name, int row0, boolean rope, int... shape) {
        return new Part(name, true, shape, row0, false, rope);
    }

    /** The HF tensors of every rlhf4j parameter of {@code c} with {@code heads}, in layout order. */
    private static Map<String, List<Part>> mapping(ModelConfig c, OutputHeads heads) {
        Map<String, List<Part>> m = new LinkedHashMap<>();
        int d = c.dim(), v = c.vocabSize(), f = c.hiddenDim();
        if (c.isGpt2()) {
            m.put("wte", List.of(part("wte.weight", v, d)));
            m.put("wpe", List.of(part("wpe.weight", c.maxSeqLen(), d)));
            for (int i = 0; i < c.layers(); i++) {
                String p = "h." + i + "."; // the same block prefix in HF and rlhf4j
                m.put(p + "ln1.weight", List.of(part(p + "ln_1.weight", d)));
                m.put(p + "ln1.bias", List.of(part(p + "ln_1.bias", d)));
                m.put(p + "attn.qkv.weight", List.of(conv1d(p + "attn.c_attn.weight", d, 3 * d)));
                m.put(p + "attn.qkv.bias", List.of(part(p + "attn.c_attn.bias", 3 * d)));
                m.put(p + "attn.proj.weight", List.of(conv1d(p + "attn.c_proj.weight", d, d)));
                m.put(p + "attn.proj.bias", List.of(part(p + "attn.c_proj.bias", d)));
                m.put(p + "ln2.weight", List.of(part(p + "ln_2.weight", d)));
                m.put(p + "ln2.bias", List.of(part(p + "ln_2.bias", d)));
                m.put(p + "mlp.fc.weight", List.of(conv1d(p + "mlp.c_fc.weight", d, f)));
                m.put(p + "mlp.fc.bias", List.of(part(p + "mlp.c_fc.bias", f)));
                m.put(p + "mlp.proj.weight", List.of(conv1d(p + "mlp.c_proj.weight", f, d)));
                m.put(p + "mlp.proj.bias", List.of(part(p + "mlp.c_proj.bias", d)));
            }
            m.put("ln_f.weight", List.of(part("ln_f.weight", d)));
            m.put("ln_f.bias", List.of(part("ln_f.bias", d)));
        } else {
            int q = c.heads() * c.headDim(), kv = c.kvHeads() * c.headDim();
            m.put("wte", List.of(part("embed_tokens.weight", v, d)));
            for (int i = 0; i < c.layers(); i++) {
                String h = "layers." + i + ".", p = "h." + i + ".";
                m.put(p + "ln1.weight", List.of(part(h + "input_layernorm.weight", d)));
                m.put(p + "attn.qkv.weight", List.of(rows(h + "self_attn.q_proj.weight", 0, true, q, d),
                        rows(h + "self_attn.k_proj.weight", q, true, kv, d),
                        rows(h + "self_attn.v_proj.weight", q + kv, false, kv, d)));
                if (c.qkvBias()) {
                    m.put(p + "attn.qkv.bias", List.of(rows(h + "self_attn.q_proj.bias", 0, true, q),
                            rows(h + "self_attn.k_proj.bias", q, true, kv),
                            rows(h + "self_attn.v_proj.bias", q + kv, false, kv)));
                }
                m.put(p + "attn.proj.weight", List.of(part(h + "self_attn.o_proj.weight", d, q)));
                m.put(p + "ln2.weight", List.of(part(h + "post_attention_layernorm.weight", d)));
                m.put(p + "mlp.fc.weight", List.of(rows(h + "mlp.gate_proj.weight", 0, false, f, d),
                        rows(h + "mlp.up_proj.weight", f, false, f, d)));
                m.put(p + "mlp.proj.weight", List.of(part(h + "mlp.down_proj.weight", d, f)));
            }
            m.put("ln_f.weight", List.of(part("norm.weight", d)));
        }
        if (heads.lm() && !c.tiedEmbeddings()) {
            m.put("lm_head.weight", List.of(head("lm_head.weight", v, d)));
        }
        if (heads.scalar()) {
            m.put("score.weight", List.of(head("score.weight", 1, d)));
        }
        return m;
    }

    private static String basePrefix(ModelConfig c) {
        return c.isGpt2() ? "transformer." : "model.";
    }

    /** Buffers some HF checkpoints carry that are not parameters: GPT-2's causal masks, old Llama's inv_freq. */
    private static boolean isBuffer(String name) {
        return name.endsWith(".attn.bias") || name.endsWith(".attn.masked_bias")
                || name.endsWith("rotary_emb.inv_freq");
    }

    // ------------------------------------------------------------------ loading

    /** Loads an HF model directory (config.json + safetensors weights). */
    public static LoadedModel load(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new NoSuchFileException(dir.toString(), null, "no such model directory");
        }
        HfConfig hc = readConfig(dir.resolve(CONFIG));
        ModelConfig c = hc.config();
        Transformer model;
        try (Safetensors st = Safetensors.openDirectory(dir)) {
            String prefix = basePrefix(c);
            Map<String, String> stored = new LinkedHashMap<>(); // name without the base prefix -> name in the file
            for (String name : st.tensors().keySet()) {
                String key = name.startsWith(prefix) ? name.substring(prefix.length()) : name;
                if (stored.put(key, name) != null) {
                    throw new IOException(dir + ": tensor '" + key + "' is stored both with and without '" + prefix
                            + "'");
                }
            }
            boolean scalar = stored.containsKey("score.weight");
            boolean lm = !scalar || stored.containsKey("lm_head.weight") || hc.architectures().stream()
                    .anyMatch(a -> a.endsWith("ForCausalLM") || a.endsWith("LMHeadModel"));
            model = new Transformer(c, scalar ? (lm ? OutputHeads.BOTH : OutputHeads.SCALAR) : OutputHeads.LM);
            Set<String> used = new HashSet<>();
            List<String> missing = new ArrayList<>();
            for (Map.Entry<String, List<Part>> e : mapping(c, model.heads()).entrySet()) {
                Tensor param = model.params().get(e.getKey());
                for (Part p : e.getValue()) {
                    String name = stored.get(p.name());
                    if (name == null) {
                        missing.add((p.inBase() ? prefix : "") + p.name() + " " + Arrays.toString(p.hfShape()));
                        continue;
                    }
                    Safetensors.TensorInfo info = st.info(name);
                    if (!Arrays.equals(info.shape(), p.hfShape())) {
                        throw new IOException(dir + ": tensor '" + name + "' has shape " + info.shapeString()
                                + " but " + CONFIG + " implies " + Arrays.toString(p.hfShape()));
                    }
                    readPart(st, name, p, param);
                    used.add(p.name());
                }
            }
            if (!missing.isEmpty()) {
                throw new IOException(dir + ": missing " + listed(missing) + " for " + c.family() + " "
                        + (hc.architectures().isEmpty() ? hc.modelType() : hc.architectures().getFirst()));
            }
            List<String> extra = new ArrayList<>();
            for (Map.Entry<String, String> e : stored.entrySet()) {
                if (used.contains(e.getKey()) || isBuffer(e.getKey())) {
                    continue;
                }
                if (e.getKey().equals("lm_head.weight") && c.tiedEmbeddings()
                        && Arrays.equals(st.read(e.getValue()), model.params().get("wte").toArray())) {
                    continue; // a tied head saved anyway
                }
                extra.add(e.getValue());
            }
            if (!extra.isEmpty()) {
                throw new IOException(dir + ": unexpected " + listed(extra) + " (not part of a " + hc.modelType()
                        + " model with " + c.layers() + " layers" + (c.tiedEmbeddings() ? " and tied embeddings" : "")
                        + ")");
            }
        }
        HfConfig gen = generationIds(dir, hc);
        return new LoadedModel(model, "hf", hc.modelType(), dir, gen.bosId(), gen.eosIds(), gen.padId(),
                hasTokenizer(dir) ? Optional.of(dir) : Optional.empty(), Optional.empty(), chatTemplate(dir));
    }

    private static void readPart(Safetensors st, String name, Part p, Tensor param) throws IOException {
        int cols = param.rank() == 2 ? param.dim(1) : 1;
        if (!p.transposed()) {
            st.readWeights(name, param.data(), param.offset() + p.row0() * cols);
            return;
        }
        float[] src = st.readWeights(name); // [in, out] = [cols, rows] of the parameter
        int rows = param.dim(0);
        float[] dst = param.data();
        for (int r = 0; r < rows; r++) {
            for (int col = 0; col < cols; col++) {
                dst[param.offset() + r * cols + col] = src[col * rows + r];
            }
        }
    }

    private static String listed(List<String> names) {
        int shown = Math.min(names.size(), 4);
        String list = String.join(", ", names.subList(0, shown));
        return (names.size() == 1 ? "tensor " : names.size() + " tensors: ") + list
                + (names.size() > shown ? ", ..." : "");
    }

    /** generation_config.json's ids override config.json's, as HF's GenerationConfig does. */
    private static HfConfig generationIds(Path dir, HfConfig hc) throws IOException {
        Path file = dir.resolve(GENERATION_CONFIG);
        if (!Files.isRegularFile(file)) {
            return hc;
        }
        JsonNode g = readJson(file);
        OptionalInt bos = optionalId(g, "bos_token_id"), pad = optionalId(g, "pad_token_id");
        List<Integer> eos = ids(g.get("eos_token_id"));
        return new HfConfig(hc.modelType(), hc.config(), hc.architectures(), bos.isPresent() ? bos : hc.bosId(),
                eos.isEmpty() ? hc.eosIds() : eos, pad.isPresent() ? pad : hc.padId());
    }

    private static boolean hasTokenizer(Path dir) {
        return Files.exists(dir.resolve("tokenizer.json")) || Files.exists(dir.resolve("tokenizer.model"))
                || Files.exists(dir.resolve("vocab.json"));
    }

    /**
     * The chat template: {@code chat_template.jinja} (where recent transformers versions save it), else
     * tokenizer_config.json's {@code chat_template}, a string or a list of named templates of which "default" is used.
     */
    static Optional<String> chatTemplate(Path dir) throws IOException {
        Path jinja = dir.resolve("chat_template.jinja");
        if (Files.isRegularFile(jinja)) {
            try {
                return Optional.of(Files.readString(jinja));
            } catch (CharacterCodingException e) {
                throw new IOException(jinja + ": not valid UTF-8 text");
            }
        }
        Path config = dir.resolve("tokenizer_config.json");
        if (!Files.isRegularFile(config)) {
            return Optional.empty();
        }
        JsonNode t = readJson(config).get("chat_template");
        if (t == null || t.isNull()) {
            return Optional.empty();
        }
        if (t.isTextual()) {
            return Optional.of(t.asText());
        }
        for (JsonNode named : t) {
            if (named.path("name").asText().equals("default")) {
                return Optional.of(named.path("template").asText());
            }
        }
        return Optional.empty();
    }

    // ------------------------------------------------------------------ saving

    /**
     * Writes {@code model} as an HF directory: model.safetensors, config.json, generation_config.json and, when the
     * options carry one, the tokenizer files. An interleaved-RoPE model (from llama2.c or GGUF) has its q and k rows
     * permuted to HF's rotate-half pairing, so that transformers computes the same function. A model with LoRA
     * adapters is written with them merged in, and the adapter itself goes to {@code adapter/} in PEFT's layout.
     */
    public static void save(Transformer model, Path dir, SaveOptions options) throws IOException {
        if (model.hasAdapters()) {
            // HF transformers reads plain weights: the adapters are merged in, and kept beside in PEFT's layout
            PeftAdapter.save(model, dir.resolve(ADAPTER_DIR), model.lora().baseModel());
            model = model.merged();
        }
        ModelConfig c = model.config();
        String type = modelType(c, options.modelType());
        Files.createDirectories(dir);
        boolean permute = !c.isGpt2() && c.ropeStyle() == Rope.Style.INTERLEAVED;
        List<Safetensors.Entry> entries = new ArrayList<>();
        for (Map.Entry<String, List<Part>> e : mapping(c, model.heads()).entrySet()) {
            Tensor param = model.params().get(e.getKey());
            for (Part p : e.getValue()) {
                String name = (p.inBase() ? basePrefix(c) : "") + p.name();
                entries.add(new Safetensors.Entry(name, p.hfShape(), () -> hfTensor(param, p, permute, c.headDim())));
            }
        }
        Safetensors.write(dir.resolve(Safetensors.SINGLE_FILE), entries, options.dtype(), Map.of("format", "pt"));

        Tokenizer tok = options.tokenizer();
        OptionalInt bos = options.bosId().isPresent() || tok == null ? options.bosId() : tok.bosId();
        OptionalInt pad = options.padId().isPresent() || tok == null ? options.padId() : tok.padId();
        List<Integer> eos = !options.eosIds().isEmpty() || tok == null || tok.eosId().isEmpty() ? options.eosIds()
                : List.of(tok.eosId().getAsInt());
        ObjectNode config = configJson(c, model.heads(), type, options.dtype());
        putIds(config, bos, eos, pad);
        writeJson(dir.resolve(CONFIG), config);
        ObjectNode generation = JSON.createObjectNode();
        putIds(generation, bos, eos, pad);
        writeJson(dir.resolve(GENERATION_CONFIG), generation);
        if (tok != null) {
            tok.save(dir);
        }
    }

    private static String modelType(ModelConfig c, String requested) {
        String type = requested != null ? requested : c.isGpt2() ? "gpt2" : c.qkvBias() ? "qwen2" : "llama";
        if (c.isGpt2() != type.equals("gpt2")) {
            throw new UserError("HF checkpoint: a " + c.family() + " model cannot be saved as " + type);
        }
        if (!c.isGpt2() && c.qkvBias() != type.equals("qwen2")) {
            throw new UserError("HF checkpoint: " + (c.qkvBias()
                    ? "q/k/v biases without an o_proj bias exist in HF only as qwen2, not " + type
                    : "qwen2 always has q/k/v biases and this model has none; save it as llama"));
        }
        return type;
    }

    /** The HF tensor of one part: rows of the parameter, transposed for Conv1D, q/k rows permuted to rotate-half. */
    private static Tensor hfTensor(Tensor param, Part p, boolean permute, int headDim) {
        int cols = param.rank() == 2 ? param.dim(1) : 1;
        float[] src = param.data();
        int base = param.offset() + p.row0() * cols;
        if (p.transposed()) {
            int rows = param.dim(0);
            float[] out = new float[rows * cols];
            for (int r = 0; r < rows; r++) {
                for (int col = 0; col < cols; col++) {
                    out[col * rows + r] = src[base + r * cols + col];
                }
            }
            return Tensor.of(out, p.hfShape());
        }
        int rows = p.hfShape()[0];
        if (!(permute && p.rope())) {
            return Tensor.view(src, base, p.hfShape()).copy();
        }
        // HF's convert_llama_weights_to_hf permute: within each head, the interleaved pair (2i, 2i+1) becomes the
        // rotate-half pair (i, i + headDim/2), so rows 0, 2, 4, ... come first, then 1, 3, 5, ...
        float[] out = new float[rows * cols];
        int half = headDim / 2;
        for (int r = 0; r < rows; r++) {
            int head = r / headDim, within = r % headDim;
            int to = head * headDim + (within % 2) * half + within / 2;
            System.arraycopy(src, base + r * cols, out, to * cols, cols);
        }
        return Tensor.of(out, p.hfShape());
    }

    private static ObjectNode configJson(ModelConfig c, OutputHeads heads, String type, Safetensors.DType dtype) {
        ObjectNode o = JSON.createObjectNode();
        String arch = switch (type) {
            case "gpt2" -> heads.lm() ? "GPT2LMHeadModel" : "GPT2ForSequenceClassification";
            case "mistral" -> heads.lm() ? "MistralForCausalLM" : "MistralForSequenceClassification";
            case "qwen2" -> heads.lm() ? "Qwen2ForCausalLM" : "Qwen2ForSequenceClassification";
            default -> heads.lm() ? "LlamaForCausalLM" : "LlamaForSequenceClassification";
        };
        o.putArray("architectures").add(arch);
        o.put("model_type", type);
        o.put("vocab_size", c.vocabSize());
        if (c.isGpt2()) {
            o.put("n_embd", c.dim());
            o.put("n_layer", c.layers());
            o.put("n_head", c.heads());
            o.put("n_positions", c.maxSeqLen());
            o.put("n_inner", c.hiddenDim());
            o.put("activation_function", "gelu_new");
            o.put("layer_norm_epsilon", decimal(c.normEps()));
        } else {
            o.put("hidden_size", c.dim());
            o.put("intermediate_size", c.hiddenDim());
            o.put("num_hidden_layers", c.layers());
            o.put("num_attention_heads", c.heads());
            o.put("num_key_value_heads", c.kvHeads());
            o.put("max_position_embeddings", c.maxSeqLen());
            o.put("rms_norm_eps", decimal(c.normEps()));
            o.put("rope_theta", c.ropeTheta());
            o.put("hidden_act", "silu");
            if (c.ropeScaling() == null) {
                o.putNull("rope_scaling");
            } else {
                ModelConfig.RopeScaling s = c.ropeScaling();
                ObjectNode r = o.putObject("rope_scaling");
                // transformers before 4.43 accepts linear scaling only as exactly {"type", "factor"}; Llama 3.1's
                // configs name the llama3 kind "rope_type"
                r.put(s.type().equals("linear") ? "type" : "rope_type", s.type());
                r.put("factor", s.factor());
                if (s.type().equals("llama3")) {
                    r.put("low_freq_factor", s.lowFreqFactor());
                    r.put("high_freq_factor", s.highFreqFactor());
                    r.put("original_max_position_embeddings", s.originalMaxPositions());
                }
            }
            switch (type) {
                case "llama" -> o.put("attention_bias", false);
                case "mistral" -> o.putNull("sliding_window");
                default -> o.put("use_sliding_window", false);
            }
        }
        o.put("tie_word_embeddings", c.tiedEmbeddings());
        if (!heads.lm()) {
            // num_labels 1: a scalar reward or value, as TRL's reward models
            o.put("num_labels", 1);
            o.putObject("id2label").put("0", "LABEL_0");
            o.putObject("label2id").put("LABEL_0", 0);
        }
        o.put("torch_dtype", switch (dtype) {
            case BF16 -> "bfloat16";
            case F16 -> "float16";
            default -> "float32";
        });
        return o;
    }

    /** A float written with its shortest decimal (1e-5f as 1.0E-5, not 9.999999747378752E-6). */
    private static double decimal(float f) {
        return Double.parseDouble(Float.toString(f));
    }

    private static void putIds(ObjectNode o, OptionalInt bos, List<Integer> eos, OptionalInt pad) {
        bos.ifPresent(id -> o.put("bos_token_id", id));
        if (eos.size() == 1) {
            o.put("eos_token_id", eos.getFirst());
        } else if (!eos.isEmpty()) {
            ArrayNode a = o.putArray("eos_token_id");
            eos.forEach(a::add);
        }
        pad.ifPresent(id -> o.put("pad_token_id", id));
    }

    // ------------------------------------------------------------------ JSON helpers

    static JsonNode readJson(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no such file");
        }
        try {
            return JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new IOException(file + ": not valid JSON (" + Safetensors.oneLine(e) + ")");
        }
    }

    private static void writeJson(Path file, ObjectNode node) throws IOException {
        Files.writeString(file, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(node) + "\n");
    }

    /** A size: a positive whole number (768, not 768.5, "768" or 0). */
    private static int requiredInt(JsonNode root, String key, Path file) throws IOException {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            throw new IOException(file + ": \"" + key + "\" is missing; it must be a positive integer");
        }
        int v = integer(n, key, file);
        if (v <= 0) {
            throw new IOException(file + ": \"" + key + "\" must be a positive integer, got " + n);
        }
        return v;
    }

    /** An optional whole number; absent or null gives {@code fallback}. */
    private static int optionalInt(JsonNode root, String key, int fallback, Path file) throws IOException {
        JsonNode n = root.get(key);
        return n == null || n.isNull() ? fallback : integer(n, key, file);
    }

    /**
     * A whole number that fits an int. Jackson's {@code asInt} would read 2.5 as 2 and "768" as 768; a config whose
     * integer field holds anything else is damaged, and transformers would refuse it too.
     */
    private static int integer(JsonNode n, String key, Path file) throws IOException {
        if (!n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new IOException(file + ": \"" + key + "\" must be an integer, got " + n
                    + (n.isTextual() ? " (a string)" : ""));
        }
        return n.intValue();
    }

    /** An optional number (absent or null gives {@code fallback}); a string or other value is refused. */
    private static double number(JsonNode root, String key, double fallback, Path file) throws IOException {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return fallback;
        }
        if (!n.isNumber()) {
            throw new IOException(file + ": \"" + key + "\" must be a number, got " + n
                    + (n.isTextual() ? " (a string)" : ""));
        }
        return n.doubleValue();
    }

    private static OptionalInt optionalId(JsonNode root, String key) {
        JsonNode n = root.get(key);
        return n != null && n.isIntegralNumber() && n.canConvertToInt() ? OptionalInt.of(n.intValue())
                : OptionalInt.empty();
    }

    private static List<Integer> ids(JsonNode n) {
        List<Integer> out = new ArrayList<>();
        if (n != null && n.isArray()) {
            n.forEach(x -> out.add(x.asInt()));
        } else if (n != null && n.canConvertToInt()) {
            out.add(n.asInt());
        }
        return List.copyOf(out);
    }
}
