package dev.rlhf4j.train.lab;

import dev.rlhf4j.train.data.JsonlWriter;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.generate.Generation;
import dev.rlhf4j.model.generate.GenerationConfig;
import dev.rlhf4j.model.generate.Generator;
import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.Rng;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.ToDoubleBiFunction;

/**
 * The lab's datasets: a pretraining corpus of mixed quality, SFT demonstrations, prompts for RL and evaluation, and
 * preference pairs labelled by simulated annotators. Each draws from its own stream of the seed, so adding one does
 * not change the others.
 */
public final class LabData {

    /** Two responses to one prompt, before labelling. */
    public record Candidates(String prompt, String a, String b) {
    }

    /** A labelled comparison, with the gold rewards that a real dataset would not have (for analysis only). */
    public record LabeledPair(String prompt, String chosen, String rejected, double goldChosen, double goldRejected,
                              int wordsChosen, int wordsRejected) {
        public Annotator.Comparison comparison() {
            return new Annotator.Comparison(goldChosen, goldRejected, wordsChosen, wordsRejected);
        }

        /** The pair as a preference record (completions with their leading space), with the gold rewards. */
        public Map<String, Object> preferenceRecord() {
            return JsonlWriter.fields("prompt", prompt, "chosen", " " + chosen, "rejected", " " + rejected,
                    "gold_chosen", goldChosen, "gold_rejected", goldRejected);
        }
    }

    /** Where pairs of responses come from. */
    @FunctionalInterface
    public interface PairSampler {
        /** Two responses for each prompt (they may be equal; such pairs are dropped). */
        List<Candidates> sample(List<String> prompts);
    }

    private LabData() {
    }

    /** Dialogues in the web's mixed style, and plain facts: {@code {"text"}} documents. */
    public static List<String> corpus(LabWorld w, int dialogues, int facts) {
        Rng rng = new Rng(w.seed() * 31 + LabStream.CORPUS.id());
        List<String> out = new ArrayList<>(dialogues + facts);
        for (int i = 0; i < dialogues; i++) {
            LabWorld.Request r = w.request(rng);
            out.add(r.prompt() + " " + w.respond(r, LabWorld.WEB, rng));
        }
        for (int i = 0; i < facts; i++) {
            out.add(w.fact(rng));
        }
        // interleave facts with dialogues deterministically
        shuffle(out, rng);
        return out;
    }

