package dev.rlhf4j.train;

import dev.rlhf4j.model.Transformer;

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
