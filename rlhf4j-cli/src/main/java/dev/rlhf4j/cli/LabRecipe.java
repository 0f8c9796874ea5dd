package dev.rlhf4j.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * The demo's recipe on the lab world as command lines, so that {@code rlhf4j demo} and {@code rlhf4j compare-methods}
 * build the same world, base model, SFT model, labels and reward model from the same seed: one place says how.
 */
final class LabRecipe {
    private LabRecipe() {
    }

    /** One stage: its name, its output directory, whether it resumes from a checkpoint, and its command line. */
    record Stage(String name, Path dir, boolean resumable, String[] args) {
    }

    /** Where a recipe's outputs live under {@code out}. */
    record Dirs(Path out) {
        Path lab() {
            return out.resolve("lab");
        }

        Path base() {
            return out.resolve("base");
        }

        Path sft() {
            return out.resolve("sft");
        }

        Path preferences() {
            return out.resolve("preferences");
        }

        Path rewardModel() {
            return out.resolve("reward-model");
        }

        Path modelYaml() {
            return out.resolve("base-model.yaml");
        }
    }

    /**
     * World, pretraining, SFT, preference pairs sampled from the SFT model and labelled by the simulated annotators,
     * and the reward model, in order; writes the base model's config (the pretraining stage reads it).
     */
    static List<Stage> setup(Dirs d, long seed, int pairs, double lengthBias, int evalPrompts, boolean quick)
            throws IOException {
        String s = Long.toString(seed);
        int pairCount = quick ? 300 : pairs;
        IoErrors.writeString(d.modelYaml(), quick
                ? "family: llama\ndim: 48\nlayers: 2\nheads: 4\nkv_heads: 2\nmax_seq_len: 128\n"
                : "family: llama\ndim: 96\nlayers: 4\nheads: 6\nkv_heads: 3\nmax_seq_len: 128\n");
        String[] common = common(seed);
        Path lab = d.lab();
        return List.of(
                new Stage("world", lab, false, new String[] {"lab", "generate", "--out", lab.toString(), "--seed", s,
                    "--pairs", "0", "--eval-pairs", "0", "--corpus", quick ? "3000" : "20000", "--facts",
                    quick ? "1000" : "6000", "--eval-prompts", Integer.toString(quick ? 40 : evalPrompts)}),
                new Stage("pretrain", d.base(), true, concat(new String[] {"pretrain", "--model",
                    d.modelYaml().toString(), "--tokenizer", lab.resolve("tokenizer").toString(), "--data",
                    lab.resolve("corpus.jsonl").toString(), "--out", d.base().toString(),
                    "--per-device-train-batch-size", "16", "--num-train-epochs", "1", "--learning-rate", "3e-3",
                    "--warmup-ratio", "0.05"}, common)),
                new Stage("sft", d.sft(), true, concat(new String[] {"sft", "--model", d.base().toString(), "--data",
                    lab.resolve("sft.jsonl").toString(), "--eval-data", lab.resolve("sft-eval.jsonl").toString(),
                    "--out", d.sft().toString(), "--per-device-train-batch-size", "16", "--num-train-epochs", "2",
                    "--learning-rate", "1e-3"}, common)),
                new Stage("preferences", d.preferences(), false, new String[] {"lab", "generate", "--out",
                    d.preferences().toString(), "--seed", s, "--model", d.sft().toString(), "--preferences-only",
                    "--pairs", Integer.toString(pairCount), "--eval-pairs", Integer.toString(Math.max(20,
                    pairCount / 10)), "--length-bias", Double.toString(lengthBias)}),
                new Stage("reward model", d.rewardModel(), true, concat(new String[] {"reward", "train", "--model",
                    d.sft().toString(), "--data", d.preferences().resolve("preferences.jsonl").toString(),
                    "--eval-data", d.preferences().resolve("preferences-eval.jsonl").toString(), "--out",
                    d.rewardModel().toString(), "--per-device-train-batch-size", "32", "--num-train-epochs", "2",
                    "--learning-rate", "5e-4", "--warmup-ratio", "0.05"}, common)));
    }

    /** The options every supervised stage of the recipe shares. */
    static String[] common(long seed) {
        return new String[] {"--max-length", "128", "--lr-scheduler-type", "cosine", "--save-steps", "0",
            "--logging-steps", "200", "--seed", Long.toString(seed)};
    }

    /** PPO from the SFT model against the reward model: 64 episodes a step, 48 new tokens, normalised reward. */
    static Stage ppo(Dirs d, Path out, long seed, int steps, double learningRate, double klCoef, String... extra) {
        return new Stage("ppo", out, true, concat(new String[] {"ppo", "--policy", d.sft().toString(), "--reward-model",
            d.rewardModel().toString(), "--prompts", d.lab().resolve("prompts.jsonl").toString(), "--out",
            out.toString(), "--seed", Long.toString(seed), "--max-steps", Integer.toString(steps), "--learning-rate",
            Double.toString(learningRate), "--kl-coef", Double.toString(klCoef), "--per-device-train-batch-size",
            "16", "--num-mini-batches", "4", "--num-ppo-epochs", "4", "--response-length", "48",
            "--normalize-reward", "--missing-eos-penalty", "1.0", "--lr-scheduler-type", "constant",
            "--logging-steps", "10", "--sample-steps", "25"}, extra));
    }

    static String[] concat(String[] a, String[] b) {
        String[] r = new String[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
