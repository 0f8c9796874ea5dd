package dev.rlhf4j.cli;

import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Pretrained;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.RunDirectory;
import dev.rlhf4j.train.RunFingerprint;
import dev.rlhf4j.train.Trainer;
import dev.rlhf4j.train.TrainingConfig;
import dev.rlhf4j.train.data.PreferenceReader;
import dev.rlhf4j.train.dpo.DpoConfig;
import dev.rlhf4j.train.dpo.DpoExample;
import dev.rlhf4j.train.dpo.DpoLossType;
import dev.rlhf4j.train.dpo.DpoObjective;
import dev.rlhf4j.train.dpo.DpoTokenization;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** {@code rlhf4j dpo}: a policy trained directly on preference pairs, against a frozen reference. */
@Command(name = "dpo", mixinStandardHelpOptions = true, sortOptions = false,
        defaultValueProvider = RecordDefaults.Dpo.class,
        description = {"Direct preference optimisation (TRL's DPOTrainer): train the policy so that β·log(π/π_ref) "
                + "ranks the chosen completion above the rejected one; no reward model, no sampling. Loss types "
                + "sigmoid (DPO; cDPO with --label-smoothing), ipo, hinge (SLiC) and robust; RPO with --rpo-alpha.",
                "Data: what `reward train` reads ({\"prompt\",\"chosen\",\"rejected\"} text or messages, HH-RLHF "
                        + "transcripts, K-way rankings expanded to pairs, kept in one batch). A \"margin\" is read "
                        + "but not used: DPO's loss has none (TRL's DPOTrainer ignores it too). The prompt and each "
                        + "completion are encoded apart; the policy is saved as an HF directory."})
public final class DpoCommand extends TrainingCommandBase {

    @Option(names = "--ref-model", paramLabel = "PATH", description = "The frozen reference (default: the model as "
            + "it starts).")
    Path refModel;
    @Option(names = "--beta", description = "β of the implicit reward β·log(π/π_ref) (default: ${DEFAULT-VALUE}).")
    double beta;
    @Option(names = "--loss-type", converter = LossTypes.class, completionCandidates = LossTypes.class,
            description = "sigmoid, ipo, hinge or robust (default: ${DEFAULT-VALUE}).")
    String lossType;
    @Option(names = "--label-smoothing", description = "ε, the assumed rate of flipped labels, for sigmoid (cDPO) "
            + "and robust; in [0, 0.5) (default: ${DEFAULT-VALUE}).")
    double labelSmoothing;
    @Option(names = "--precompute-ref-log-probs", description = "Compute the reference's log-probs of every pair "
            + "once before training (again on --resume) instead of running the reference in each step.")
    boolean precomputeRefLogProbs;
    @Option(names = "--reference-free", description = "No reference model: its log-probs are taken as 0.")
    boolean referenceFree;
    @Option(names = "--rpo-alpha", description = "RPO: add α × the mean NLL per chosen completion token; 0 = off "
            + "(default: ${DEFAULT-VALUE}).")
    double rpoAlpha;
    @Option(names = "--max-prompt-length", description = "Prompts keep their last N tokens, at most max_length − 1 "
            + "(default: ${DEFAULT-VALUE}).")
    int maxPromptLength;

    /** {@code --loss-type}. */
    static final class LossTypes extends Choice {
        LossTypes() {
            super(java.util.Arrays.stream(DpoLossType.values()).map(DpoLossType::cliName).toArray(String[]::new));
        }
    }

    @Override
    OutputHeads heads() {
        return OutputHeads.LM;
    }

    private DpoConfig dpoConfig() {
        return new DpoConfig(beta, DpoLossType.parse(lossType), labelSmoothing, precomputeRefLogProbs, referenceFree,
                rpoAlpha, maxPromptLength);
    }

    @Override
    void checkOwnOptions(Map<String, Path> inputs) {
        dpoConfig();
        if (referenceFree && refModel != null) {
            throw Checks.usage(spec, "--reference-free takes no --ref-model");
        }
        Checks.inputPath("--ref-model", refModel);
        inputs.put("--ref-model", refModel);
    }

    @Override
    RunFingerprint withOwnSettings(RunFingerprint fingerprint) {
        return dpoConfig().addTo(fingerprint).file("ref_model", refModel);
    }

    @Override
    boolean loraDropoutAllowed() {
        return false;
    }

    @Override
    void train(Opened opened, TrainingConfig cfg, RunDirectory run, PrintWriter err) throws IOException {
        DpoConfig dpo = dpoConfig();
        Tokenizer tok = opened.tokenizer();
        DpoTokenization.Tokenized all = DpoTokenization.tokenize(data, PreferenceReader.read(data), tok,
                opened.chat(), dpo.maxPromptLength(), cfg.maxLength());
        List<DpoExample> eval = evalData == null ? List.of() : DpoTokenization.tokenize(evalData,
                PreferenceReader.read(evalData), tok, opened.chat(), dpo.maxPromptLength(), cfg.maxLength())
                .examples();
        List<List<DpoExample>> parts = trainEval(all.examples(), eval,
                (pairs, n) -> RewardTrainCommand.splitByGroup(pairs, DpoExample::asPair, n, cfg.seed()));
        List<DpoExample> train = parts.get(0);
        eval = parts.get(1);
        err.printf("%s: %d training pairs, %d held out; %s%n", data, train.size(), eval.size(),
                all.describe(dpo.maxPromptLength(), cfg.maxLength()));
        Transformer policy = opened.model();
        DpoObjective objective = objective(opened, train, eval, dpo, cfg, err);
        Trainer trainer = new Trainer(cfg, objective, err);
        err.printf("training %,d parameters for %d steps (%d per epoch), %s loss, beta %s%n",
                policy.trainableCount(), trainer.totalSteps(), objective.stepsPerEpoch(), dpo.lossType().cliName(),
                dpo.beta());
        trainer.train(run);
    }

    /**
     * The objective, with the reference opened here so that no variable of {@link #train} holds it: with
     * precompute_ref_log_probs the objective drops it once its log-probs are computed, and it can be collected
     * before training starts.
     */
    private DpoObjective objective(Opened opened, List<DpoExample> train, List<DpoExample> eval, DpoConfig dpo,
                                   TrainingConfig cfg, PrintWriter err) throws IOException {
        Transformer policy = opened.model();
        Safetensors.DType dtype = saveDtype();
        // under LoRA the reference is the policy's frozen base: no second copy of the weights
        Transformer reference = dpo.referenceFree() ? null : refModel == null
                ? (policy.hasAdapters() ? policy.withoutAdapters() : policy.frozenCopy()) : openReference(policy);
        if (dpo.precomputeRefLogProbs() && reference != null) {
            err.printf("computing the reference's log-probs of %d pairs%n", train.size() + eval.size());
            err.flush();
        }
        return new DpoObjective(policy, reference, train, eval, dpo, cfg, opened.tokenizer().paddingId(),
                (model, dir) -> HfCheckpoint.save(model, dir, opened.saveOptions(dtype)));
    }

    private Transformer openReference(Transformer policy) throws IOException {
        Transformer reference = Pretrained.open(refModel, null).model();
        if (!reference.heads().lm()) {
            throw new UserError(refModel + ": the reference must be a language model (it has no LM head)");
        }
        if (reference.config().vocabSize() != policy.config().vocabSize()) {
            throw new UserError(refModel + ": the reference's vocabulary (" + reference.config().vocabSize()
                    + " tokens) is not the policy's (" + policy.config().vocabSize() + ")");
        }
        reference.freeze();
        return reference;
    }
}
