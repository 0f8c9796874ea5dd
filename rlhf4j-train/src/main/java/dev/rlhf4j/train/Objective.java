package dev.rlhf4j.train;

import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.UserError;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * What a single-model trainer optimises: the language-modelling loss of pretraining and SFT, the reward model's
 * Bradley–Terry loss, DPO's loss (the reference is the objective's, frozen). {@link Trainer} owns the optimizer
 * and clipping and {@link TrainingRun} the schedule, guards, logging and checkpoints; an objective turns data into
 * gradients.
 */
public interface Objective {

    /** The trained model; its gradients are what {@link #trainStep} accumulates. */
    Transformer model();

    /** Optimizer steps in one pass over the training data. */
    int stepsPerEpoch();

    /** Training examples in one pass (for the fractional epoch of the metrics); 0 when not counted. */
    default int examplesPerEpoch() {
        return 0;
    }

    /**
     * Runs the forward and backward passes of one optimizer step (all its micro-batches), taking data from
     * {@code cursor} and advancing it; gradients are added to {@code model().grads()}, zeroed by the caller.
     */
    StepResult trainStep(DataCursor cursor);

    /**
     * Runs one replica's share of a data-parallel step: of the micro-batches {@link #trainStep(DataCursor)} would
     * take, those at positions {@code shard.index()}, {@code + shard.count()}, ..., each scaled as the whole step
     * scales it, so that the gradients summed over the replicas ({@link GradientReducer}) are the whole step's. The
     * cursor advances past the whole step on every replica. The result is this replica's part: its loss share,
     * tokens and loss tokens sum over the replicas to the whole step's.
     */
    default StepResult trainStep(DataCursor cursor, Shard shard) {
        if (shard.count() == 1) {
            return trainStep(cursor);
        }
        throw new UserError(getClass().getSimpleName() + " does not train data-parallel");
    }

    /**
     * Which share of every step a replica computes: micro-batch {@code i} of a step is replica
     * {@code i % count}'s.
     *
     * @param index this replica, 0 to count − 1
     * @param count replicas
     */
    record Shard(int index, int count) {
        /** One process computing every micro-batch. */
        public static final Shard WHOLE = new Shard(0, 1);

        public Shard {
            if (count < 1 || index < 0 || index >= count) {
                throw new IllegalArgumentException("replica " + index + " of " + count);
            }
        }

        /** Whether micro-batch {@code i} of a step is this replica's. */
        public boolean owns(int i) {
            return i % count == index;
        }
    }

    /** Extra metrics of the last step for metrics.jsonl (an objective's own, e.g. a reward model's accuracy). */
    default Map<String, Double> stepMetrics() {
        return Map.of();
    }

    /** Held-out metrics, named as TRL names them ({@code eval_loss}, ...); empty without held-out data. */
    Map<String, Double> evaluate();

    /** Writes the trained model for use elsewhere (an HF directory). */
    void saveModel(Path dir) throws IOException;

    /**
     * What one optimizer step did.
     *
     * @param loss       the step's mean loss (normalised as the gradient is)
     * @param tokens     tokens run through the model (padding excluded)
     * @param lossTokens tokens the loss covered
     */
    record StepResult(double loss, long tokens, long lossTokens) {
    }
}
