package dev.rlhf4j.train.lab;

import dev.rlhf4j.model.tokenizer.BpeTrainer;

import java.util.List;
import java.util.Map;

/**
 * The lab's text datasets for one world, as {@code rlhf4j lab generate} writes them: a pretraining corpus, SFT
 * demonstrations and prompts, each from its own {@link LabStream}, and the byte-level BPE tokenizer trained on the
 * corpus. Preference pairs come from {@link LabPreferences}.
 */
public final class LabDataset {
    /** The tokenizer's end of text (also its beginning of sequence). */
    public static final String EOS = "<|endoftext|>";
    /** The tokenizer's padding token. */
    public static final String PAD = "<|pad|>";

    /** How many of each: dialogues and plain facts in the corpus, demonstrations, prompts. */
    public record Sizes(int dialogues, int facts, int sft, int sftEval, int prompts, int evalPrompts) {
    }

    /**
     * The texts: corpus documents, demonstrations as (prompt, completion with its leading space), prompts.
     */
    public record Texts(List<String> corpus, List<String[]> sft, List<String[]> sftEval, List<String> prompts,
                        List<String> evalPrompts) {
    }

    private LabDataset() {
    }

    /** Every text dataset of {@code world} in the given sizes. */
    public static Texts texts(LabWorld world, Sizes sizes) {
        return new Texts(LabData.corpus(world, sizes.dialogues(), sizes.facts()),
                LabData.demonstrations(world, sizes.sft(), LabStream.SFT.id()),
                LabData.demonstrations(world, sizes.sftEval(), LabStream.SFT_EVAL.id()),
                LabData.prompts(world, sizes.prompts(), LabStream.PROMPTS.id()),
                LabData.prompts(world, sizes.evalPrompts(), LabStream.EVAL_PROMPTS.id()));
    }

    /**
     * The trainer of the lab's tokenizer: {@code vocabSize} byte-level BPE tokens with {@link #EOS} and {@link #PAD}
     * as special tokens. Fails with {@link IllegalArgumentException} when the size cannot hold them.
     */
    public static BpeTrainer tokenizerTrainer(int vocabSize) {
        return new BpeTrainer(vocabSize, List.of(EOS, PAD), Map.of("bos_token", EOS, "eos_token", EOS,
                "pad_token", PAD));
    }
}
