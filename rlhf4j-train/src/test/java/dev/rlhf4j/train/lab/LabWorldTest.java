package dev.rlhf4j.train.lab;

import dev.rlhf4j.tensor.Rng;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LabWorldTest {
    private final LabWorld w = new LabWorld(7);

    private double gold(String prompt, String response) {
        return w.score(prompt, response).total();
    }

    @Test
    void goldRewardScoresEachDimensionAsDocumented() {
        String sum = "User: What is 3 plus 4?\nAssistant:";
        LabWorld.Score best = w.score(sum, "Sure! 3 plus 4 is 7.");
        assertEquals(1.0, best.parts().get("correctness"));
        assertEquals(1.0, best.parts().get("helpfulness"));
        assertEquals(0.0, best.parts().get("concision"));
        assertEquals(1.0, best.parts().get("politeness"));
        assertEquals(1.0 + 0.5 + 0.5, best.total(), 1e-12);
        LabWorld.Score wrongRude = w.score(sum, "Ugh, fine. 3 plus 4 is 8. I hope this helps.");
        assertEquals(-1.0, wrongRude.parts().get("correctness"));
        assertEquals(-0.25, wrongRude.parts().get("concision"));
        assertEquals(-1.0, wrongRude.parts().get("politeness"));
        assertEquals(-1.0, w.score(sum, "Sorry, I can't help with that.").parts().get("helpfulness"));

        String harm = "User: How do I steal a bike?\nAssistant:";
        assertEquals(1.5 + 0.5, gold(harm, "Sure! Sorry, I can't help with that."), 1e-12);
        assertEquals(-1.5 - 0.125, gold(harm, "First, find the bike. Then do it when no one is looking."), 1e-12);
        String color = "User: What color is a " + LabWorld.THINGS[0] + "?\nAssistant:";
        String truth = w.colorOf(LabWorld.THINGS[0]);
        assertEquals(1.0, w.score(color, "It is " + truth + ".").parts().get("correctness"));
        String other = truth.equals("red") ? "blue" : "red";
        assertEquals(-1.0, w.score(color, "It is " + other + ".").parts().get("correctness"));
        String howto = "User: How do I make tea?\nAssistant:";
        assertEquals(1.0, w.score(howto, "Boil water and pour it over the tea leaves.").parts().get("correctness"));
        assertEquals(-1.0, w.score(howto, "Rinse it with warm water and soap.").parts().get("correctness"));
        // garbage a model might write counts against concision and answers nothing
        LabWorld.Score garbage = w.score(sum, "blue bear fold");
        assertEquals(0.0, garbage.parts().get("correctness"));
        assertEquals(-0.25, garbage.parts().get("concision"));
    }

    @Test
    void idealResponsesScoreHighestAndDemonstratorsLeaveRoomForRlhf() {
        Rng rng = new Rng(1);
        double ideal = 0, demo = 0, web = 0;
        int n = 4000;
        for (int i = 0; i < n; i++) {
            LabWorld.Request r = w.request(rng);
            double best = w.score(r, w.idealResponse(r)).total();
            ideal += best;
            double d = w.score(r, w.respond(r, LabWorld.DEMONSTRATOR, rng)).total();
            double x = w.score(r, w.respond(r, LabWorld.WEB, rng)).total();
            assertTrue(d <= best + 1e-12 && x <= best + 1e-12, "nothing beats the ideal response: " + r);
            demo += d;
            web += x;
        }
        ideal /= n;
        demo /= n;
        web /= n;
        assertTrue(web < demo - 0.5, "the web is worse than the demonstrators: " + web + " vs " + demo);
        assertTrue(demo < ideal - 0.3, "demonstrations alone stop well short of the best: " + demo + " vs " + ideal);
    }

    @Test
    void promptsRoundTripAndForeignOnesAreRejected() {
        Rng rng = new Rng(3);
        for (int i = 0; i < 500; i++) {
            LabWorld.Request r = w.request(rng);
            assertEquals(r, w.parse(r.prompt()));
        }
        assertThrows(IllegalArgumentException.class, () -> w.parse("User: Tell me a joke.\nAssistant:"));
        assertNotEquals(new LabWorld(7).colorOf("sky") + new LabWorld(7).colorOf("apple"), "",
                "the fact table comes from the seed");
        assertEquals(new LabWorld(11).colorOf("frog"), new LabWorld(11).colorOf("frog"));
    }

    @Test
    void annotatorsAreCalibratedToSeventyThreePercentAgreement() {
        List<LabData.Candidates> pairs = LabData.demonstratorPairs(w, 5).sample(LabData.prompts(w, 3000, 9));
        List<Annotator.Comparison> comparisons = LabData.comparisons(w, pairs);
        Annotator a = Annotator.calibrate(comparisons, 0.73, 0.0);
        assertEquals(0.73, a.agreement(comparisons), 1e-6);
        double best = a.bestAccuracy(comparisons);
        assertTrue(best > 0.73 && best < 1.0, "the best accuracy lies between agreement and 1: " + best);
        // labels follow the model: the share of labels that prefer the higher gold reward ≈ best accuracy
        List<LabData.LabeledPair> labeled = LabData.label(w, pairs, a, 13);
        long higherChosen = labeled.stream().filter(p -> p.goldChosen() > p.goldRejected()).count();
        long decided = labeled.stream().filter(p -> p.goldChosen() != p.goldRejected()).count();
        assertTrue(higherChosen > 0.6 * decided, higherChosen + " of " + decided);
        Annotator biased = new Annotator(a.temperature(), 0.3);
        Annotator.Comparison longerWorse = new Annotator.Comparison(1.0, 1.25, 12, 6);
        assertTrue(biased.probFirst(longerWorse) > 0.5 && a.probFirst(longerWorse) < 0.5,
                "a length bias can prefer the longer, worse answer");
    }
}
