package dev.rlhf4j.model.generate;

import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.TokenBatch;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.WeightDtype;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GeneratorTest {
    private static final ModelConfig LLAMA = ModelConfig.llama(40, 32, 2, 4, 2, 48, 64, 1e-5f, 10000.0,
            Rope.Style.ROTATE_HALF, false, false);
    private static final ModelConfig GPT2 = ModelConfig.gpt2(40, 32, 2, 4, 64);

    private static Transformer model(ModelConfig c) {
        Transformer m = Transformer.create(c, OutputHeads.LM, 3);
        // larger weights than GPT-2's init so that the next-token distribution is far from uniform
        for (var e : m.params().entries()) {
            if (e.decay()) {
                float[] d = m.params().get(e.name()).data();
                int off = e.offset();
                for (int i = 0; i < e.size(); i++) {
                    d[off + i] *= 15f;
                }
            }
        }
        return m;
    }

    /** Greedy continuation computed with full forward passes, no cache. */
    private static int[] greedyByFullForward(Transformer m, int[] prompt, int steps) {
        List<Integer> seq = new ArrayList<>();
        for (int t : prompt) {
            seq.add(t);
        }
        int[] out = new int[steps];
        for (int s = 0; s < steps; s++) {
            int[] toks = seq.stream().mapToInt(Integer::intValue).toArray();
            m.forward(TokenBatch.of(toks, 1, toks.length));
            Tensor logits = m.logits();
            int v = m.config().vocabSize(), row = (toks.length - 1) * v, best = 0;
            for (int i = 1; i < v; i++) {
                if (logits.data()[row + i] > logits.data()[row + best]) {
                    best = i;
                }
            }
            out[s] = best;
            seq.add(best);
        }
        return out;
    }

    @Test
    void greedyBatchOfDifferentLengthsMatchesFullForwardPerPrompt() {
        for (ModelConfig c : new ModelConfig[] {GPT2, LLAMA}) {
            Transformer m = model(c);
            List<int[]> prompts = List.of(new int[] {5, 9, 1, 33, 2, 7}, new int[] {11}, new int[] {3, 4, 8});
            List<Generation> gens = new Generator(m, null).generate(prompts, GenerationConfig.greedy(12));
            for (int i = 0; i < prompts.size(); i++) {
                assertArrayEquals(greedyByFullForward(m, prompts.get(i), 12), gens.get(i).tokens(),
                        c.family() + " prompt " + i);
                assertEquals("length", gens.get(i).finishReason());
            }
        }
    }

    @Test
    void logprobsAreThoseOfTheFullForwardAtTheSamplingTemperature() {
        Transformer m = model(LLAMA);
        int[] prompt = {7, 3, 9};
        float temperature = 0.7f;
        Generation g = new Generator(m, null).generate(List.of(prompt),
                new GenerationConfig(6, temperature, 0, 1f, 42, null, null)).get(0);
        int[] full = new int[prompt.length + g.tokens().length];
        System.arraycopy(prompt, 0, full, 0, prompt.length);
        System.arraycopy(g.tokens(), 0, full, prompt.length, g.tokens().length);
        m.forward(TokenBatch.of(full, 1, full.length));
        float[] logits = m.logits().toArray();
        int v = LLAMA.vocabSize();
        for (int s = 0; s < g.tokens().length; s++) {
            int row = (prompt.length - 1 + s) * v;
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int i = 0; i < v; i++) {
                max = Math.max(max, logits[row + i] / temperature);
            }
            for (int i = 0; i < v; i++) {
                sum += Math.exp(logits[row + i] / temperature - max);
            }
            double expected = logits[row + g.tokens()[s]] / temperature - max - Math.log(sum);
            assertEquals(expected, g.logprobs()[s], 2e-5, "logprob of token " + s);
        }
    }

    @Test
    void sameSeedSameTokensOtherSeedOtherTokens() {
        Transformer m = model(GPT2);
        List<int[]> prompts = List.of(new int[] {1, 2, 3}, new int[] {4});
        Generator gen = new Generator(m, null);
        List<Generation> a = gen.generate(prompts, GenerationConfig.sampling(20, 7));
        List<Generation> b = gen.generate(prompts, GenerationConfig.sampling(20, 7));
        List<Generation> c = gen.generate(prompts, GenerationConfig.sampling(20, 8));
        assertArrayEquals(a.get(0).tokens(), b.get(0).tokens());
        assertArrayEquals(a.get(1).tokens(), b.get(1).tokens());
        assertFalse(java.util.Arrays.equals(a.get(0).tokens(), c.get(0).tokens()));
    }

    @Test
    void topKOfOneIsGreedyAndTopPKeepsOnlyTheMostLikely() {
        Transformer m = model(LLAMA);
        List<int[]> prompts = List.of(new int[] {2, 6});
        Generator gen = new Generator(m, null);
        int[] greedy = gen.generate(prompts, GenerationConfig.greedy(10)).get(0).tokens();
        int[] topK1 = gen.generate(prompts, new GenerationConfig(10, 1.3f, 1, 1f, 99, null, null)).get(0).tokens();
        assertArrayEquals(greedy, topK1);
        int[] tinyP = gen.generate(prompts, new GenerationConfig(10, 1f, 0, 1e-6f, 5, null, null)).get(0).tokens();
        assertArrayEquals(greedy, tinyP, "top-p that keeps one token is greedy");
    }

    @Test
    void endOfSequenceStopsAndIsKept() {
        Transformer m = model(GPT2);
        int[] prompt = {9, 9, 9};
        int[] free = new Generator(m, null).generate(List.of(prompt), GenerationConfig.greedy(10)).get(0).tokens();
        int eos = free[3];
        Generation g = new Generator(m, null).generate(List.of(prompt), GenerationConfig.greedy(10, eos)).get(0);
        int firstEos = 0;
        while (free[firstEos] != eos) {
            firstEos++;
        }
        assertEquals("eos", g.finishReason());
        assertEquals(firstEos + 1, g.tokens().length);
        assertEquals(eos, g.tokens()[firstEos]);
    }

    @Test
    void stopStringsEndTheSequenceAndStreamingDeliversTheText() {
        Transformer m = model(LLAMA);
        Tokenizer chars = new LetterTokenizer();
        int[] prompt = {1, 2};
        Generator gen = new Generator(m, chars);
        Generation free = gen.generate(List.of(prompt), GenerationConfig.greedy(20)).get(0);
        String stop = free.text().substring(4, 6);
        StringBuilder streamed = new StringBuilder();
        Generation g = gen.generate(List.of(prompt), new GenerationConfig(20, 0f, 0, 1f, 0, null, List.of(stop)),
                (seq, delta) -> streamed.append(delta)).get(0);
        assertEquals("stop", g.finishReason());
        assertTrue(g.text().endsWith(stop), g.text());
        assertEquals(free.text().indexOf(stop) + stop.length(), g.text().length());
        assertEquals(g.text(), streamed.toString());
    }

    @Test
    void badRequestsAreReported() {
        Transformer m = model(GPT2);
        Generator gen = new Generator(m, null);
        IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class,
                () -> gen.generate(List.of(new int[60]), GenerationConfig.greedy(10)));
        assertTrue(tooLong.getMessage().contains("maximum sequence length of 64"), tooLong.getMessage());
        assertThrows(IllegalArgumentException.class, () -> gen.generate(List.of(new int[] {40}),
                GenerationConfig.greedy(1)));
        assertThrows(IllegalArgumentException.class, () -> new GenerationConfig(5, 1f, 0, 0f, 1, null, null));
        assertNotEquals(0, GenerationConfig.sampling(3, 1).maxNewTokens());
    }

    /** One letter per token ('a' + id), for testing stop strings without a real vocabulary. */
    private static final class LetterTokenizer implements Tokenizer {
        @Override
        public int[] encode(String text, boolean addSpecialTokens) {
            return text.chars().map(ch -> ch - 'a').toArray();
        }

        @Override
        public String decode(int[] ids, boolean skipSpecialTokens) {
            StringBuilder sb = new StringBuilder();
            for (int id : ids) {
                sb.append((char) ('a' + id));
            }
            return sb.toString();
        }

        @Override
        public int vocabSize() {
            return 40;
        }

        @Override
        public String token(int id) {
            return String.valueOf((char) ('a' + id));
        }

        @Override
        public OptionalInt id(String token) {
            return token.length() == 1 ? OptionalInt.of(token.charAt(0) - 'a') : OptionalInt.empty();
        }

        @Override
        public OptionalInt bosId() {
            return OptionalInt.empty();
        }

        @Override
        public OptionalInt eosId() {
            return OptionalInt.empty();
        }

        @Override
        public OptionalInt padId() {
            return OptionalInt.empty();
        }

        @Override
        public boolean isSpecial(int id) {
            return false;
        }

        @Override
        public Map<String, String> specialTokens() {
            return Map.of();
        }

        @Override
        public String describe() {
            return "letters";
        }

        @Override
        public void save(Path dir) {
            throw new UnsupportedOperationException("not needed in this test");
        }
    }

    /**
     * Generation reading a bfloat16 copy of a float32 model samples what the packed model samples (the same packed
     * values), and follows the model's weights only after {@link Generator#weightsChanged()}.
     */
    @Test
    void bf16GenerationReadsAPackedCopyRefreshedWhenTheWeightsChange() {
        Transformer m = model(GPT2);
        List<int[]> prompts = List.of(new int[] {1, 2, 3}, new int[] {7});
        GenerationConfig gc = new GenerationConfig(12, 1f, 0, 1f, 5, null, null);
        Generator onCopy = new Generator(m, null, WeightDtype.BF16);
        int[][] before = tokens(onCopy.generate(prompts, gc));
        assertArrayEquals(tokens(new Generator(m.packed(WeightDtype.BF16), null).generate(prompts, gc)), before);
        for (var e : m.params().entries()) {
            if (e.name().endsWith("mlp.fc.weight")) {
                m.params().get(e.name()).fill(0.5f);
            }
        }
        assertArrayEquals(before, tokens(onCopy.generate(prompts, gc)), "the copy is not refreshed by itself");
        onCopy.weightsChanged();
        int[][] after = tokens(onCopy.generate(prompts, gc));
        assertArrayEquals(tokens(new Generator(m.packed(WeightDtype.BF16), null).generate(prompts, gc)), after);
    }

    private static int[][] tokens(List<Generation> gens) {
        return gens.stream().map(Generation::tokens).toArray(int[][]::new);
    }
}
