package dev.rlhf4j.train;

import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.train.data.CollatedBatch;
import dev.rlhf4j.train.data.Collator;
import dev.rlhf4j.train.data.Example;
import dev.rlhf4j.train.data.Splits;

import java.io.IOException;
import java.nio.file.Path;
import java.util.AbstractList;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Causal language modelling, the objective of pretraining and SFT: next-token cross-entropy on the trainable
 * tokens of each example (all of them for pretraining; the completions for SFT with completion-only loss).
 *
 * <p>One optimizer step takes {@code gradient_accumulation_steps} micro-batches of
 * {@code per_device_train_batch_size} examples (or packed rows) in each epoch's order. Every token's loss is divided
 * by the number of loss tokens in the whole step, so accumulating k micro-batches gives the gradient of one batch
 * k times larger. Data-parallel ({@link Shard}), replica r of N runs micro-batches r, r + N, ... of each step, so
 * N replicas with {@code gradient_accumulation_steps} k·N between them, their gradients summed, take the step of one
 * process with k·N.
 */
public final class LmObjective implements Objective {

    private final Transformer model;
    private final List<Example> train;
    private final List<Example> eval;
    private final TrainingConfig cfg;
    private final int padId;
    private final ModelWriter writer;
    private final int stepsPerEpoch;

    public LmObjective(Transformer model, List<Example> train, List<Example> eval, TrainingConfig cfg, int padId,
                       ModelWriter writer) {
        if (train.isEmpty()) {
            throw new IllegalArgumentException("the training set is empty");
        }
        for (Example e : train) {
            if (e.tokens().length > model.config().maxSeqLen()) {
                throw new IllegalArgumentException("an example of " + e.tokens().length
                        + " tokens exceeds the model's maximum sequence length of " + model.config().maxSeqLen());
            }
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
        this.stepsPerEpoch = countStepsPerEpoch();
    }

    @Override
    public Transformer model() {
        return model;
    }

    @Override
    public int stepsPerEpoch() {
        return stepsPerEpoch;
    }

    @Override
    public int examplesPerEpoch() {
        return train.size();
    }

    @Override
    public StepResult trainStep(DataCursor cursor) {
        return trainStep(cursor, Shard.WHOLE);
    }

    /**
     * Every replica collates the whole step's micro-batches (cheap next to a forward pass) to know its loss tokens,
     * then runs forward and backward on its own; each token's loss is divided by the whole step's loss tokens.
     */
    @Override
    public StepResult trainStep(DataCursor cursor, Shard shard) {
        List<CollatedBatch> micro = new ArrayList<>(cfg.gradientAccumulationSteps());
        for (int k = 0; k < cfg.gradientAccumulationSteps(); k++) {
            micro.add(nextMicroBatch(cursor));
        }
        long lossTokens = 0, tokens = 0, ownLossTokens = 0;
        for (int k = 0; k < micro.size(); k++) {
            CollatedBatch b = micro.get(k);
            lossTokens += b.lossTokens();
            if (shard.owns(k)) {
                tokens += b.realTokens();
                ownLossTokens += b.lossTokens();
            }
        }
        if (lossTokens == 0) {
            return new StepResult(0.0, tokens, 0);
        }
        float scale = (float) (1.0 / lossTokens);
        double lossSum = 0;
        for (int k = 0; k < micro.size(); k++) {
            if (shard.owns(k)) {
                CollatedBatch b = micro.get(k);
                model.forward(b.batch());
                lossSum += model.lmLoss(b.targets(), null, scale, true);
                model.backward();
            }
        }
        return new StepResult(lossSum / lossTokens, tokens, ownLossTokens);
    }

    private CollatedBatch nextMicroBatch(DataCursor cursor) {
        if (cursor.position() >= train.size()) {
            cursor.nextEpoch();
        }
        List<Example> ordered = epochView(cursor.epoch());
        if (cfg.packing()) {
            Collator.Packed packed = Collator.pack(ordered, cursor.position(), cfg.perDeviceTrainBatchSize(),
                    cfg.maxLength(), padId);
            cursor.advance(packed.consumed());
            return packed.batch();
        }
        int from = cursor.position(), to = Math.min(train.size(), from + cfg.perDeviceTrainBatchSize());
        cursor.advance(to - from);
        return Collator.pad(ordered.subList(from, to), cfg.maxLength(), padId);
    }

    /** The training examples in the order of {@code epoch} (a permutation from the seed, recomputed on resume). */
    private List<Example> epochView(int epoch) {
        int[] order = Splits.epochOrder(train.size(), cfg.seed(), epoch);
        return new AbstractList<>() {
            @Override
            public Example get(int i) {
                return train.get(order[i]);
            }

            @Override
            public int size() {
                return order.length;
            }
        };
    }

    private int countStepsPerEpoch() {
        int micro = 0;
        if (cfg.packing()) {
            List<Example> ordered = epochView(0);
            for (int pos = 0; pos < ordered.size(); micro++) {
                pos += Collator.pack(ordered, pos, cfg.perDeviceTrainBatchSize(), cfg.maxLength(), padId).consumed();
            }
        } else {
            micro = (train.size() + cfg.perDeviceTrainBatchSize() - 1) / cfg.perDeviceTrainBatchSize();
        }
        return Math.max(1, (micro + cfg.gradientAccumulationSteps() - 1) / cfg.gradientAccumulationSteps());
    }

    /** Mean loss over the held-out loss tokens, and its perplexity. */
    @Override
    public Map<String, Double> evaluate() {
        return eval.isEmpty() ? Map.of() : lossOn(eval);
    }

    /** {@code eval_loss} and {@code eval_perplexity} of the model on {@code examples} (no gradients). */
    public Map<String, Double> lossOn(List<Example> examples) {
        return evaluate(model, examples, cfg.perDeviceEvalBatchSize(), cfg.maxLength(), padId);
    }

    /**
     * Mean next-token loss of {@code model} over the trainable tokens of {@code examples}, in batches of
     * {@code batchSize}: {@code eval_loss}, {@code eval_perplexity} (its exponential) and {@code eval_tokens}.
     */
    public static Map<String, Double> evaluate(Transformer model, List<Example> examples, int batchSize, int maxLength,
                                               int padId) {
        double sum = 0;
        long count = 0;
        for (int from = 0; from < examples.size(); from += batchSize) {
            List<Example> part = examples.subList(from, Math.min(examples.size(), from + batchSize));
            CollatedBatch b = Collator.pad(part, maxLength, padId);
            if (b.lossTokens() == 0) {
                continue;
            }
            model.forward(b.batch());
            sum += model.lmLoss(b.targets(), null, 1f, false);
            count += b.lossTokens();
        }
        Map<String, Double> out = new LinkedHashMap<>();
        double loss = count == 0 ? Double.NaN : sum / count;
        out.put("eval_loss", loss);
        out.put("eval_perplexity", Math.exp(loss));
        out.put("eval_tokens", (double) count);
        return out;
    }

    @Override
    public void saveModel(Path dir) throws IOException {
        writer.write(model, dir);
    }
}
