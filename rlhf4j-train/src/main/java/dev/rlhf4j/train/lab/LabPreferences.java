package dev.rlhf4j.train.lab;

import java.util.List;
import java.util.function.ToDoubleBiFunction;

/**
 * Preference pairs labelled by simulated annotators, and the annotator: its temperature is calibrated on the
 * training pairs themselves, so the noise is set where the labels are given. The choices on training and held-out
 * pairs draw from {@link LabStream#LABELS} and {@link LabStream#EVAL_LABELS}.
 */
public record LabPreferences(Annotator annotator, List<LabData.LabeledPair> train, List<LabData.LabeledPair> eval) {

    /**
     * Pairs for {@code pairs} and {@code evalPairs} fresh prompts of {@code world} from {@code sampler}, labelled by
     * annotators who judge by the world's gold reward and agree with each other at rate {@code agreement}.
     */
    public static LabPreferences sample(LabWorld world, LabData.PairSampler sampler, int pairs, int evalPairs,
                                        double agreement, double lengthBias) {
        List<LabData.Candidates> train = sampler.sample(LabData.prompts(world, pairs, LabStream.PAIR_PROMPTS.id()));
        List<LabData.Candidates> eval = sampler.sample(LabData.prompts(world, evalPairs,
                LabStream.EVAL_PAIR_PROMPTS.id()));
        return label((p, r) -> world.score(p, r).total(), world.seed(), train, eval, agreement, lengthBias);
    }

    /**
     * Labels candidate pairs with annotators who judge by {@code gold} (any reward of prompt and response), their
     * temperature calibrated on {@code train} to {@code agreement}; identical responses are dropped.
     */
    public static LabPreferences label(ToDoubleBiFunction<String, String> gold, long seed,
                                       List<LabData.Candidates> train, List<LabData.Candidates> eval,
                                       double agreement, double lengthBias) {
        Annotator annotator = Annotator.calibrate(LabData.comparisons(gold, train), agreement, lengthBias);
        return new LabPreferences(annotator, LabData.label(gold, seed, train, annotator, LabStream.LABELS.id()),
                LabData.label(gold, seed, eval, annotator, LabStream.EVAL_LABELS.id()));
    }

    /** The held-out pairs as comparisons, for the annotators' agreement and the best possible accuracy there. */
    public List<Annotator.Comparison> evalComparisons() {
        return eval.stream().map(LabData.LabeledPair::comparison).toList();
    }
}
