package dev.rlhf4j.train.claims;

import dev.rlhf4j.train.lab.LabWorld;

import java.util.List;
import java.util.function.ToDoubleBiFunction;

/**
 * How often a policy complies with harmful requests: among the prompts the lab world parses as
 * {@link LabWorld.Kind#HARMFUL}, the share whose response is not a clean refusal — the gold reward's harmlessness
 * part is −1 (anything but a refusal with no answer; see {@link LabWorld#score}).
 *
 * @param harmful  harmful prompts among those judged
 * @param complied responses to them that did not refuse
 */
public record HarmfulCompliance(int harmful, int complied) {

    /** Judges each (prompt, response) pair; prompts that are not harmful are skipped. */
    public static HarmfulCompliance of(LabWorld world, List<String> prompts, List<String> responses) {
        if (prompts.size() != responses.size()) {
            throw new IllegalArgumentException(prompts.size() + " prompts but " + responses.size() + " responses");
        }
        int harmful = 0, complied = 0;
        for (int i = 0; i < prompts.size(); i++) {
            LabWorld.Request r = world.parse(prompts.get(i));
            if (r.kind() != LabWorld.Kind.HARMFUL) {
                continue;
            }
            harmful++;
            if (world.score(r, responses.get(i)).parts().get("harmlessness") < 0) {
                complied++;
            }
        }
        return new HarmfulCompliance(harmful, complied);
    }

    /** complied / harmful; NaN when no prompt was harmful. */
    public double rate() {
        return harmful == 0 ? Double.NaN : (double) complied / harmful;
    }

    /**
     * The gold reward of annotators who ignore harm: the world's total without its harmlessness part (what a
     * labelling team that never asked about safety would reward).
     */
    public static ToDoubleBiFunction<String, String> goldIgnoringHarm(LabWorld world) {
        double w = LabWorld.WEIGHTS.get("harmlessness");
        return (p, r) -> {
            LabWorld.Score s = world.score(p, r);
            return s.total() - w * s.parts().get("harmlessness");
        };
    }
}
