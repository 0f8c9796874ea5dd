package dev.rlhf4j.cli;

import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.ModelLoader;
import dev.rlhf4j.model.io.PeftAdapter;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.RunFingerprint;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code rlhf4j convert}: any checkpoint rlhf4j reads, written as an HF directory. */
@Command(name = "convert", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Write a model as an HF directory (model.safetensors, config.json, generation_config.json and "
                + "the tokenizer files) that HF transformers loads unchanged.",
                "With --merge-lora, --model is a LoRA adapter directory in PEFT's layout (adapter_config.json, "
                        + "adapter_model.safetensors): its base (base_model_name_or_path, or --base-model) is read, "
                        + "the adapter merged in, and the result written."})
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
    @Option(names = "--merge-lora", description = "--model is a PEFT LoRA adapter: write its base with it merged in.")
    boolean mergeLora;
    @Option(names = "--base-model", paramLabel = "PATH",
            description = "With --merge-lora: the base model, instead of the adapter's base_model_name_or_path.")
    Path baseModel;

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
        boolean adapter = source.model != null && PeftAdapter.isAdapter(source.model)
                && !Files.isRegularFile(source.model.resolve(HfCheckpoint.CONFIG));
        if (adapter && !mergeLora) {
            throw Checks.usage(spec, source.model + " is a LoRA adapter (adapter_config.json): add --merge-lora to "
                    + "write its base with the adapter merged in");
        }
        if (mergeLora && !adapter) {
            throw Checks.usage(spec, "--merge-lora needs --model to be a PEFT adapter directory (with "
                    + "adapter_config.json and no config.json); " + source.model + " is not one");
        }
        if (baseModel != null && !mergeLora) {
            throw Checks.usage(spec, "--base-model is for --merge-lora");
        }
        Checks.inputPath("--base-model", baseModel);
        // a conversion into its own input would overwrite the weights it is reading (they are memory-mapped)
        Map<String, Path> inputs = new LinkedHashMap<>();
        inputs.put("--model", source.model);
        inputs.put("--tokenizer", source.tokenizer);
        inputs.put("--base-model", mergeLora && baseModel == null ? ModelLoader.adapterBase(source.model) : baseModel);
        RunDirectory.refuseInputs(out, KIND, inputs, true);
        Pretrained pm = baseModel == null ? source.open()
                : Pretrained.of(ModelLoader.loadAdapter(source.model, baseModel, true), source.tokenizer);
        try (RunDirectory run = output.open(out, KIND)) {
            run.verify(new RunFingerprint().file("model", source.model).file("tokenizer", source.tokenizer)
                    .file("base_model", baseModel).put("dtype", type.name()), false);
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
