package dev.rlhf4j.model.io;

import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.Heap;
import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Optional;

/**
 * Loads a model from whatever the user points at: an HF directory (it has a config.json), a PEFT LoRA adapter
 * directory (adapter_config.json; its base is loaded and the adapter merged in), a {@code .gguf} file, or a llama2.c
 * {@code .bin} checkpoint (its tokenizer is looked for beside it).
 */
public final class ModelLoader {
    private ModelLoader() {
    }

    public static LoadedModel load(Path path) throws IOException {
        try {
            return dispatch(path);
        } catch (Heap.Shortage e) {
            throw new Heap.Shortage(path + ": " + e.getMessage());
        }
    }

    private static LoadedModel dispatch(Path path) throws IOException {
        if (!Files.exists(path)) {
            throw new NoSuchFileException(path.toString(), null, "no such model file or directory");
        }
        if (Files.isDirectory(path)) {
            if (PeftAdapter.isAdapter(path) && !Files.isRegularFile(path.resolve(HfCheckpoint.CONFIG))) {
                return loadAdapter(path, null, true);
            }
            if (!Files.isRegularFile(path.resolve(HfCheckpoint.CONFIG))) {
                throw new IOException(path + ": a directory without " + HfCheckpoint.CONFIG
                        + " (rlhf4j reads HF model directories, .gguf and llama2.c .bin files)");
            }
            return HfCheckpoint.load(path);
        }
        String name = path.getFileName().toString().toLowerCase(Locale.ROOT);
        if (name.endsWith(".gguf")) {
            return Gguf.load(path);
        }
        if (name.endsWith(".bin")) {
            return Llama2c.load(path);
        }
        throw new IOException(path + ": unknown model format (rlhf4j reads HF model directories, .gguf and llama2.c "
                + ".bin files)");
    }

    /**
     * Loads a PEFT adapter directory on its base: {@code base} when given, else the adapter's
     * {@code base_model_name_or_path} (a path, absolute or relative to the adapter directory or the working
     * directory). With {@code merge} the result is a plain model with the adapter merged in; else the base with the
     * adapter attached (trainable, sharing the base's weights). The tokenizer and chat template come from the adapter
     * directory when it has them, else from the base.
     */
    public static LoadedModel loadAdapter(Path dir, Path base, boolean merge) throws IOException {
        Path basePath = base != null ? base : adapterBase(dir);
        if (PeftAdapter.isAdapter(basePath) && !Files.isRegularFile(basePath.resolve(HfCheckpoint.CONFIG))) {
            throw new UserError(dir + ": its base " + basePath + " is itself an adapter; merge that one first");
        }
        LoadedModel b = load(basePath);
        Transformer adapted = PeftAdapter.load(dir, b.model());
        Transformer model = merge ? adapted.merged() : adapted;
        boolean ownTokenizer = Files.isRegularFile(dir.resolve("tokenizer.json"))
                || Files.isRegularFile(dir.resolve("vocab.json"));
        Optional<String> template = HfCheckpoint.chatTemplate(dir);
        return new LoadedModel(model, "peft", b.modelType(), dir, b.bosId(), b.eosIds(), b.padId(),
                ownTokenizer ? Optional.of(dir) : b.tokenizerPath(), b.ggufTokenizer(),
                template.isPresent() ? template : b.chatTemplate());
    }

    /**
     * Where an adapter's base is: its {@code base_model_name_or_path} as a path, absolute or relative to the working
     * directory or the adapter directory; fails naming the field when that is not a local file or directory.
     */
    public static Path adapterBase(Path dir) throws IOException {
        String name = PeftAdapter.readConfig(dir).baseModel();
        if (name.isBlank()) {
            throw new UserError(dir.resolve(PeftAdapter.CONFIG) + ": base_model_name_or_path is empty; set it, "
                    + "or merge the adapter with convert --merge-lora --base-model PATH");
        }
        Path p = Path.of(name);
        Path basePath = p.isAbsolute() || Files.exists(p) ? p : dir.resolve(p);
        if (!Files.exists(basePath)) {
            throw new UserError(dir.resolve(PeftAdapter.CONFIG) + ": its base model '" + name
                    + "' (base_model_name_or_path) is not a local file or directory; set it to the base model's "
                    + "path, or merge the adapter with convert --merge-lora --base-model PATH");
        }
        return basePath;
    }
}
