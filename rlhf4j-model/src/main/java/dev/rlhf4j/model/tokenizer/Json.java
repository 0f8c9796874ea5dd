package dev.rlhf4j.model.tokenizer;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/** Reading and writing the tokenizer's JSON files, with one-line errors that name the file. */
final class Json {

    static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {
    }

    /** The JSON object in {@code file}. */
    static ObjectNode readObject(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no such file");
        }
        JsonNode node;
        try {
            node = MAPPER.readTree(file.toFile());
        } catch (JacksonException e) {
            JsonLocation at = e.getLocation();
            String where = at == null ? "" : " at line " + at.getLineNr() + ", column " + at.getColumnNr();
            throw new UserError(file + ": malformed JSON" + where + ": "
                    + e.getOriginalMessage().lines().findFirst().orElse(""));
        }
        if (!(node instanceof ObjectNode object)) {
            throw new UserError(file + ": expected a JSON object");
        }
        return object;
    }

    static void write(Path file, JsonNode node) throws IOException {
        MAPPER.writerWithDefaultPrettyPrinter().writeValue(file.toFile(), node);
    }
}
