package dev.rlhf4j.train;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckpointStateTest {
    @TempDir
    Path dir;

    private String error(String state) throws IOException {
        Files.writeString(dir.resolve("trainer_state.json"), state);
        return assertThrows(IllegalArgumentException.class, () -> Checkpoints.readState(dir)).getMessage();
    }

    @Test
    void aDamagedStateFileIsNamedWithWhatIsWrong() throws IOException {
        String file = dir.resolve("trainer_state.json").toString();
        String truncated = error("{\"global_step\": 3, \"epo");
        assertTrue(truncated.startsWith(file + ": damaged checkpoint state: not valid JSON (Unexpected end-of-input"),
                truncated);
        assertFalse(truncated.contains("\n"));
        assertEquals(file + ": damaged checkpoint state: not a JSON object", error("[3]"));
        assertEquals(file + ": damaged checkpoint state: no \"global_step\"", error("{\"epoch\": 1}"));
        assertEquals(file + ": damaged checkpoint state: \"global_step\" is \"3\", not a whole number >= 0",
                error("{\"global_step\": \"3\"}"));
        assertEquals(file + ": damaged checkpoint state: \"position\" is 2.5, not a whole number >= 0",
                error("{\"global_step\": 3, \"position\": 2.5}"));
        assertEquals(file + ": damaged checkpoint state: \"episode\" is -8, not a whole number >= 0",
                error("{\"global_step\": 3, \"episode\": -8}"));
        assertEquals(file + ": damaged checkpoint state: \"kl_coef\" is null, not a number",
                error("{\"global_step\": 3, \"kl_coef\": null}"));
    }

    @Test
    void aSoundStateIsReadAsWritten() throws IOException {
        Files.writeString(dir.resolve("trainer_state.json"), "{\"global_step\": 3, \"loss_sum\": 1.5, \"run\": {}}");
        assertEquals(3, Checkpoints.readState(dir).get("global_step").asInt());
    }
}
