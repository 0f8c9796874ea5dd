package dev.rlhf4j.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.tensor.AdamW;
import dev.rlhf4j.tensor.ParamArena;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Training checkpoints: {@code checkpoint-<step>/} holding the parameters ({@code model.safetensors}, rlhf4j's
 * names, float32), AdamW's moments ({@code optimizer.safetensors}) and {@code trainer_state.json} (step, data
 * position, optimizer step count, totals). A checkpoint is written into a temporary directory, its files flushed to
 * disk, and then renamed into place, so a run killed at any moment leaves only complete checkpoints behind.
 */
public final class Checkpoints {
    static final String PREFIX = "checkpoint-";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** The restorable state of a run. */
    public record State(int globalStep, int epoch, int position, long adamStep, long tokens, double lossSum,
                        int lossSteps) {
    }

    private Checkpoints() {
    }

    /** Writes {@code checkpoint-<step>} atomically and deletes the oldest beyond {@code keep}. */
    public static Path save(Path outDir, State state, ParamArena params, AdamW opt, int keep) throws IOException {
        Map<String, Tensor> moments = new LinkedHashMap<>(tensors(opt.firstMoment(), "m."));
        moments.putAll(tensors(opt.secondMoment(), "v."));
        ObjectNode json = JSON.createObjectNode();
        json.put("global_step", state.globalStep());
        json.put("epoch", state.epoch());
        json.put("position", state.position());
        json.put("adam_step", state.adamStep());
        json.put("num_tokens", state.tokens());
        json.put("loss_sum", state.lossSum());
        json.put("loss_steps", state.lossSteps());
        Map<String, Map<String, Tensor>> files = new LinkedHashMap<>();
        files.put("model.safetensors", tensors(params, ""));
        files.put("optimizer.safetensors", moments);
        return saveFiles(outDir, state.globalStep(), files, json, keep);
    }

    /**
     * Writes {@code checkpoint-<step>} holding the given safetensors files (float32) and {@code trainer_state.json}:
     * into a temporary directory, flushed, then renamed into place; deletes the oldest checkpoints beyond
     * {@code keep}, and any past {@code step} (left by a run that went further before it was resumed from here).
     * When writing fails (a full disk, say) the temporary directory is removed, the earlier checkpoints stay intact,
     * and the message names the checkpoint, the file and what was being done to it.
     */
    public static Path saveFiles(Path outDir, int step, Map<String, Map<String, Tensor>> files, ObjectNode state,
                                 int keep) throws IOException {
        Path target = outDir.resolve(PREFIX + step);
        Path tmp = outDir.resolve("." + PREFIX + step + ".tmp");
        String doing = "creating " + tmp;
        try {
            deleteTree(tmp);
            Files.createDirectories(tmp);
            List<String> written = new ArrayList<>();
            for (Map.Entry<String, Map<String, Tensor>> f : files.entrySet()) {
                doing = "writing " + tmp.resolve(f.getKey());
                Safetensors.write(tmp.resolve(f.getKey()), f.getValue(), Safetensors.DType.F32, Map.of());
                written.add(f.getKey());
            }
            doing = "writing " + tmp.resolve("trainer_state.json");
            Files.writeString(tmp.resolve("trainer_state.json"), JSON.writeValueAsString(state));
            written.add("trainer_state.json");
            for (String f : written) {
                doing = "flushing " + tmp.resolve(f) + " to disk";
                try (FileChannel ch = FileChannel.open(tmp.resolve(f), StandardOpenOption.WRITE)) {
                    ch.force(true);
                }
            }
            doing = "replacing " + target;
            deleteTree(target);
            doing = "renaming " + tmp + " to " + target;
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            try {
                deleteTree(tmp);
            } catch (IOException cleanup) {
                e.addSuppressed(cleanup);
            }
            throw new IOException(PREFIX + step + " not saved: " + doing + " failed (" + reason(e) + "); the "
                    + "partial checkpoint was removed and the earlier ones are intact", e);
        }
        List<Path> all = list(outDir);
        for (Path p : all) {
            if (step(p) > step) {
                deleteTree(p);
            }
        }
        all = list(outDir).stream().filter(p -> step(p) <= step).toList();
        for (int i = 0; i < all.size() - keep; i++) {
            deleteTree(all.get(i));
        }
        return target;
    }

    private static String reason(Throwable e) {
        Throwable t = e instanceof java.io.UncheckedIOException u && u.getCause() != null ? u.getCause() : e;
        return t instanceof IOException io ? RunDirectory.reason(io)
                : t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
    }

