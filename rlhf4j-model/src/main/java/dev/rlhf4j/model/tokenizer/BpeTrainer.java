package dev.rlhf4j.model.tokenizer;

import dev.rlhf4j.model.tokenizer.AddedVocabulary.AddedToken;
import dev.rlhf4j.model.tokenizer.AddedVocabulary.Segment;
import dev.rlhf4j.tensor.UserError;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * Trains a byte-level BPE vocabulary for rlhf4j's own small models, as GPT-2's was made (Sennrich et al. 2016 on
 * GPT-2's byte-level words; HF's {@code BpeTrainer} with the ByteLevel alphabet).
 *
 * <p>The vocabulary starts with the special tokens (ids 0..k-1) and the 256 bytes (ids k..k+255, in byte order),
 * so any text can be encoded. Texts are cut at the special tokens and split into words with GPT-2's pattern; then,
 * until the vocabulary has {@code vocabSize} tokens, the most frequent adjacent pair of tokens over all words is
 * merged into a new token. Ties go to the pair with the smaller left id, then the smaller right id, so training is
 * deterministic. Training stops early when no pair occurs twice. Pair counts are kept up to date incrementally:
 * a merge only revisits the words that contain its pair.
 *
 * <p>The trained tokenizer pre-tokenizes as GPT-2 (no prefix space), decodes byte-level, and adds nothing for
 * {@code encode(text, true)}; it saves as a tokenizer.json that HF loads.
 *
 * @param vocabSize         the vocabulary size to reach, special tokens and the 256 bytes included
 * @param specialTokens     special tokens, given ids 0, 1, ... in this order
 * @param specialTokenRoles role ({@code bos_token}, {@code eos_token}, {@code pad_token}, {@code unk_token}) →
 *                          one of {@code specialTokens}
 */
public record BpeTrainer(int vocabSize, List<String> specialTokens, Map<String, String> specialTokenRoles) {

    public BpeTrainer {
        specialTokens = List.copyOf(specialTokens);
        specialTokenRoles = Map.copyOf(specialTokenRoles);
        if (vocabSize < 256 + specialTokens.size()) {
            throw new UserError("BPE vocabulary size " + vocabSize + " is smaller than the 256 bytes"
                    + " plus " + specialTokens.size() + " special tokens");
        }
        if (new HashSet<>(specialTokens).size() != specialTokens.size() || specialTokens.contains("")) {
            throw new UserError("special tokens must be distinct and non-empty: " + specialTokens);
        }
        for (Map.Entry<String, String> role : specialTokenRoles.entrySet()) {
            if (!TokenizerConfig.ROLES.contains(role.getKey()) || !specialTokens.contains(role.getValue())) {
                throw new UserError("special token role " + role.getKey() + " = '" + role.getValue()
                        + "' must be one of " + TokenizerConfig.ROLES + " naming one of " + specialTokens);
            }
        }
    }

    public BpeTrainer(int vocabSize, List<String> specialTokens) {
        this(vocabSize, specialTokens, Map.of());
    }

    /** A pair's count over all words and the words that contain (or once contained) it. */
    private static final class PairStats {
        long count;
        final IntArray words = new IntArray(4);
    }

    /** A queue entry: the count a pair had when it was queued. */
    private record Candidate(long count, int left, int right) {
    }

