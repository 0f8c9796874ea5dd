package dev.rlhf4j.train.reward;

import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.train.DataCursor;
import dev.rlhf4j.train.ModelWriter;
import dev.rlhf4j.train.Objective;
import dev.rlhf4j.train.TrainingConfig;
import dev.rlhf4j.train.data.PairBatch;
import dev.rlhf4j.train.data.PairCollator;
import dev.rlhf4j.train.data.PairExample;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Bradley–Terry reward model (Ouyang et al. 2022, eq. 1): the scalar head read at each sequence's last real token
 * gives r(x, y), and the loss of a comparison is {@code −log σ(r(x, y_chosen) − r(x, y_rejected) − margin)}, averaged
 * over the comparisons of an optimizer step. A micro-batch holds the chosen and the rejected sequences of about
 * {@code per_device_train_batch_size} pairs, and the pairs of one K-way ranking never go to different batches.
 */
public final class RewardObjective implements Objective {

    private final Transformer model;
    private final List<PairExample> train;
    private final List<PairExample> eval;
    private final TrainingConfig cfg;
    private final int padId;
    private final ModelWriter writer;
    private final int stepsPerEpoch;
    private List<List<Integer>> epochBatches;
    private int epochOfBatches = -1;
    private Map<String, Double> lastStepMetrics = Map.of();

    public RewardObjective(Transformer model, List<PairExample> train, List<PairExample> eval, TrainingConfig cfg,
                           int padId, ModelWriter writer) {
        if (!model.heads().scalar()) {
            throw new IllegalArgumentException("a reward model needs a scalar head");
        }
        if (train.isEmpty()) {
            throw new IllegalArgumentException("the training set has no preference pairs");
        }
        if (cfg.maxLength() > model.config().maxSeqLen()) {
            throw new IllegalArgumentException("max_length " + cfg.maxLength() + " exceeds the model's maximum "
                    + "sequence length of " + model.config().maxSeqLen());
        }
        this.model = model;
        this.train = List.copyOf(train);
        this.eval = List.copyOf(eval);
        this.cfg = cfg;
        this.padId = padId;
        this.writer = writer;
        this.stepsPerEpoch = Math.max(1, (batches(0).size() + cfg.gradientAccumulationSteps() - 1)
                / cfg.gradientAccumulationSteps());
    }

    @Override
    public Transformer model() {
        return model;
    }

    @Override
    public int stepsPerEpoch() {
        return stepsPerEpoch;
    }

    /** Batches of an epoch are counted in batches here: the cursor's position is a batch index. */
    @Override
    public int examplesPerEpoch() {
        return batches(0).size();
    }

    private List<List<Integer>> batches(int epoch) {
        if (epoch != epochOfBatches) {
            epochBatches = PairCollator.groupBatches(train, PairCollator.epochOrder(train, cfg.seed(), epoch),
                    cfg.perDeviceTrainBatchSize());
            epochOfBatches = epoch;
        }
        return epochBatches;
    }

    @Override
    public StepResult trainStep(DataCursor cursor) {
        List<PairBatch> micro = new ArrayList<>();
        long pairs = 0;
        for (int k = 0; k < cfg.gradientAccumulationSteps(); k++) {
            if (cursor.position() >= batches(cursor.epoch()).size()) {
                cursor.nextEpoch();
            }
            List<Integer> idx = batches(cursor.epoch()).get(cursor.position());
            cursor.advance(1);
            List<PairExample> part = new ArrayList<>(idx.size());
            for (int i : idx) {
                part.add(train.get(i));
            }
            PairBatch b = PairCollator.collate(part, cfg.maxLength(), padId);
            micro.add(b);
            pairs += b.pairs();
        }
        Stats stats = new Stats();
        long tokens = 0;
        for (PairBatch b : micro) {
            stats.add(run(b, (float) (1.0 / pairs), true));
            for (int m : b.batch().mask()) {
                tokens += m;
            }
        }
        lastStepMetrics = stats.metrics("");
        lastStepMetrics.remove("loss");
        return new StepResult(stats.loss(), tokens, pairs);
    }

    /** Accuracy, mean margin and reward mean and std of the last step. */
    @Override
    public Map<String, Double> stepMetrics() {
        return lastStepMetrics;
    }

    /**
     * Forward and backward of one batch, each comparison's loss weighted by {@code scale}; returns the rewards of the
     * chosen and rejected sequences and the margins.
     */
    private double[][] run(PairBatch b, float scale, boolean train) {
        double[][] r = forwardOnly(model, b);
        if (train) {
            int seq = b.batch().seq(), p = b.pairs();
            float[] dv = new float[b.batch().rows()];
            for (int i = 0; i < p; i++) {
                // d/dΔ of −log σ(Δ − m) is −σ(−(Δ − m))
                double g = -sigmoid(-(r[0][i] - r[1][i] - r[2][i])) * scale;
                dv[i * seq + b.lastIndex()[i]] = (float) g;
                dv[(p + i) * seq + b.lastIndex()[p + i]] = (float) -g;
            }
            model.scalarHeadBackward(dv);
            model.backward();
        }
        return r;
    }

