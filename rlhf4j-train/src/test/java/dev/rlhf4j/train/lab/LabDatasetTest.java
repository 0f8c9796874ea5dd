package dev.rlhf4j.train.lab;

import dev.rlhf4j.model.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

class LabDatasetTest {

    @Test
    void theSeedStreamsKeepTheirNumbers() {
        // the numbers are part of every generated data set's identity: changing one changes the files
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L, 9L, 10L),
                Arrays.stream(LabStream.values()).map(LabStream::id).toList());
        assertEquals(List.of("CORPUS", "SFT", "SFT_EVAL", "PROMPTS", "EVAL_PROMPTS", "DEMONSTRATOR_PAIRS",
                "PAIR_PROMPTS", "EVAL_PAIR_PROMPTS", "LABELS", "EVAL_LABELS"),
                Arrays.stream(LabStream.values()).map(Enum::name).toList());
    }

    @Test
    void eachTextDatasetIsItsOwnStreamOfTheWorld() {
        LabWorld w = new LabWorld(3);
        LabDataset.Texts t = LabDataset.texts(w, new LabDataset.Sizes(30, 10, 8, 4, 6, 5));
        assertEquals(LabData.corpus(w, 30, 10), t.corpus());
        assertEquals(40, t.corpus().size());
        assertDemonstrations(LabData.demonstrations(w, 8, 2), t.sft());
        assertDemonstrations(LabData.demonstrations(w, 4, 3), t.sftEval());
        assertEquals(LabData.prompts(w, 6, 4), t.prompts());
        assertEquals(LabData.prompts(w, 5, 5), t.evalPrompts());
        // a larger SFT set leaves the prompts as they were
        assertEquals(t.prompts(), LabDataset.texts(w, new LabDataset.Sizes(30, 10, 80, 4, 6, 5)).prompts());
    }

    @Test
    void preferencesAreSampledAndLabelledFromTheirStreams() {
        LabWorld w = new LabWorld(5);
        LabData.PairSampler sampler = LabData.demonstratorPairs(w, LabStream.DEMONSTRATOR_PAIRS.id());
        LabPreferences p = LabPreferences.sample(w, sampler, 60, 30, 0.73, 0.02);
        // the same run written out by hand with the stream numbers
        List<LabData.Candidates> train = sampler.sample(LabData.prompts(w, 60, 7));
        List<LabData.Candidates> eval = sampler.sample(LabData.prompts(w, 30, 8));
        Annotator a = Annotator.calibrate(LabData.comparisons(w, train), 0.73, 0.02);
        assertEquals(a, p.annotator());
        assertEquals(LabData.label(w, train, a, 9), p.train());
        assertEquals(LabData.label(w, eval, a, 10), p.eval());
        assertFalse(p.train().isEmpty());
        assertEquals(p.eval().stream().map(LabData.LabeledPair::comparison).toList(), p.evalComparisons());
        LabData.LabeledPair first = p.train().getFirst();
        assertEquals(" " + first.chosen(), first.preferenceRecord().get("chosen"));
        assertEquals(first.goldRejected(), first.preferenceRecord().get("gold_rejected"));
    }

    @Test
    void theLabTokenizerPadsWithItsPadToken() {
        Tokenizer tok = LabDataset.tokenizerTrainer(300).train(LabData.corpus(new LabWorld(0), 60, 20));
        assertEquals(tok.id(LabDataset.PAD).orElseThrow(), tok.paddingId());
        assertEquals(tok.id(LabDataset.EOS).orElseThrow(), tok.eosId().orElseThrow());
    }

    private static void assertDemonstrations(List<String[]> expected, List<String[]> actual) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(expected.get(i), actual.get(i));
        }
    }
}
