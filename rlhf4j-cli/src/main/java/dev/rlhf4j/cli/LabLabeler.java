package dev.rlhf4j.cli;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.lab.Annotator;
import dev.rlhf4j.train.lab.LabData;
import dev.rlhf4j.train.lab.LabWorld;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The lab's simulated annotators as a {@link Labeler}: each pair is judged by the world's gold reward with the
 * Bradley–Terry noise of {@link Annotator}. The annotators' temperature is calibrated once, on the first round's pairs
 * (as {@code lab generate} calibrates on its training pairs), and then kept, so every round is labelled by the same
 * people; each round's choices draw from a stream of their own, so labelling a round again gives the same labels.
 */
final class LabLabeler implements Labeler {
    /** The first stream of the rounds' choices: far from {@link dev.rlhf4j.train.lab.LabStream}'s numbers. */
    static final long LABEL_STREAM = 1_000;

    private final LabWorld world;
    private final double agreement;
    private final double lengthBias;
    private final long seed;
    private Annotator annotator;

    /**
     * @param annotator the annotators of an earlier round (from the loop's state), or null to calibrate them on the
     *                  next round's pairs to {@code agreement}
     * @param seed      the loop's seed: the rounds' streams depend on it
     */
    LabLabeler(LabWorld world, double agreement, double lengthBias, long seed, Annotator annotator) {
        this.world = world;
        this.agreement = agreement;
        this.lengthBias = lengthBias;
        this.seed = seed;
        this.annotator = annotator;
    }

    /** The annotators, once calibrated (null before the first round is labelled). */
    Annotator annotator() {
        return annotator;
    }

    @Override
    public Outcome label(int round, List<Pair> pairs, Path out, PrintWriter console) throws IOException {
        List<LabData.Candidates> candidates = candidates(pairs);
        if (annotator == null) {
            try {
                annotator = Annotator.calibrate(LabData.comparisons(world, candidates), agreement, lengthBias);
            } catch (UserError e) {
                throw new UserError("--agreement " + agreement + " on round " + round + "'s pairs: " + e.getMessage(),
                        e);
            }
            console.printf("annotators calibrated on round %d's %d pairs: temperature %.4f (agreement %.1f%%), "
                    + "length bias %.3f%n", round, candidates.size(), annotator.temperature(), 100 * agreement,
                    lengthBias);
        }
        List<LabData.LabeledPair> labelled = LabData.label(world, candidates, annotator, stream(round));
        Map<String, String> idOf = new LinkedHashMap<>();
        for (Pair p : pairs) {
            idOf.putIfAbsent(p.prompt() + "\u0000" + p.a() + "\u0000" + p.b(), p.id());
            idOf.putIfAbsent(p.prompt() + "\u0000" + p.b() + "\u0000" + p.a(), p.id());
        }
        List<Map<String, Object>> records = new ArrayList<>();
        for (LabData.LabeledPair l : labelled) {
            Map<String, Object> r = new LinkedHashMap<>();
            r.put("id", idOf.get(l.prompt() + "\u0000" + l.chosen() + "\u0000" + l.rejected()));
            r.putAll(l.preferenceRecord());
            records.add(r);
        }
        LoopFiles.writeJsonlAtomically(out, records);
        return new Outcome(labelled.size(), pairs.size() - labelled.size(), 0);
    }

    /** Writes held-out pairs labelled by the same annotators (call after the first round calibrated them). */
    int labelHeldOut(List<LabData.Candidates> candidates, Path out) throws IOException {
        List<LabData.LabeledPair> labelled = LabData.label(world, candidates, annotator, LABEL_STREAM - 1);
        LoopFiles.writeJsonlAtomically(out, labelled.stream().map(LabData.LabeledPair::preferenceRecord).toList());
        return labelled.size();
    }

    private long stream(int round) {
        return LABEL_STREAM + 1_000 * seed + round;
    }

    private static List<LabData.Candidates> candidates(List<Pair> pairs) {
        return pairs.stream().map(p -> new LabData.Candidates(p.prompt(), p.a(), p.b())).toList();
    }
}