    /** Rewards of single sequences (prompt + response), read at their last token: for scoring and statistics. */
    public static double[] score(Transformer model, List<int[]> sequences, int batchSize, int maxLength, int padId) {
        double[] out = new double[sequences.size()];
        for (int from = 0; from < sequences.size(); from += batchSize) {
            int to = Math.min(sequences.size(), from + batchSize);
            List<PairExample> asPairs = new ArrayList<>();
            // a PairBatch of (s, s) pairs puts each sequence in a chosen row; the rejected half is the same work again,
            // so score in pairs of two different sequences instead
            for (int i = from; i < to; i += 2) {
                int[] a = sequences.get(i), c = i + 1 < to ? sequences.get(i + 1) : sequences.get(i);
                asPairs.add(new PairExample(a, c, 0.0, -1));
            }
            PairBatch b = PairCollator.collate(asPairs, maxLength, padId);
            model.forward(b.batch());
            float[] values = new float[b.batch().rows()];
            model.scalarHead(values);
            int seq = b.batch().seq(), p = b.pairs();
            for (int k = 0; k < p; k++) {
                int i = from + 2 * k;
                out[i] = values[k * seq + b.lastIndex()[k]];
                if (i + 1 < to) {
                    out[i + 1] = values[(p + k) * seq + b.lastIndex()[p + k]];
                }
            }
        }
        return out;
    }

    @Override
    public Map<String, Double> evaluate() {
        return eval.isEmpty() ? Map.of() : evaluate(eval);
    }

    /** Loss, accuracy, mean margin and reward statistics on {@code pairs}, named {@code eval_*}. */
    public Map<String, Double> evaluate(List<PairExample> pairs) {
        return evaluate(model, pairs, cfg.perDeviceEvalBatchSize(), cfg.maxLength(), padId);
    }

    public static Map<String, Double> evaluate(Transformer model, List<PairExample> pairs, int batchSize,
                                               int maxLength, int padId) {
        Stats stats = new Stats();
        for (int from = 0; from < pairs.size(); from += batchSize) {
            PairBatch b = PairCollator.collate(pairs.subList(from, Math.min(pairs.size(), from + batchSize)),
                    maxLength, padId);
            stats.add(forwardOnly(model, b));
        }
        return stats.metrics("eval_");
    }

    private static double[][] forwardOnly(Transformer model, PairBatch b) {
        model.forward(b.batch());
        int rows = b.batch().rows(), seq = b.batch().seq(), p = b.pairs();
        float[] values = new float[rows];
        model.scalarHead(values);
        double[] chosen = new double[p], rejected = new double[p];
        for (int i = 0; i < p; i++) {
            chosen[i] = values[i * seq + b.lastIndex()[i]];
            rejected[i] = values[(p + i) * seq + b.lastIndex()[p + i]];
        }
        return new double[][] {chosen, rejected, b.margins()};
    }

    @Override
    public void saveModel(Path dir) throws IOException {
        writer.write(model, dir);
    }

    static double sigmoid(double x) {
        return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
    }

    /** −log σ(x), computed without overflow. */
    static double negLogSigmoid(double x) {
        return x >= 0 ? Math.log1p(Math.exp(-x)) : -x + Math.log1p(Math.exp(x));
    }

    /** Running loss, accuracy, margin and reward statistics over batches. */
    static final class Stats {
        private double loss, margin, sum, sumSq;
        private long pairs, correct, rewards;

        void add(double[][] r) {
            double[] c = r[0], j = r[1], m = r[2];
            for (int i = 0; i < c.length; i++) {
                double d = c[i] - j[i];
                loss += negLogSigmoid(d - m[i]);
                margin += d;
                correct += d > 0 ? 1 : 0;
                pairs++;
                sum += c[i] + j[i];
                sumSq += c[i] * c[i] + j[i] * j[i];
                rewards += 2;
            }
        }

        double loss() {
            return pairs == 0 ? 0 : loss / pairs;
        }

        Map<String, Double> metrics(String prefix) {
            Map<String, Double> out = new LinkedHashMap<>();
            double mean = rewards == 0 ? 0 : sum / rewards;
            out.put(prefix + "loss", loss());
            out.put(prefix + "accuracy", pairs == 0 ? 0 : (double) correct / pairs);
            out.put(prefix + "margin", pairs == 0 ? 0 : margin / pairs);
            out.put(prefix + "reward_mean", mean);
            out.put(prefix + "reward_std", rewards == 0 ? 0 : Math.sqrt(Math.max(0, sumSq / rewards - mean * mean)));
            return out;
        }
    }
}
