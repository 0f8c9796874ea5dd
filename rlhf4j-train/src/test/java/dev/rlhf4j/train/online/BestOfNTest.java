package dev.rlhf4j.train.online;

import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.tokenizer.BpeTrainer;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.Prompt;
import dev.rlhf4j.train.ppo.RewardFunction;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class BestOfNTest {
    static final Tokenizer TOK = new BpeTrainer(300, List.of("<|endoftext|>"),
            Map.of("eos_token", "<|endoftext|>")).train(List.of(
            "User: what is two plus two?\nAssistant: four.", "the cat sat on the mat and the dog ran.",
            "a quick brown fox jumps over the lazy dog", "User: hello\nAssistant: hi there, how are you?"));
    static final ModelConfig CFG = ModelConfig.llama(TOK.vocabSize(), 32, 2, 4, 2, 64, 48, 1e-5f, 10000.0,
            Rope.Style.ROTATE_HALF, true, false);
    static final List<Prompt> PROMPTS = List.of("User: hello\nAssistant:", "the cat", "a quick brown",
            "User: what is two plus two?\nAssistant:", "the dog ran", "over the", "fox", "User: hi\nAssistant:")
            .stream().map(Prompt::plain).toList();

    /** The share of a response's tokens with even ids: a rule reward a tiny model's samples differ on. */
    static final class EvenTokens implements RewardFunction {
        final List<Episode> seen = new ArrayList<>();

        @Override
        public double[] score(List<Episode> episodes) {
            seen.addAll(episodes);
            double[] s = new double[episodes.size()];
            for (int i = 0; i < s.length; i++) {
                s[i] = share(episodes.get(i));
            }
            return s;
        }

        static double share(Episode e) {
            int[] r = e.responseTokens();
            double s = 0;
            for (int t : r) {
                s += t % 2 == 0 ? 1.0 / r.length : 0;
            }
            return s;
        }

        @Override
        public String describe() {
            return "even tokens";
        }
    }

    @Test
    void keepsTheArgmaxOfTheRewardOverTheNSamplesOfEachPrompt() {
        Transformer policy = Transformer.create(CFG, OutputHeads.LM, 1);
        EvenTokens reward = new EvenTokens();
        int n = 6;
        BestOfN.Result r = BestOfN.select(policy, TOK, reward, PROMPTS, n, 8, 1f, 5,
                new int[] {TOK.eosId().getAsInt()}, 16);
        assertEquals(PROMPTS.size() * n, reward.seen.size(), "n samples per prompt were scored");
        assertEquals(PROMPTS.size(), r.choices().size());
        long tokens = 0;
        for (Episode e : reward.seen) {
            tokens += e.responseTokens().length;
        }
        assertEquals(tokens, r.generatedTokens(), "every generated token counted");
        int distinct = 0;
        for (int i = 0; i < PROMPTS.size(); i++) {
            BestOfN.Choice c = r.choices().get(i);
            double best = Double.NEGATIVE_INFINITY;
            int argmax = -1;
            for (int k = 0; k < n; k++) {
                Episode e = reward.seen.get(i * n + k);
                assertEquals(PROMPTS.get(i).text(), e.prompt(), "samples are grouped by prompt");
                assertEquals(EvenTokens.share(e), c.scores()[k], 0, "scores are in sampling order");
                if (c.scores()[k] > best) {
                    best = c.scores()[k];
                    argmax = k;
                }
            }
            assertEquals(best, c.score(), 0);
            assertTrue(reward.seen.get(i * n + argmax) == c.chosen(), "the first sample with the highest score");
            distinct += c.scores()[0] != best ? 1 : 0;
        }
        assertTrue(distinct > 0, "for some prompt the first sample is not the best: the choice was exercised");
        assertTrue(r.meanChosenScore() > r.meanSampleScore());
    }

    @Test
    void theSameSeedGivesTheSameChoicesAndNOfOneIsPlainSampling() {
        Transformer policy = Transformer.create(CFG, OutputHeads.LM, 1);
        int[] eos = {TOK.eosId().getAsInt()};
        BestOfN.Result a = BestOfN.select(policy, TOK, new EvenTokens(), PROMPTS, 3, 8, 1f, 9, eos, 5);
        BestOfN.Result b = BestOfN.select(policy, TOK, new EvenTokens(), PROMPTS, 3, 8, 1f, 9, eos, 5);
        for (int i = 0; i < PROMPTS.size(); i++) {
            assertEquals(a.choices().get(i).chosen().response(), b.choices().get(i).chosen().response());
        }
        BestOfN.Result one = BestOfN.select(policy, TOK, new EvenTokens(), PROMPTS, 1, 8, 1f, 9, eos, 5);
        assertEquals(one.meanChosenScore(), one.meanSampleScore(), 0);
    }

    @Test
    void refusesBadSettings() {
        Transformer policy = Transformer.create(CFG, OutputHeads.LM, 1);
        int[] eos = {TOK.eosId().getAsInt()};
        assertTrue(assertThrows(UserError.class, () -> BestOfN.select(policy, TOK, new EvenTokens(), PROMPTS, 0, 8,
                1f, 0, eos, 4)).getMessage().contains("n must be at least 1"));
        assertThrows(UserError.class, () -> BestOfN.select(policy, TOK, new EvenTokens(), List.of(), 2, 8, 1f, 0, eos,
                4));
        assertTrue(assertThrows(UserError.class, () -> BestOfN.select(policy, TOK, new EvenTokens(), PROMPTS, 2, 60,
                1f, 0, eos, 4)).getMessage().contains("maximum sequence length"));
    }
}