    /** Demonstrations by good but imperfect demonstrators: (prompt, completion) with the completion's leading space. */
    public static List<String[]> demonstrations(LabWorld w, int n, long stream) {
        Rng rng = new Rng(w.seed() * 31 + stream);
        List<String[]> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            LabWorld.Request r = w.request(rng);
            out.add(new String[] {r.prompt(), " " + w.respond(r, LabWorld.DEMONSTRATOR, rng)});
        }
        return out;
    }

    /** Prompts (as models see them) for RL or evaluation. */
    public static List<String> prompts(LabWorld w, int n, long stream) {
        Rng rng = new Rng(w.seed() * 31 + stream);
        List<String> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(w.request(rng).prompt());
        }
        return out;
    }

    /** Pairs written by the demonstrators (a stand-in for an SFT model when none is given). */
    public static PairSampler demonstratorPairs(LabWorld w, long stream) {
        return prompts -> {
            Rng rng = new Rng(w.seed() * 31 + stream);
            List<Candidates> out = new ArrayList<>();
            for (String p : prompts) {
                LabWorld.Request r = w.parse(p);
                out.add(new Candidates(p, w.respond(r, LabWorld.DEMONSTRATOR, rng),
                        w.respond(r, LabWorld.DEMONSTRATOR, rng)));
            }
            return out;
        };
    }

    /** Pairs sampled from a model at temperature 1 (two samples per prompt), as InstructGPT collected them. */
    public static PairSampler modelPairs(Transformer model, Tokenizer tokenizer, int maxNewTokens, long seed,
                                         int batchSize) {
        return prompts -> {
            Generator gen = new Generator(model, tokenizer);
            int[] eos = tokenizer.eosId().isPresent() ? new int[] {tokenizer.eosId().getAsInt()} : new int[0];
            List<Candidates> out = new ArrayList<>();
            for (int from = 0; from < prompts.size(); from += batchSize) {
                List<String> part = prompts.subList(from, Math.min(prompts.size(), from + batchSize));
                List<int[]> ids = new ArrayList<>();
                for (String p : part) {
                    ids.add(tokenizer.encode(p, true));
                }
                List<int[]> doubled = new ArrayList<>(ids);
                doubled.addAll(ids);
                List<Generation> g = gen.generate(doubled, new GenerationConfig(maxNewTokens, 1f, 0, 1f,
                        seed + from, eos, List.of("\nUser:")));
                for (int i = 0; i < part.size(); i++) {
                    out.add(new Candidates(part.get(i), clean(g.get(i).text()), clean(g.get(i + part.size()).text())));
                }
            }
            return out;
        };
    }

    /** The response text a model produced, without a following turn it started to write. */
    public static String clean(String text) {
        int cut = text.indexOf("\nUser:");
        String t = cut >= 0 ? text.substring(0, cut) : text;
        return t.strip();
    }

    /** Labels each pair with the annotator; identical responses are dropped. */
    public static List<LabeledPair> label(LabWorld w, List<Candidates> candidates, Annotator annotator, long stream) {
        return label((p, r) -> w.score(p, r).total(), w.seed(), candidates, annotator, stream);
    }

    /**
     * Labels each pair with the annotator judging by {@code gold} (any reward of prompt and response); identical
     * responses are dropped. The annotator's draws are seeded by {@code seed} and {@code stream}.
     */
    public static List<LabeledPair> label(ToDoubleBiFunction<String, String> gold, long seed,
                                          List<Candidates> candidates, Annotator annotator, long stream) {
        Rng rng = new Rng(seed * 31 + stream);
        List<LabeledPair> out = new ArrayList<>();
        for (Candidates c : candidates) {
            if (c.a().equals(c.b())) {
                continue;
            }
            double ra = gold.applyAsDouble(c.prompt(), c.a()), rb = gold.applyAsDouble(c.prompt(), c.b());
            int wa = Annotator.words(c.a()), wb = Annotator.words(c.b());
            boolean firstWins = annotator.prefersFirst(new Annotator.Comparison(ra, rb, wa, wb), rng);
            out.add(firstWins ? new LabeledPair(c.prompt(), c.a(), c.b(), ra, rb, wa, wb)
                    : new LabeledPair(c.prompt(), c.b(), c.a(), rb, ra, wb, wa));
        }
        return out;
    }

    /**
     * The pairs whose responses {@code gold} scores differently: a pair it scores alike says nothing about its
     * taste (a person would answer "about the same").
     */
    public static List<Candidates> decisive(ToDoubleBiFunction<String, String> gold, List<Candidates> candidates) {
        return candidates.stream().filter(c -> gold.applyAsDouble(c.prompt(), c.a())
                != gold.applyAsDouble(c.prompt(), c.b())).toList();
    }

    /** The comparisons of candidate pairs (gold rewards and lengths), for calibrating annotators on them. */
    public static List<Annotator.Comparison> comparisons(LabWorld w, List<Candidates> candidates) {
        return comparisons((p, r) -> w.score(p, r).total(), candidates);
    }

    /** The comparisons of candidate pairs under any gold reward. */
    public static List<Annotator.Comparison> comparisons(ToDoubleBiFunction<String, String> gold,
                                                         List<Candidates> candidates) {
        List<Annotator.Comparison> out = new ArrayList<>();
        for (Candidates c : candidates) {
            if (!c.a().equals(c.b())) {
                out.add(new Annotator.Comparison(gold.applyAsDouble(c.prompt(), c.a()),
                        gold.applyAsDouble(c.prompt(), c.b()), Annotator.words(c.a()), Annotator.words(c.b())));
            }
        }
        return out;
    }

    private static <T> void shuffle(List<T> list, Rng rng) {
        for (int i = list.size() - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            T t = list.get(i);
            list.set(i, list.get(j));
            list.set(j, t);
        }
    }
}
