package dev.rlhf4j.cli;

import dev.rlhf4j.model.Pretrained;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Safetensors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code rlhf4j convert}: any checkpoint rlhf4j reads, written as an HF directory. */
@Command(name = "convert", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Write a model as an HF directory (model.safetensors, config.json, generation_config.json and "
                + "the tokenizer files) that HF transformers loads unchanged."})
public final class ConvertCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin
    ModelOptions source;
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory (created if needed).")
    Path out;
    @Option(names = "--dtype", defaultValue = "f32", converter = Choice.ConvertDtype.class,
            completionCandidates = Choice.ConvertDtype.class, description = "Tensor type: f32, bf16 or f16 (default: ${DEFAULT-VALUE}).")
    String dtype;

    @Override
    public Integer call() throws IOException {
        Safetensors.DType type = switch (dtype) {
            case "f32", "float32" -> Safetensors.DType.F32;
            case "bf16", "bfloat16" -> Safetensors.DType.BF16;
            case "f16", "float16" -> Safetensors.DType.F16;
            default -> throw new IllegalArgumentException("--dtype must be f32, bf16 or f16, got '" + dtype + "'");
        };
        Checks.inputPath("--model", source.model);
        Checks.inputPath("--tokenizer", source.tokenizer);
        Checks.outputDirectory("--out", out);
        Pretrained pm = source.open();
        Files.createDirectories(out);
        if (!Files.isWritable(out)) {
            throw new IllegalArgumentException(out + " is not writable");
        }
        HfCheckpoint.SaveOptions options = HfCheckpoint.SaveOptions.like(pm.loaded(), type);
        if (pm.tokenizer() != null) {
            options = options.withTokenizer(pm.tokenizer());
        }
        HfCheckpoint.save(pm.model(), out, options);
        spec.commandLine().getOut().println("wrote " + out + " (" + pm.model().parameterCount() + " parameters, "
                + type + (pm.tokenizer() == null ? ", no tokenizer" : "") + ")");
        spec.commandLine().getOut().flush();
        return 0;
    }
}
