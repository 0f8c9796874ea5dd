package dev.rlhf4j.cli;

import dev.rlhf4j.model.tokenizer.Tokenizer;
import dev.rlhf4j.tensor.UserError;

import java.nio.file.Path;
import java.util.Map;
import java.util.OptionalInt;

/**
 * The benchmarks' tokenizer for models with random weights and no vocabulary: a text is its token ids written in
 * decimal, separated by spaces. It adds no special tokens and has none.
 */
final class IdTokenizer implements Tokenizer {
    private final int vocab;

    IdTokenizer(int vocab) {
        this.vocab = vocab;
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        String t = text.strip();
        if (t.isEmpty()) {
            return new int[0];
        }
        String[] parts = t.split("\\s+");
        int[] ids = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            ids[i] = Integer.parseInt(parts[i]);
            if (ids[i] < 0 || ids[i] >= vocab) {
                throw new UserError("id " + ids[i] + " is outside the vocabulary of " + vocab);
            }
        }
        return ids;
    }

    @Override
    public String decode(int[] ids, boolean skipSpecialTokens) {
        StringBuilder b = new StringBuilder();
        for (int id : ids) {
            b.append(' ').append(id);
        }
        return b.toString();
    }

    @Override
    public int vocabSize() {
        return vocab;
    }

    @Override
    public String token(int id) {
        return Integer.toString(id);
    }

    @Override
    public OptionalInt id(String token) {
        try {
            int id = Integer.parseInt(token);
            return id >= 0 && id < vocab ? OptionalInt.of(id) : OptionalInt.empty();
        } catch (NumberFormatException e) {
            return OptionalInt.empty();
        }
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
        return "token ids as decimal numbers, " + vocab + " ids";
    }

    @Override
    public void save(Path dir) {
        throw new UnsupportedOperationException("the benchmark tokenizer is not saved");
    }
}
