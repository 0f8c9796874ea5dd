package dev.rlhf4j.cli;

import dev.rlhf4j.train.data.JsonlWriter;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * I/O errors that say which file and what was being done to it: the JDK's own messages for a failed write or read
 * ("No space left on device", "Is a directory") name neither.
 */
final class IoErrors {
    private IoErrors() {
    }

    /** "cannot OPERATION FILE: why", keeping {@code e} as the cause. */
    static IOException of(String operation, Path file, IOException e) {
        String why = e instanceof FileSystemException f ? Main.fileSystemReason(f)
                : e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return new IOException("cannot " + operation + " " + file + ": " + why, e);
    }

    /** {@link Files#writeString}, failing with the file named. */
    static void writeString(Path file, String text) throws IOException {
        try {
            Files.writeString(file, text, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw of("write", file, e);
        }
    }

    /** {@link JsonlWriter#write}, failing with the file named. */
    static <T> void writeJsonl(Path file, Iterable<T> items, Function<T, ?> toJson) throws IOException {
        try {
            JsonlWriter.write(file, items, toJson);
        } catch (IOException e) {
            throw of("write", file, e);
        }
    }
}
