package dev.rlhf4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.rlhf4j.train.AtomicFiles;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** The loop's files are written whole or not at all: a kill leaves the previous version (or none), never half. */
final class LoopFiles {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper PRETTY = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private LoopFiles() {
    }

    /** {@code text} to {@code file} through a temporary file in the same directory, renamed over it. */
    static void writeAtomically(Path file, String text) throws IOException {
        try {
            AtomicFiles.writeString(file, text);
        } catch (IOException e) {
            throw IoErrors.of("write", file, e);
        }
    }

    /** One JSON value per line. */
    static void writeJsonlAtomically(Path file, List<?> records) throws IOException {
        StringBuilder b = new StringBuilder();
        for (Object r : records) {
            b.append(JSON.writeValueAsString(r)).append('\n');
        }
        writeAtomically(file, b.toString());
    }

    /** An indented JSON document. */
    static void writeJsonAtomically(Path file, Object value) throws IOException {
        writeAtomically(file, PRETTY.writeValueAsString(value) + "\n");
    }
}
