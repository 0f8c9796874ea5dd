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
import dev.rlhf4j.train.data.PairCollator;
import dev.rlhf4j.train.data.PairExample;
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
import java.util.ArrayList;
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
    void train(Opened opened, TrainingConfig cfg, RunDirectory run, PrintWriter err) throws IOException {
        DpoConfig dpo = dpoConfig();
        Safetensors.DType dtype = saveDtype();
        Tokenizer tok = opened.tokenizer();
        DpoTokenization.Tokenized all = DpoTokenization.tokenize(PreferenceReader.read(data), tok, opened.chat(),
                dpo.maxPromptLength(), cfg.maxLength());
        List<DpoExample> eval = evalData == null ? List.of() : DpoTokenization.tokenize(
                PreferenceReader.read(evalData), tok, opened.chat(), dpo.maxPromptLength(), cfg.maxLength())
                .examples();
        List<List<DpoExample>> parts = trainEval(all.examples(), eval, (pairs, n) -> splitByGroup(pairs, n,
                cfg.seed()));
        List<DpoExample> train = parts.get(0);
        eval = parts.get(1);
        err.printf("%s: %d training pairs, %d held out; %s%n", data, train.size(), eval.size(),
                all.describe(dpo.maxPromptLength(), cfg.maxLength()));
        Transformer policy = opened.model();
        Transformer reference = dpo.referenceFree() ? null : refModel == null ? policy.frozenCopy()
                : openReference(policy);
        if (dpo.precomputeRefLogProbs() && reference != null) {
            err.printf("computing the reference's log-probs of %d pairs%n", train.size() + eval.size());
            err.flush();
        }
        DpoObjective objective = new DpoObjective(policy, reference, train, eval, dpo, cfg, tok.paddingId(),
                (model, dir) -> HfCheckpoint.save(model, dir, opened.saveOptions(dtype)));
        Trainer trainer = new Trainer(cfg, objective, err);
        err.printf("training %,d parameters for %d steps (%d per epoch), %s loss, beta %s%n",
                policy.parameterCount(), trainer.totalSteps(), objective.stepsPerEpoch(), dpo.lossType().cliName(),
                dpo.beta());
        trainer.train(run);
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

    /** Holds out about {@code n} pairs, whole ranking groups at a time, chosen by a seeded shuffle. */
    static List<List<DpoExample>> splitByGroup(List<DpoExample> pairs, int n, long seed) {
        List<PairExample> shapes = pairs.stream().map(DpoExample::asPair).toList();
        int[] order = PairCollator.epochOrder(shapes, seed, 0);
        List<DpoExample> eval = new ArrayList<>(), train = new ArrayList<>();
        int i = 0;
        for (; i < order.length && eval.size() < n; i++) {
            eval.add(pairs.get(order[i]));
        }
        while (i < order.length && pairs.get(order[i]).group() >= 0
                && pairs.get(order[i]).group() == pairs.get(order[i - 1]).group()) {
            eval.add(pairs.get(order[i++]));
        }
        for (; i < order.length; i++) {
            train.add(pairs.get(order[i]));
        }
        if (train.isEmpty()) {
            throw new UserError("--eval-split leaves no pair to train on");
        }
        return List.of(train, eval);
    }
}
