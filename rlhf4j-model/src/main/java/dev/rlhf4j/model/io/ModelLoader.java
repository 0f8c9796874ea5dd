package dev.rlhf4j.model.io;

import dev.rlhf4j.tensor.Heap;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Loads a model from whatever the user points at: an HF directory (it has a config.json), a {@code .gguf} file, or a
 * llama2.c {@code .bin} checkpoint (its tokenizer is looked for beside it).
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
}
