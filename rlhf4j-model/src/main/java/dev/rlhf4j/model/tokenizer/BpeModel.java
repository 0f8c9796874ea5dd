package dev.rlhf4j.model.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The BPE model of HF {@code tokenizers} ({@code models/bpe/model.rs}): a word is split into characters, each
 * character mapped to its token (or, when missing, to byte-fallback tokens {@code <0xNN>}, the unknown token, or
 * nothing), then the adjacent pair with the lowest merge rank is merged, leftmost first among equal ranks, until no
 * adjacent pair has a merge.
 *
 * <p>Ranks usually are the merges' positions in the list. For SentencePiece vocabularies ordered by score
 * ({@link SentencePieceBpe}) several merges may share a rank: that is llama2.c's and llama.cpp's rule of merging the
 * pair whose merged piece has the highest score, the leftmost when scores tie.
 *
 * <p>Merging uses a priority queue over the pairs (as HF and SentencePiece do), so a word of n characters costs
 * O(n log n). Words of up to {@link #CACHED_WORD_LENGTH} characters are cached, since the same words recur all the
 * time; longer ones (a whole text, for tokenizers without pre-tokenizer such as Mistral's) are cut into pieces that
 * merge independently, see {@link #tokenize}.
 */
final class BpeModel {

    private static final int CACHED_WORD_LENGTH = 64;
    private static final int CACHE_CAPACITY = 100_000;

    private final String[] tokens;
    private final Map<String, Integer> ids;
    private final int[] mergeLeft;
    private final int[] mergeRight;
    private final int[] mergeResult;
    private final int[] mergeRank;
    private final LongIntTable mergeIndex;
    /** Id of each single-character token, by code point. */
    private final LongIntTable charIds;
    private volatile LongIntTable innerBigrams;
    private final String unkToken;
    private final int unkId;
    private final boolean fuseUnk;
    private final boolean byteFallback;
    private final boolean ignoreMerges;
    /** Id of {@code <0xNN>} for each byte value, -1 where absent; only used with byte fallback. */
    private final int[] byteIds = new int[256];
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();

    /**
     * @param vocab        token → id
     * @param merges       pairs of tokens in priority order
     * @param ranks        the rank of each merge, or null for its position in {@code merges}
     * @param unkToken     token for characters missing from the vocabulary, or null to drop them
     * @param fuseUnk      whether consecutive unknown characters become one unknown token
     * @param byteFallback whether missing characters become their UTF-8 bytes as {@code <0xNN>} tokens
     * @param ignoreMerges whether a word that is itself a token is taken whole before merging (Llama 3)
     */
    BpeModel(Map<String, Integer> vocab, List<String[]> merges, int[] ranks, String unkToken, boolean fuseUnk,
             boolean byteFallback, boolean ignoreMerges) {
        int size = 0;
        for (int id : vocab.values()) {
            if (id < 0) {
                throw new IllegalArgumentException("vocabulary has negative id " + id);
            }
            size = Math.max(size, id + 1);
        }
        this.tokens = new String[size];
        vocab.forEach((token, id) -> tokens[id] = token);
        this.ids = new HashMap<>(vocab);
        this.unkToken = unkToken;
        this.unkId = unkToken == null ? -1 : idOf(unkToken, "unk_token");
        this.fuseUnk = fuseUnk;
        this.byteFallback = byteFallback;
        this.ignoreMerges = ignoreMerges;
        for (int b = 0; b < 256; b++) {
            byteIds[b] = vocab.getOrDefault(byteToken(b), -1);
        }
        List<Map.Entry<String, Integer>> singles = vocab.entrySet().stream()
                .filter(e -> e.getKey().codePointCount(0, e.getKey().length()) == 1).toList();
        charIds = new LongIntTable(singles.size());
        singles.forEach(e -> charIds.put(e.getKey().codePointAt(0), e.getValue()));

        int n = merges.size();
        mergeLeft = new int[n];
        mergeRight = new int[n];
        mergeResult = new int[n];
        mergeRank = ranks != null ? ranks.clone() : new int[n];
        mergeIndex = new LongIntTable(n);
        for (int i = 0; i < n; i++) {
            String[] m = merges.get(i);
            mergeLeft[i] = idOf(m[0], "merge '" + m[0] + " " + m[1] + "'");
            mergeRight[i] = idOf(m[1], "merge '" + m[0] + " " + m[1] + "'");
            mergeResult[i] = idOf(m[0] + m[1], "merge '" + m[0] + " " + m[1] + "' result");
            if (ranks == null) {
                mergeRank[i] = i;
            }
            // A pair listed twice takes its last position, as in HF's BPE builder (a map filled in list order).
            mergeIndex.put(pairKey(mergeLeft[i], mergeRight[i]), i);
        }
    }

    /** The byte-fallback token of byte value {@code b}, e.g. {@code <0x0A>}. */
    static String byteToken(int b) {
        return String.format("<0x%02X>", b);
    }

    private int idOf(String token, String what) {
        Integer id = ids.get(token);
        if (id == null) {
            throw new IllegalArgumentException(what + ": token '" + token + "' is not in the vocabulary");
        }
        return id;
    }

    /** One more than the largest id. */
    int size() {
        return tokens.length;
    }

    /** The token of {@code id}, or null when no token has that id. */
    String token(int id) {
        return id >= 0 && id < tokens.length ? tokens[id] : null;
    }

    Integer id(String token) {
        return ids.get(token);
    }

    String unkToken() {
        return unkToken;
    }

    boolean fuseUnk() {
        return fuseUnk;
    }

    boolean byteFallback() {
        return byteFallback;
    }

    boolean ignoreMerges() {
        return ignoreMerges;
    }

    int mergeCount() {
        return mergeLeft.length;
    }

    String[] merge(int i) {
        return new String[] {tokens[mergeLeft[i]], tokens[mergeRight[i]]};
    }

    /**
     * Appends the tokens of one pre-tokenized word. A long word (a whole text, for tokenizers without
     * pre-tokenizer) is first cut where no merge can ever reach across: between two characters that are tokens
     * themselves and stand side by side in no merged token. Each piece then merges as the whole word would, and
     * short pieces hit the cache.
     */
    void tokenize(String word, IntArray out) {
        if (word.isEmpty()) {
            return;
        }
        if (ignoreMerges) {
            Integer whole = ids.get(word);
            if (whole != null) {
                out.add(whole);
                return;
            }
        }
        if (word.length() <= CACHED_WORD_LENGTH) {
            out.addAll(piece(word));
            return;
        }
        LongIntTable bigrams = innerBigrams();
        int start = 0, previous = -1;
        for (int i = 0; i < word.length(); ) {
            int c = word.codePointAt(i);
            if (previous >= 0 && charIds.get(previous) >= 0 && charIds.get(c) >= 0
                    && bigrams.get(pairKey(previous, c)) < 0) {
                out.addAll(piece(word.substring(start, i)));
                start = i;
            }
            previous = c;
            i += Character.charCount(c);
        }
        out.addAll(piece(word.substring(start)));
    }

    private int[] piece(String s) {
        boolean cacheable = s.length() <= CACHED_WORD_LENGTH;
        int[] result = cacheable ? cache.get(s) : null;
        if (result == null) {
            result = mergeAll(initialSymbols(s));
            if (cacheable && cache.size() < CACHE_CAPACITY) {
                cache.put(s, result);
            }
        }
        return result;
    }

    /** Pairs of adjacent characters inside merged tokens (keyed as code point pairs), built on first need. */
    private LongIntTable innerBigrams() {
        LongIntTable table = innerBigrams;
        if (table == null) {
            synchronized (this) {
                if (innerBigrams == null) {
                    List<Long> keys = new ArrayList<>();
                    for (int result : mergeResult) {
                        String t = tokens[result];
                        for (int i = 0; i < t.length(); ) {
                            int c = t.codePointAt(i);
                            i += Character.charCount(c);
                            if (i < t.length()) {
                                keys.add(pairKey(c, t.codePointAt(i)));
                            }
                        }
                    }
                    LongIntTable bigrams = new LongIntTable(keys.size());
                    keys.forEach(k -> bigrams.put(k, 1));
                    innerBigrams = bigrams;
                }
                table = innerBigrams;
            }
        }
        return table;
    }

    private int[] initialSymbols(String word) {
        IntArray symbols = new IntArray(word.length());
        boolean previousUnknown = false;
        for (int i = 0; i < word.length(); ) {
            int c = word.codePointAt(i);
            i += Character.charCount(c);
            int id = charIds.get(c);
            if (id >= 0) {
                symbols.add(id);
                previousUnknown = false;
            } else if (byteFallback && appendByteTokens(c, symbols)) {
                previousUnknown = false;
            } else if (unkId >= 0) {
                if (!(fuseUnk && previousUnknown)) {
                    symbols.add(unkId);
                }
                previousUnknown = true;
            }
        }
        return symbols.toArray();
    }

    private boolean appendByteTokens(int codePoint, IntArray symbols) {
        byte[] bytes = Character.toString(codePoint).getBytes(StandardCharsets.UTF_8);
        for (byte b : bytes) {
            if (byteIds[b & 0xFF] < 0) {
                return false;
            }
        }
        for (byte b : bytes) {
            symbols.add(byteIds[b & 0xFF]);
        }
        return true;
    }

    /**
     * Merges adjacent symbols, best rank first and leftmost among equals. Symbols form a linked list over their
     * initial positions; queue entries are {@code rank << 32 | position} and go stale when either symbol of their
     * pair has changed, which the pop detects by looking the pair up again.
     */
    private int[] mergeAll(int[] id) {
        int n = id.length;
        if (n < 2 || mergeLeft.length == 0) {
            return id;
        }
        int[] next = new int[n];
        int[] prev = new int[n];
        for (int i = 0; i < n; i++) {
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }
        LongHeap queue = new LongHeap(n);
        for (int i = 0; i + 1 < n; i++) {
            offer(queue, id, i, i + 1);
        }
        int alive = n;
        while (!queue.isEmpty()) {
            long entry = queue.poll();
            int pos = (int) entry;
            int rank = (int) (entry >>> 32);
            int right = next[pos];
            if (id[pos] < 0 || right < 0) {
                continue;
            }
            int m = mergeIndex.get(pairKey(id[pos], id[right]));
            if (m < 0 || mergeRank[m] != rank) {
                continue;
            }
            id[pos] = mergeResult[m];
            id[right] = -1;
            alive--;
            int after = next[right];
            next[pos] = after;
            if (after >= 0) {
                prev[after] = pos;
                offer(queue, id, pos, after);
            }
            if (prev[pos] >= 0) {
                offer(queue, id, prev[pos], pos);
            }
        }
        int[] out = new int[alive];
        for (int i = 0, k = 0; i >= 0; i = next[i]) {
            out[k++] = id[i];
        }
        return out;
    }

    private void offer(LongHeap queue, int[] id, int left, int right) {
        int m = mergeIndex.get(pairKey(id[left], id[right]));
        if (m >= 0) {
            queue.add((long) mergeRank[m] << 32 | left);
        }
    }

    static long pairKey(int left, int right) {
        return (long) left << 32 | (right & 0xFFFFFFFFL);
    }

    /** Open-addressing map from long keys (pairs, characters) to non-negative ints, so that merging does not box. */
    private static final class LongIntTable {
        private final long[] keys;
        private final int[] values;
        private final int mask;
        private final int shift;

        LongIntTable(int expected) {
            int capacity = Integer.highestOneBit(Math.max(4, expected * 2) - 1) << 1;
            keys = new long[capacity];
            values = new int[capacity];
            Arrays.fill(values, -1);
            mask = capacity - 1;
            shift = 64 - Integer.numberOfTrailingZeros(capacity);
        }

        /** Fibonacci hashing: the top bits of key × 2^64/φ. */
        private int slot(long key) {
            int i = (int) ((key * 0x9E3779B97F4A7C15L) >>> shift);
            while (values[i] >= 0 && keys[i] != key) {
                i = (i + 1) & mask;
            }
            return i;
        }

        void put(long key, int value) {
            int i = slot(key);
            keys[i] = key;
            values[i] = value;
        }

        int get(long key) {
            return values[slot(key)];
        }
    }

    /** A binary min-heap of longs. */
    private static final class LongHeap {
        private long[] heap;
        private int size;

        LongHeap(int capacity) {
            heap = new long[Math.max(capacity, 4)];
        }

        boolean isEmpty() {
            return size == 0;
        }

        void add(long v) {
            if (size == heap.length) {
                heap = Arrays.copyOf(heap, size * 2);
            }
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (heap[parent] <= v) {
                    break;
                }
                heap[i] = heap[parent];
                i = parent;
            }
            heap[i] = v;
        }

        long poll() {
            long top = heap[0];
            long last = heap[--size];
            int i = 0;
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) {
                    break;
                }
                if (child + 1 < size && heap[child + 1] < heap[child]) {
                    child++;
                }
                if (heap[child] >= last) {
                    break;
                }
                heap[i] = heap[child];
                i = child;
            }
            heap[i] = last;
            return top;
        }
    }
}