    /**
     * The {@code trainer_state.json} of a checkpoint, checked: a damaged file (not JSON, not an object, no integer
     * {@code global_step}, a counter that is not a whole number) fails with one line naming it and what is wrong,
     * rather than resuming from step 0 or failing later.
     */
    public static JsonNode readState(Path dir) throws IOException {
        Path stateFile = dir.resolve("trainer_state.json");
        if (!Files.isRegularFile(stateFile)) {
            throw new UserError(dir + ": not a checkpoint (no trainer_state.json)");
        }
        JsonNode state;
        try {
            state = JSON.readTree(stateFile.toFile());
        } catch (JsonProcessingException e) {
            throw new UserError(stateFile + ": damaged checkpoint state: not valid JSON ("
                    + e.getOriginalMessage().lines().findFirst().orElse("") + ")");
        }
        if (state == null || !state.isObject()) {
            throw new UserError(stateFile + ": damaged checkpoint state: not a JSON object");
        }
        if (!state.has("global_step")) {
            throw new UserError(stateFile + ": damaged checkpoint state: no \"global_step\"");
        }
        for (String key : COUNTERS) {
            JsonNode v = state.get(key);
            if (v != null && (!v.isIntegralNumber() || !v.canConvertToLong() || v.longValue() < 0)) {
                throw new UserError(stateFile + ": damaged checkpoint state: \"" + key + "\" is " + v
                        + ", not a whole number >= 0");
            }
        }
        for (String key : List.of("loss_sum", "kl_coef")) {
            JsonNode v = state.get(key);
            if (v != null && !v.isNumber()) {
                throw new UserError(stateFile + ": damaged checkpoint state: \"" + key + "\" is " + v
                        + ", not a number");
            }
        }
        return state;
    }

    /** The counters of the trainers' states (the training loop's and PPO's). */
    private static final List<String> COUNTERS = List.of("global_step", "epoch", "position", "adam_step",
            "num_tokens", "loss_steps", "episode", "prompt_epoch", "prompt_position", "policy_adam_step",
            "critic_adam_step", "skipped_updates");

    /** Restores every tensor of {@code arena} (named with {@code prefix}) from a checkpoint file, in place. */
    public static void restore(Path file, ParamArena arena, String prefix) throws IOException {
        try (Safetensors st = Safetensors.open(file)) {
            restore(st, arena, prefix, file.getParent());
        }
    }

    /** After a resume, the metrics of steps past the checkpoint (from the killed run) are dropped. */
    public static void trimMetrics(Path file, int step) throws IOException {
        if (!Files.exists(file)) {
            return;
        }
        List<String> kept = new ArrayList<>();
        for (String line : Files.readAllLines(file, java.nio.charset.StandardCharsets.UTF_8)) {
            try {
                JsonNode n = JSON.readTree(line);
                if (n.path("step").asInt() <= step) {
                    kept.add(line);
                }
            } catch (IOException e) {
                // a line cut short by the kill: drop it
            }
        }
        // rewritten beside and renamed over: a kill during the rewrite must not cost the lines kept
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        Files.write(tmp, kept, java.nio.charset.StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** The records of a metrics file ({@code metrics.jsonl}), after {@link #trimMetrics}; none when it is absent. */
    public static List<JsonNode> readMetrics(Path file) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        if (Files.exists(file)) {
            for (String line : Files.readAllLines(file, java.nio.charset.StandardCharsets.UTF_8)) {
                out.add(JSON.readTree(line));
            }
        }
        return out;
    }

    /** The newest complete checkpoint under {@code outDir}, if any. */
    public static Optional<Path> latest(Path outDir) throws IOException {
        List<Path> all = list(outDir);
        return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
    }

    /** Restores parameters and optimizer moments in place and returns the run state. */
    public static State load(Path dir, ParamArena params, AdamW opt) throws IOException {
        JsonNode s = readState(dir);
        try (Safetensors model = Safetensors.open(dir.resolve("model.safetensors"));
             Safetensors moments = Safetensors.open(dir.resolve("optimizer.safetensors"))) {
            restore(model, params, "", dir);
            restore(moments, opt.firstMoment(), "m.", dir);
            restore(moments, opt.secondMoment(), "v.", dir);
        }
        State state = new State(s.path("global_step").asInt(), s.path("epoch").asInt(), s.path("position").asInt(),
                s.path("adam_step").asLong(), s.path("num_tokens").asLong(), s.path("loss_sum").asDouble(),
                s.path("loss_steps").asInt());
        opt.setStep(state.adamStep());
        return state;
    }

    private static void restore(Safetensors file, ParamArena arena, String prefix, Path dir) throws IOException {
        for (ParamArena.Entry e : arena.entries()) {
            String name = prefix + e.name();
            if (!file.has(name)) {
                throw new UserError(dir + ": checkpoint has no tensor " + name
                        + " (it was written for another model)");
            }
            Safetensors.TensorInfo info = file.info(name);
            if (info.elements() != e.size()) {
                throw new UserError(dir + ": tensor " + name + " has shape " + info.shapeString()
                        + " but the model expects " + e.shapeString());
            }
            Tensor t = arena.get(e.name());
            file.readWeights(name, t.data(), t.offset());
        }
    }

    /** The arena's tensors by name, each name prefixed. */
    public static Map<String, Tensor> tensors(ParamArena arena, String prefix) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (ParamArena.Entry e : arena.entries()) {
            out.put(prefix + e.name(), arena.get(e.name()));
        }
        return out;
    }

    /** Complete checkpoints, oldest first. */
    static List<Path> list(Path outDir) throws IOException {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(outDir)) {
            return out;
        }
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(outDir, PREFIX + "*")) {
            for (Path p : ds) {
                String n = p.getFileName().toString().substring(PREFIX.length());
                if (n.matches("\\d{1,9}") && Files.isRegularFile(p.resolve("trainer_state.json"))) {
                    out.add(p);
                }
            }
        }
        out.sort(Comparator.comparingInt(Checkpoints::step));
        return out;
    }

    /** The step of a {@code checkpoint-<step>} directory. */
    static int step(Path checkpoint) {
        return Integer.parseInt(checkpoint.getFileName().toString().substring(PREFIX.length()));
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(q);
            }
        }
    }
}
