package dev.rlhf4j.cli;

import dev.rlhf4j.model.LoraConfig;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.RunFingerprint;
import picocli.CommandLine.Option;

import java.util.Arrays;
import java.util.List;

/**
 * LoRA's options, PEFT's names, shared by every training command: with {@code --lora-r} the model's weights stay
 * frozen and only low-rank adapters (and a reward model's or critic's head) are trained; the output directory then
 * holds the merged model and, in {@code adapter/}, the adapter in PEFT's layout.
 */
final class LoraOptions {
    @Option(names = "--lora-r", defaultValue = "0", paramLabel = "R",
            description = "LoRA rank; 0 = train every weight (default: ${DEFAULT-VALUE}).")
    int r;
    @Option(names = "--lora-alpha", paramLabel = "ALPHA",
            description = "lora_alpha: the adapter's output is scaled by alpha/r (default: 2 x r).")
    Float alpha;
    @Option(names = "--lora-dropout", paramLabel = "P",
            description = "Dropout on the adapters' inputs in training forwards (default: 0; DPO and the RL "
                    + "trainers, as TRL's, run without dropout).")
    Float dropout;
    @Option(names = "--lora-target-modules", paramLabel = "NAMES",
            description = "Modules to adapt, PEFT's names: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj "
                    + "(Llama family), c_attn,c_proj,c_fc (GPT-2), all-linear, or re:REGEX over module paths "
                    + "(default: all-linear).")
    String targets;
    @Option(names = "--use-rslora", description = "Scale by alpha/sqrt(r) (rank-stabilised LoRA).")
    boolean rslora;

    /** The adapters' settings, or null without {@code --lora-r}; the other options without it are refused. */
    LoraConfig config() {
        if (r < 0) {
            throw new UserError("--lora-r must be 0 (off) or a positive rank, got " + r);
        }
        if (r == 0) {
            if (alpha != null || dropout != null || targets != null || rslora) {
                throw new UserError("--lora-alpha, --lora-dropout, --lora-target-modules and --use-rslora need "
                        + "--lora-r R");
            }
            return null;
        }
        // a regular expression may hold commas ({1,3}); a list of names is split on them
        List<String> names = targets == null ? List.of(LoraConfig.ALL_LINEAR)
                : targets.startsWith(LoraConfig.REGEX) ? List.of(targets)
                : Arrays.stream(targets.split(",")).map(String::trim).toList();
        return new LoraConfig(r, alpha == null ? 2f * r : alpha, dropout == null ? 0f : dropout, names, rslora);
    }

    /** Refuses dropout where the trainer compares log-probabilities of the same network (the RL trainers). */
    LoraConfig configWithoutDropout(String command) {
        LoraConfig c = config();
        if (c != null && c.dropout() > 0) {
            throw new UserError("--lora-dropout: " + command + " compares log-probabilities of one network across "
                    + "forwards, so it trains without dropout (as TRL disables dropout there); leave it at 0");
        }
        return c;
    }

    /** Adds the settings to a run's fingerprint, so that --resume refuses a run with other adapters. */
    RunFingerprint addTo(RunFingerprint fp) {
        LoraConfig c = config();
        if (c == null) {
            return fp;
        }
        return fp.put("lora_r", c.r()).put("lora_alpha", (double) c.alpha()).put("lora_dropout", (double) c.dropout())
                .put("lora_target_modules", String.join(",", c.targetModules())).put("use_rslora", c.useRslora());
    }
}