    public Tokenizer train(Iterable<String> texts) {
        List<String> tokens = new ArrayList<>(specialTokens);
        List<AddedToken> added = new ArrayList<>();
        for (int i = 0; i < specialTokens.size(); i++) {
            added.add(AddedToken.special(i, specialTokens.get(i)));
        }
        int byteBase = tokens.size();
        for (int b = 0; b < 256; b++) {
            tokens.add(String.valueOf(ByteLevelAlphabet.charOf(b)));
        }

        // Word frequencies, words in the byte-level alphabet.
        AddedVocabulary specials = new AddedVocabulary(added, null);
        PreTokenizer pre = new PreTokenizer.ByteLevel(false, true, true);
        Map<String, Integer> frequency = new LinkedHashMap<>();
        List<String> split = new ArrayList<>();
        for (String text : texts) {
            for (Segment segment : specials.splitRaw(text)) {
                if (segment.tokenId() < 0) {
                    split.clear();
                    pre.split(segment.text(), segment.start() == 0, split);
                    split.forEach(w -> frequency.merge(w, 1, Integer::sum));
                }
            }
        }
        int[][] words = new int[frequency.size()][];
        int[] counts = new int[frequency.size()];
        int w = 0;
        for (Map.Entry<String, Integer> e : frequency.entrySet()) {
            String word = e.getKey();
            words[w] = new int[word.length()];
            for (int i = 0; i < word.length(); i++) {
                words[w][i] = byteBase + ByteLevelAlphabet.byteOf(word.charAt(i));
            }
            counts[w++] = e.getValue();
        }

        Map<Long, PairStats> pairs = new HashMap<>();
        for (w = 0; w < words.length; w++) {
            addPairs(pairs, words[w], counts[w], w, null);
        }
        PriorityQueue<Candidate> queue = new PriorityQueue<>(Comparator.comparingLong((Candidate c) -> -c.count)
                .thenComparingInt(Candidate::left).thenComparingInt(Candidate::right));
        pairs.forEach((key, stats) -> queue.add(new Candidate(stats.count, (int) (key >>> 32), key.intValue())));

        Map<String, Integer> ids = new HashMap<>();
        for (int i = 0; i < tokens.size(); i++) {
            ids.put(tokens.get(i), i);
        }
        List<String[]> merges = new ArrayList<>();
        int[] lastVisit = new int[words.length];
        while (tokens.size() < vocabSize && !queue.isEmpty()) {
            Candidate best = queue.poll();
            long key = BpeModel.pairKey(best.left, best.right);
            PairStats stats = pairs.get(key);
            if (stats.count != best.count) {
                // Counts only fall for pairs already queued, so a stale entry is re-queued with its true count.
                if (stats.count > 0) {
                    queue.add(new Candidate(stats.count, best.left, best.right));
                }
                continue;
            }
            if (stats.count < 2) {
                break;
            }
            String merged = tokens.get(best.left) + tokens.get(best.right);
            int newId = ids.computeIfAbsent(merged, t -> {
                tokens.add(t);
                return tokens.size() - 1;
            });
            merges.add(new String[] {tokens.get(best.left), tokens.get(best.right)});

            Set<Long> newPairs = new LinkedHashSet<>();
            IntArray containing = stats.words;
            for (int i = 0; i < containing.size(); i++) {
                int word = containing.get(i);
                if (lastVisit[word] == merges.size()) {
                    continue;
                }
                lastVisit[word] = merges.size();
                int[] before = words[word];
                int[] after = mergePair(before, best.left, best.right, newId);
                if (after.length == before.length) {
                    continue;
                }
                addPairs(pairs, before, -counts[word], word, null);
                addPairs(pairs, after, counts[word], word, newPairs);
                words[word] = after;
            }
            for (long p : newPairs) {
                PairStats s = pairs.get(p);
                if (s.count > 0 && ((int) (p >>> 32) == newId || (int) p == newId)) {
                    queue.add(new Candidate(s.count, (int) (p >>> 32), (int) p));
                }
            }
        }

        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int i = 0; i < tokens.size(); i++) {
            vocab.put(tokens.get(i), i);
        }
        BpeModel model = new BpeModel(vocab, merges, null, null, false, false, false);
        return new BpeTokenizer("byte-level BPE (trained by rlhf4j)", model, null, pre, null,
                new Decoder.ByteLevel(), added, TokenizerConfig.of(specialTokenRoles, null, null));
    }

    /**
     * Adds {@code delta} to the count of every adjacent pair of {@code word}; on increases, records that the word
     * contains the pair and, when {@code touched} is given, the pair.
     */
    private static void addPairs(Map<Long, PairStats> pairs, int[] word, long delta, int wordIndex,
                                 Set<Long> touched) {
        for (int i = 0; i + 1 < word.length; i++) {
            long key = BpeModel.pairKey(word[i], word[i + 1]);
            PairStats stats = pairs.computeIfAbsent(key, k -> new PairStats());
            stats.count += delta;
            if (delta > 0) {
                if (stats.words.size() == 0 || stats.words.get(stats.words.size() - 1) != wordIndex) {
                    stats.words.add(wordIndex);
                }
                if (touched != null) {
                    touched.add(key);
                }
            }
        }
    }

    /** {@code word} with every occurrence of (left, right), taken left to right, replaced by {@code merged}. */
    private static int[] mergePair(int[] word, int left, int right, int merged) {
        IntArray out = new IntArray(word.length);
        for (int i = 0; i < word.length; i++) {
            if (i + 1 < word.length && word[i] == left && word[i + 1] == right) {
                out.add(merged);
                i++;
            } else {
                out.add(word[i]);
            }
        }
        return out.toArray();
    }
}
