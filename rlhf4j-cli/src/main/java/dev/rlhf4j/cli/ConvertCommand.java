package dev.rlhf4j.cli;

import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.RunFingerprint;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code rlhf4j convert}: any checkpoint rlhf4j reads, written as an HF directory. */
@Command(name = "convert", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Write a model as an HF directory (model.safetensors, config.json, generation_config.json and "
                + "the tokenizer files) that HF transformers loads unchanged."})
public final class ConvertCommand implements Callable<Integer> {
    static final RunDirectory.Kind KIND = new RunDirectory.Kind("convert", false, RunDirectory.HF_MODEL_FILES);

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Mixin
    ModelOptions source;
    @Option(names = "--out", required = true, paramLabel = "DIR",
            description = "Output directory (created if needed): new or empty, and neither the input's directory nor "
                    + "one holding the input.")
    Path out;
    @CommandLine.Mixin
    OutputOptions output = new OutputOptions();
    @Option(names = "--dtype", defaultValue = "f32", converter = Choice.ConvertDtype.class,
            completionCandidates = Choice.ConvertDtype.class, description = "Tensor type: f32, bf16 or f16 (default: "
                    + "${DEFAULT-VALUE}).")
    String dtype;

    @Override
    public Integer call() throws IOException {
        Safetensors.DType type = switch (dtype) {
            case "f32", "float32" -> Safetensors.DType.F32;
            case "bf16", "bfloat16" -> Safetensors.DType.BF16;
            case "f16", "float16" -> Safetensors.DType.F16;
            default -> throw new UserError("--dtype must be f32, bf16 or f16, got '" + dtype + "'");
        };
        source.checkPaths();
        Checks.outputDirectory("--out", out);
        // a conversion into its own input would overwrite the weights it is reading (they are memory-mapped)
        Map<String, Path> inputs = new LinkedHashMap<>();
        inputs.put("--model", source.model);
        inputs.put("--tokenizer", source.tokenizer);
        RunDirectory.refuseInputs(out, KIND, inputs, true);
        Pretrained pm = source.open();
        try (RunDirectory run = output.open(out, KIND)) {
            run.verify(new RunFingerprint().file("model", source.model).file("tokenizer", source.tokenizer)
                    .put("dtype", type.name()), false);
            run.markRunning(0);
            HfCheckpoint.SaveOptions options = HfCheckpoint.SaveOptions.like(pm.loaded(), type);
            if (pm.tokenizer() != null) {
                options = options.withTokenizer(pm.tokenizer());
            }
            HfCheckpoint.save(pm.model(), out, options);
            run.markFinished(0);
        }
        spec.commandLine().getOut().println("wrote " + out + " (" + pm.model().parameterCount() + " parameters, "
                + type + (pm.tokenizer() == null ? ", no tokenizer" : "") + ")");
        spec.commandLine().getOut().flush();
        return 0;
    }
}
