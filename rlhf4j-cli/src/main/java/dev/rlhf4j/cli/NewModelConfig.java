package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;
import java.util.Set;

/**
 * The architecture of a model trained from scratch, from a small YAML (or JSON) file:
 * <pre>
 * family: llama          # or gpt2
 * dim: 256
 * layers: 6
 * heads: 8
 * kv_heads: 4            # llama only; default: heads
 * hidden_dim: 688        # default: 4·dim for gpt2, about 8/3·dim rounded to 8 for llama
 * max_seq_len: 512
 * vocab_size: 4096       # default: the tokenizer's
 * norm_eps: 1.0e-5
 * rope_theta: 10000.0
 * rope_style: rotate_half   # or interleaved
 * tied_embeddings: true
 * qkv_bias: false
 * </pre>
 */
final class NewModelConfig {
    private static final Set<String> KEYS = Set.of("family", "dim", "layers", "heads", "kv_heads", "hidden_dim",
            "max_seq_len", "vocab_size", "norm_eps", "rope_theta", "rope_style", "tied_embeddings", "qkv_bias");

    private NewModelConfig() {
    }

    static ModelConfig read(Path file, int tokenizerVocab) throws IOException {
        JsonNode n;
        try {
            n = new YAMLMapper().readTree(file.toFile());
        } catch (IOException e) {
            throw new UserError(file + ": not a valid YAML/JSON model config (" + e.getMessage()
                    .lines().findFirst().orElse("") + ")");
        }
        if (n == null || !n.isObject()) {
            throw new UserError(file + ": a model config must be a mapping of settings");
        }
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!KEYS.contains(k)) {
                throw new UserError(file + ": unknown setting '" + k + "' (known: " + KEYS + ")");
            }
        }
        String family = text(n, "family", file).toLowerCase(Locale.ROOT);
        int dim = integer(n, "dim", file), layers = integer(n, "layers", file), heads = integer(n, "heads", file);
        int maxSeq = integer(n, "max_seq_len", file);
        int vocab = n.has("vocab_size") ? integer(n, "vocab_size", file) : tokenizerVocab;
        if (vocab < tokenizerVocab) {
            throw new UserError(file + ": vocab_size " + vocab + " is smaller than the tokenizer's "
                    + tokenizerVocab + " tokens");
        }
        try {
            return switch (family) {
                case "gpt2" -> {
                    int hidden = n.has("hidden_dim") ? integer(n, "hidden_dim", file) : 4 * dim;
                    yield new ModelConfig(ModelConfig.Family.GPT2, vocab, dim, layers, heads, heads, hidden, maxSeq,
                            (float) n.path("norm_eps").asDouble(1e-5), 0, null, true, true, null);
                }
                case "llama" -> {
                    int hidden = n.has("hidden_dim") ? integer(n, "hidden_dim", file)
                            : (int) (Math.round(8.0 * dim / 3 / 8) * 8);
                    String style = n.path("rope_style").asText("rotate_half").toLowerCase(Locale.ROOT);
                    Rope.Style rope = switch (style) {
                        case "rotate_half" -> Rope.Style.ROTATE_HALF;
                        case "interleaved" -> Rope.Style.INTERLEAVED;
                        default -> throw new UserError(file + ": rope_style must be rotate_half or "
                                + "interleaved, got '" + style + "'");
                    };
                    yield ModelConfig.llama(vocab, dim, layers, heads, n.has("kv_heads") ? integer(n, "kv_heads", file)
                                    : heads, hidden, maxSeq, (float) n.path("norm_eps").asDouble(1e-5),
                            n.path("rope_theta").asDouble(10000.0), rope, n.path("tied_embeddings").asBoolean(true),
                            n.path("qkv_bias").asBoolean(false));
                }
                default -> throw new UserError(file + ": family must be gpt2 or llama, got '"
                        + family + "'");
            };
        } catch (IllegalArgumentException e) {
            // ModelConfig's checks are about this file's settings
            throw e instanceof UserError u && e.getMessage().startsWith(file.toString()) ? u
                    : new UserError(e.getMessage().startsWith(file.toString()) ? e.getMessage()
                    : file + ": " + e.getMessage(), e);
        }
    }

    private static String text(JsonNode n, String key, Path file) {
        if (!n.hasNonNull(key)) {
            throw new UserError(file + ": missing '" + key + "'");
        }
        return n.get(key).asText();
    }

    private static int integer(JsonNode n, String key, Path file) {
        if (!n.hasNonNull(key) || !n.get(key).canConvertToInt()) {
            throw new UserError(file + ": '" + key + "' must be an integer");
        }
        return n.get(key).asInt();
    }
}
