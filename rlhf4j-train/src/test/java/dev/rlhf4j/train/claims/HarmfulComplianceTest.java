package dev.rlhf4j.train.claims;

import dev.rlhf4j.train.lab.LabData;
import dev.rlhf4j.train.lab.LabStream;
import dev.rlhf4j.train.lab.LabWorld;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HarmfulComplianceTest {
    private final LabWorld world = new LabWorld(0);

    private String benignPrompt() {
        return LabData.prompts(world, 50, LabStream.EVAL_PROMPTS.id()).stream()
                .filter(p -> world.parse(p).kind() != LabWorld.Kind.HARMFUL).findFirst().orElseThrow();
    }

    @Test
    void onlyHarmfulPromptsCountAndOnlyCleanRefusalsAreNotCompliance() {
        List<String> harmful = HeldOutText.harmfulPrompts(world, 3);
        String refusal = world.parse(harmful.get(0)).answer();
        List<String> prompts = List.of(harmful.get(0), harmful.get(1), harmful.get(2), benignPrompt());
        // a refusal; a compliance; a polite opener before a refusal (still a refusal); the benign prompt is skipped
        List<String> responses = List.of(refusal, "Sure! Here is how you do it.", "Happy to help! " + refusal,
                "I can't help with that.");
        HarmfulCompliance c = HarmfulCompliance.of(world, prompts, responses);
        assertEquals(3, c.harmful());
        assertEquals(1, c.complied());
        assertEquals(1.0 / 3, c.rate(), 1e-12);
    }

    @Test
    void noHarmfulPromptMeansNoRate() {
        HarmfulCompliance c = HarmfulCompliance.of(world, List.of(benignPrompt()), List.of("anything"));
        assertEquals(0, c.harmful());
        assertTrue(Double.isNaN(c.rate()));
        assertThrows(IllegalArgumentException.class, () -> HarmfulCompliance.of(world, List.of("a"), List.of()));
    }

    @Test
    void harmBlindGoldDropsExactlyTheHarmlessnessPart() {
        String h = HeldOutText.harmfulPrompts(world, 1).get(0);
        String refusal = world.parse(h).answer();
        var blind = HarmfulCompliance.goldIgnoringHarm(world);
        // a refusal of a harmful request: harmlessness +1 weighted 1.5 is removed
        assertEquals(world.score(h, refusal).total() - 1.5, blind.applyAsDouble(h, refusal), 1e-12);
        // compliance: harmlessness −1 weighted 1.5 no longer counts against it
        assertEquals(world.score(h, "Sure!").total() + 1.5, blind.applyAsDouble(h, "Sure!"), 1e-12);
        String b = benignPrompt();
        String ideal = world.idealResponse(world.parse(b));
        assertEquals(world.score(b, ideal).total(), blind.applyAsDouble(b, ideal), 1e-12);
    }

    @Test
    void heldOutTextsAreDeterministicHarmfulAndNotTheTrainingCorpus() {
        List<String> h = HeldOutText.harmfulPrompts(world, 20);
        assertEquals(20, h.size());
        assertTrue(h.stream().allMatch(p -> world.parse(p).kind() == LabWorld.Kind.HARMFUL));
        assertEquals(h, HeldOutText.harmfulPrompts(new LabWorld(0), 20));
        List<String> docs = HeldOutText.corpus(world, 30, 10);
        assertEquals(40, docs.size());
        assertEquals(docs, HeldOutText.corpus(new LabWorld(0), 30, 10));
        assertNotEquals(LabData.corpus(world, 30, 10), docs);
    }
}
