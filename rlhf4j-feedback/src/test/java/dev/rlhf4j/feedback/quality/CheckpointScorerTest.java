package dev.rlhf4j.feedback.quality;

import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.chat.ChatTemplate.Message;
import dev.rlhf4j.model.io.HfCheckpoint;
import dev.rlhf4j.model.io.Safetensors;
import dev.rlhf4j.model.tokenizer.BpeTrainer;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.data.PairTokenization;
import dev.rlhf4j.train.reward.RewardObjective;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A real reward checkpoint (tiny, untrained, saved as reward train saves one) scored as reward score scores. */
class CheckpointScorerTest {
    private static Tokenizer tokenizer() {
        return new BpeTrainer(270, List.of("<eos>", "<pad>"), Map.of("eos_token", "<eos>", "pad_token", "<pad>"))
                .train(List.of("once upon a time there was a cat", "the cat sat on the mat", "a dog ran"));
    }

    private static Path save(Path dir, OutputHeads heads, Tokenizer tok) throws IOException {
        Transformer m = Transformer.create(ModelConfig.gpt2(tok.vocabSize(), 16, 1, 2, 64), heads, 7);
        HfCheckpoint.save(m, dir, HfCheckpoint.SaveOptions.of(Safetensors.DType.F32));
        tok.save(dir);
        return dir;
    }

    @Test
    void scoresAsRewardScoreDoesAndIsOpenedOnce(@TempDir Path tmp) throws IOException {
        Tokenizer tok = tokenizer();
        Path dir = save(tmp.resolve("rm"), OutputHeads.SCALAR, tok);
        CheckpointScorer scorer = CheckpointScorer.open(dir);
        assertSame(scorer, CheckpointScorer.open(tmp.resolve("rm/../rm")), "kept per path");
        float[] s = scorer.score("Once upon a time", List.of(" there was a cat", " a dog ran"));
        assertEquals(2, s.length);
        assertTrue(Float.isFinite(s[0]) && Float.isFinite(s[1]));
        assertNotEquals(s[0], s[1], "different responses, different scores");

        // the reference: the sequences reward score builds, through the same model loaded anew
        Transformer loaded = dev.rlhf4j.model.io.Pretrained.open(dir, null).model();
        double[] expected = RewardObjective.score(loaded, List.of(
                PairTokenization.encodeText(tok, "Once upon a time", " there was a cat", 64),
                PairTokenization.encodeText(tok, "Once upon a time", " a dog ran", 64)), 16, 64, tok.paddingId());
        assertArrayEquals(new float[] {(float) expected[0], (float) expected[1]}, s);

        float[] chat = scorer.score(List.of(new Message("user", "Hi")), List.of("hello", "a cat"));
        assertEquals(2, chat.length);
        assertTrue(Float.isFinite(chat[0]) && chat[0] != chat[1]);
    }

    @Test
    void aLanguageModelIsNotAReward(@TempDir Path tmp) throws IOException {
        Path dir = save(tmp.resolve("lm"), OutputHeads.LM, tokenizer());
        UserError e = assertThrows(UserError.class, () -> CheckpointScorer.open(dir));
        assertTrue(e.getMessage().contains("not a reward model"), e.getMessage());
        UserError missing = assertThrows(UserError.class, () -> CheckpointScorer.open(tmp.resolve("nothing")));
        assertTrue(missing.getMessage().startsWith("reward model " + tmp.resolve("nothing")), missing.getMessage());
    }
}
