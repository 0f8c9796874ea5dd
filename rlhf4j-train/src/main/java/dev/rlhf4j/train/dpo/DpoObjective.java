package dev.rlhf4j.train.dpo;

import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.TokenLogProbs;
import dev.rlhf4j.train.DataCursor;
import dev.rlhf4j.train.ModelWriter;
import dev.rlhf4j.train.Objective;
import dev.rlhf4j.train.TrainingConfig;
import dev.rlhf4j.train.data.PairCollator;
import dev.rlhf4j.train.data.PairExample;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.Rollouts;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Direct preference optimisation (Rafailov et al. 2023) and its variants ({@link DpoLoss}) as an {@link Objective}
 * for the shared {@link dev.rlhf4j.train.Trainer}: per micro-batch one forward of the policy over the chosen
 * completions (rows 0..P−1) and the rejected ones (rows P..2P−1), each after its prompt; the completion's
 * log-probability is the sum of its tokens' (the mean for IPO, as TRL), the reference's comes from a frozen model run
 * alongside, from a table computed once before training ({@code precompute_ref_log_probs}), or is 0
 * ({@code reference_free}). The loss is averaged over the step's pairs; RPO adds α × the mean negative log-likelihood
 * per chosen completion token of the step (TRL's {@code rpo_alpha}). Pairs of one K-way ranking share a batch, as for
 * a reward model.
 */
public final class DpoObjective implements Objective {

    private final Transformer policy;
    private Transformer reference;
    private final List<DpoExample> train;
    private final List<DpoExample> eval;
    private final List<PairExample> trainShapes;
    private final DpoConfig dpo;
    private final DpoLoss loss;
    private final TrainingConfig cfg;
    private final int padId;
    private final ModelWriter writer;
    private final int stepsPerEpoch;
    /** The reference's log-probs [chosen, rejected][pair] when precomputed; null otherwise. */
    private double[][] refTrain, refEval;
    private List<List<Integer>> epochBatches;
    private int epochOfBatches = -1;
    private Map<String, Double> lastStepMetrics = Map.of();

    /**
     * @param reference the frozen reference model (the starting policy or {@code --ref-model}); null exactly when
     *                  {@code dpo.referenceFree()}. With {@code precompute_ref_log_probs} it is run over every
     *                  training and held-out pair here and then let go.
     */
    public DpoObjective(Transformer policy, Transformer reference, List<DpoExample> train, List<DpoExample> eval,
                        DpoConfig dpo, TrainingConfig cfg, int padId, ModelWriter writer) {
        if (!policy.heads().lm()) {
            throw new IllegalArgumentException("a DPO policy needs a language-model head");
        }
        if (train.isEmpty()) {
            throw new IllegalArgumentException("the training set has no preference pairs");
        }
        if ((reference == null) != dpo.referenceFree()) {
            throw new IllegalArgumentException(dpo.referenceFree() ? "reference-free DPO takes no reference model"
                    : "DPO needs a reference model (or reference_free)");
        }
        if (reference != null && (!reference.heads().lm()
                || reference.config().vocabSize() != policy.config().vocabSize())) {
            throw new IllegalArgumentException("the reference model needs a language-model head over the policy's "
                    + "vocabulary of " + policy.config().vocabSize() + " tokens");
        }
        if (cfg.maxLength() > policy.config().maxSeqLen()) {
            throw new IllegalArgumentException("max_length " + cfg.maxLength() + " exceeds the model's maximum "
                    + "sequence length of " + policy.config().maxSeqLen());
        }
        for (List<DpoExample> list : List.of(train, eval)) {
            for (DpoExample e : list) {
                if (e.length() > cfg.maxLength()) {
                    throw new IllegalArgumentException("a pair of " + e.length() + " tokens is longer than max_length "
                            + cfg.maxLength() + " (truncate when tokenizing)");
                }
            }
        }
        this.policy = policy;
        this.reference = reference;
        this.train = List.copyOf(train);
        this.eval = List.copyOf(eval);
        this.trainShapes = this.train.stream().map(DpoExample::asPair).toList();
        this.dpo = dpo;
        this.loss = dpo.loss();
        this.cfg = cfg;
        this.padId = padId;
        this.writer = writer;
        this.stepsPerEpoch = Math.max(1, (batches(0).size() + cfg.gradientAccumulationSteps() - 1)
                / cfg.gradientAccumulationSteps());
        if (dpo.precomputeRefLogProbs() && reference != null) {
            refTrain = referenceTable(this.train);
            refEval = referenceTable(this.eval);
            this.reference = null; // not needed any more: the point of precomputing
        }
    }

    @Override
    public Transformer model() {
        return policy;
    }

    @Override
    public int stepsPerEpoch() {
        return stepsPerEpoch;
    }

    /** The cursor's position is a batch index, so the fractional epoch counts batches. */
    @Override
    public int examplesPerEpoch() {
        return batches(0).size();
    }

    private List<List<Integer>> batches(int epoch) {
        if (epoch != epochOfBatches) {
            epochBatches = PairCollator.groupBatches(trainShapes, PairCollator.epochOrder(trainShapes, cfg.seed(),
                    epoch), cfg.perDeviceTrainBatchSize());
            epochOfBatches = epoch;
        }
        return epochBatches;
    }

    @Override
    public StepResult trainStep(DataCursor cursor) {
        List<List<Integer>> micro = new ArrayList<>();
        long pairs = 0, chosenTokens = 0, tokens = 0;
        for (int k = 0; k < cfg.gradientAccumulationSteps(); k++) {
            if (cursor.position() >= batches(cursor.epoch()).size()) {
                cursor.nextEpoch();
            }
            List<Integer> idx = batches(cursor.epoch()).get(cursor.position());
            cursor.advance(1);
            micro.add(idx);
            pairs += idx.size();
            for (int i : idx) {
                DpoExample e = train.get(i);
                chosenTokens += e.chosen().length;
                tokens += 2L * e.prompt().length + e.chosen().length + e.rejected().length;
            }
        }
        Stats stats = new Stats();
        for (List<Integer> idx : micro) {
            run(idx, train, refTrain, stats, 1.0 / pairs, dpo.rpoAlpha() / chosenTokens, true);
        }
        lastStepMetrics = stats.metrics("");
        double stepLoss = lastStepMetrics.remove("loss");
        return new StepResult(stepLoss, tokens, pairs);
    }

    /** TRL's rewards/*, logps/* (and nll_loss with RPO) of the last step. */
    @Override
    public Map<String, Double> stepMetrics() {
        return lastStepMetrics;
    }

    @Override
    public Map<String, Double> evaluate() {
        return eval.isEmpty() ? Map.of() : evaluate(eval, refEval, "eval_");
    }

    /** Loss and TRL's rewards/* and logps/* metrics of the policy on the training pairs (for tests and reports). */
    public Map<String, Double> evaluateOnTrain() {
        return evaluate(train, refTrain, "");
    }

    private Map<String, Double> evaluate(List<DpoExample> pairs, double[][] table, String prefix) {
        Stats stats = new Stats();
        long chosenTokens = 0;
        for (DpoExample e : pairs) {
            chosenTokens += e.chosen().length;
        }
        int size = cfg.perDeviceEvalBatchSize();
        for (int from = 0; from < pairs.size(); from += size) {
            List<Integer> idx = new ArrayList<>();
            for (int i = from; i < Math.min(pairs.size(), from + size); i++) {
                idx.add(i);
            }
            run(idx, pairs, table, stats, 1.0 / pairs.size(), dpo.rpoAlpha() / chosenTokens, false);
        }
        return stats.metrics(prefix);
    }

    /**
     * One batch: the policy's (and reference's) completion log-probs, each pair's loss term into {@code stats}, and
     * with {@code backward} the gradient of {@code pairScale·Σ loss + nllScale·Σ_chosen tokens (−log p)} added to the
     * policy's.
     */
    private void run(List<Integer> idx, List<DpoExample> pairs, double[][] table, Stats stats, double pairScale,
                     double nllScale, boolean backward) {
        int p = idx.size();
        List<Episode> episodes = episodes(idx, pairs);
        Rollouts.Layout l = Rollouts.layout(episodes, padId);
        double[] ref = new double[2 * p];
        if (table != null) {
            for (int i = 0; i < p; i++) {
                ref[i] = table[0][idx.get(i)];
                ref[p + i] = table[1][idx.get(i)];
            }
        } else if (reference != null) {
            reference.forward(l.batch());
            ref = completionLogProbs(reference, l);
        }
        policy.forward(l.batch());
        float[] lp = new float[l.count()];
        TokenLogProbs.Saved saved = policy.tokenLogProbs(l.rows(), l.tokens(), 1f, lp, null, backward);
        double[] sums = new double[2 * p];
        for (int r = 0; r < 2 * p; r++) {
            for (int k = l.start()[r]; k < l.start()[r + 1]; k++) {
                sums[r] += lp[k];
            }
        }
        boolean ipo = dpo.lossType() == DpoLossType.IPO;
        double[] pi = ipo ? means(sums, l) : sums;
        float[] dlogp = backward ? new float[l.count()] : null;
        for (int i = 0; i < p; i++) {
            DpoLoss.Term t = loss.term(pi[i], pi[p + i], ref[i], ref[p + i]);
            double nll = -sums[i];
            stats.add(t, sums[i], sums[p + i], pairScale, nll * nllScale);
            if (backward) {
                // d(mean)/d(token) = 1/n for IPO's averaged log-probs; the NLL term's is −α/(chosen tokens)
                double dc = t.dPolicyChosen() * pairScale / (ipo ? count(l, i) : 1) - nllScale;
                double dr = t.dPolicyRejected() * pairScale / (ipo ? count(l, p + i) : 1);
                for (int k = l.start()[i]; k < l.start()[i + 1]; k++) {
                    dlogp[k] = (float) dc;
                }
                for (int k = l.start()[p + i]; k < l.start()[p + i + 1]; k++) {
                    dlogp[k] = (float) dr;
                }
            }
        }
        if (backward) {
            policy.tokenLogProbsBackward(l.rows(), l.tokens(), 1f, saved, dlogp, null);
            policy.backward();
        }
    }

    /** Chosen episodes (rows 0..P−1), then rejected ones (P..2P−1). */
    private static List<Episode> episodes(List<Integer> idx, List<DpoExample> pairs) {
        List<Episode> out = new ArrayList<>(2 * idx.size());
        for (int side = 0; side < 2; side++) {
            for (int i : idx) {
                DpoExample e = pairs.get(i);
                out.add(new Episode("", e.prompt(), side == 0 ? e.chosen() : e.rejected(), "", true));
            }
        }
        return out;
    }

    /** The summed (IPO: averaged) completion log-probs of each row under {@code model}, run forward on the layout. */
    private double[] completionLogProbs(Transformer model, Rollouts.Layout l) {
        float[] lp = new float[l.count()];
        model.tokenLogProbs(l.rows(), l.tokens(), 1f, lp, null);
        int rows = l.start().length - 1;
        double[] sums = new double[rows];
        for (int r = 0; r < rows; r++) {
            for (int k = l.start()[r]; k < l.start()[r + 1]; k++) {
                sums[r] += lp[k];
            }
        }
        return dpo.lossType() == DpoLossType.IPO ? means(sums, l) : sums;
    }

    private static double[] means(double[] sums, Rollouts.Layout l) {
        double[] out = new double[sums.length];
        for (int r = 0; r < sums.length; r++) {
            out[r] = sums[r] / count(l, r);
        }
        return out;
    }

    private static int count(Rollouts.Layout l, int row) {
        return l.start()[row + 1] - l.start()[row];
    }

    /** The reference's log-probs of every pair, [chosen, rejected][pair], in evaluation-sized batches. */
    private double[][] referenceTable(List<DpoExample> pairs) {
        double[][] table = new double[2][pairs.size()];
        int size = cfg.perDeviceEvalBatchSize();
        for (int from = 0; from < pairs.size(); from += size) {
            List<Integer> idx = new ArrayList<>();
            for (int i = from; i < Math.min(pairs.size(), from + size); i++) {
                idx.add(i);
            }
            Rollouts.Layout l = Rollouts.layout(episodes(idx, pairs), padId);
            reference.forward(l.batch());
            double[] lp = completionLogProbs(reference, l);
            for (int i = 0; i < idx.size(); i++) {
                table[0][from + i] = lp[i];
                table[1][from + i] = lp[idx.size() + i];
            }
        }
        return table;
    }

    @Override
    public void saveModel(Path dir) throws IOException {
        writer.write(policy, dir);
    }

    /** Running sums of the metrics TRL's DPOTrainer logs, over the pairs of a step or of the held-out set. */
    private final class Stats {
        private double loss, nll, rewardChosen, rewardRejected, logpChosen, logpRejected;
        private long pairs, correct;

        /** One pair's term; {@code pairScale} weights its loss in the mean, {@code nll} is its scaled NLL term. */
        void add(DpoLoss.Term t, double logpC, double logpR, double pairScale, double scaledNll) {
            loss += t.loss() * pairScale;
            nll += scaledNll;
            rewardChosen += t.rewardChosen();
            rewardRejected += t.rewardRejected();
            logpChosen += logpC;
            logpRejected += logpR;
            correct += t.rewardChosen() > t.rewardRejected() ? 1 : 0;
            pairs++;
        }

        Map<String, Double> metrics(String prefix) {
            Map<String, Double> out = new LinkedHashMap<>();
            double n = Math.max(1, pairs);
            out.put(prefix + "loss", loss + nll);
            out.put(prefix + "rewards/chosen", rewardChosen / n);
            out.put(prefix + "rewards/rejected", rewardRejected / n);
            out.put(prefix + "rewards/accuracies", correct / n);
            out.put(prefix + "rewards/margins", (rewardChosen - rewardRejected) / n);
            out.put(prefix + "logps/chosen", logpChosen / n);
            out.put(prefix + "logps/rejected", logpRejected / n);
            if (dpo.rpoAlpha() > 0) {
                // TRL logs the NLL itself, not α × NLL
                out.put(prefix + "nll_loss", nll / dpo.rpoAlpha());
            }
            return out;
        }
    }
}
