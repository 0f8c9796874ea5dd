package dev.rlhf4j.model.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * SentencePiece-style BPE from Mistral's tokenizer.json (Llama 2 family), with expected ids looked up in its
 * vocabulary, and the same vocabulary built from tokenizer.model's pieces and scores.
 */
class TokSentencePieceTest {

    private static JsonNode vocab() throws IOException {
        return new ObjectMapper().readTree(TokData.require("tokenizers/mistral/tokenizer.json").toFile())
                .path("model").path("vocab");
    }

    private static int vocabId(JsonNode vocab, String piece) {
        JsonNode id = vocab.get(piece);
        if (id == null) {
            throw new AssertionError("'" + piece + "' is not in Mistral's vocabulary");
        }
        return id.asInt();
    }

    @Test
    void helloWorldIsBosAndTheTwoWordPieces() throws IOException {
        JsonNode vocab = vocab();
        Tokenizer mistral = TokData.load("tokenizers/mistral");
        int[] expected = {vocabId(vocab, "<s>"), vocabId(vocab, "\u2581Hello"), vocabId(vocab, "\u2581world")};
        assertArrayEquals(expected, mistral.encode("Hello world", true));
        assertArrayEquals(Arrays.copyOfRange(expected, 1, 3), mistral.encode("Hello world", false));
        assertEquals(1, mistral.bosId().orElseThrow());
        assertEquals(2, mistral.eosId().orElseThrow());
        assertEquals("Hello world", mistral.decode(expected, true));
        // HF's decoder (Replace, ByteFallback, Fuse, Strip one leading space) leaves the space after "<s>".
        assertEquals("<s> Hello world", mistral.decode(expected, false));
    }

    @Test
    void charactersOutsideTheVocabularyFallBackToTheirUtf8Bytes() throws IOException {
        JsonNode vocab = vocab();
        String flamingo = "\uD83E\uDDA9";
        assertFalse(vocab.has(flamingo), "precondition: the emoji is not a piece");
        Tokenizer mistral = TokData.load("tokenizers/mistral");
        // U+1F9A9 is F0 9F A6 A9 in UTF-8; the normalizer's leading ▁ stays a piece of its own.
        int[] expected = {vocabId(vocab, "\u2581"), vocabId(vocab, "<0xF0>"), vocabId(vocab, "<0x9F>"),
                vocabId(vocab, "<0xA6>"), vocabId(vocab, "<0xA9>")};
        assertArrayEquals(expected, mistral.encode(flamingo, false));
        assertEquals(flamingo, mistral.decode(expected));
    }

    @Test
    void decodeOfEncodeKeepsSpacesNewlinesAndRareCharacters() {
        Tokenizer mistral = TokData.load("tokenizers/mistral");
        for (String text : new String[] {"Hello world", "  two leading spaces", "tab\tand\nnewline\n\n",
                "\u65e5\u672c\u8a9e \uD83D\uDE00 ok", "trailing space "}) {
            assertEquals(text, mistral.decode(mistral.encode(text, true), true));
        }
    }

    @Test
    void specialTokensInTheTextAreTheirIds() {
        Tokenizer mistral = TokData.load("tokenizers/mistral");
        int[] ids = mistral.encode("hi</s>", false);
        assertEquals(2, ids[ids.length - 1]);
        assertArrayEquals(mistral.encode("hi", false), Arrays.copyOf(ids, ids.length - 1));
    }

    /**
     * tokenizer.model's pieces and scores through {@link Tokenizers#fromSentencePieceVocab} (merging the
     * highest-scoring pair, as SentencePiece and llama.cpp do) encode TinyStories exactly as the tokenizer.json
     * that transformers converted from the same file.
     */
    @Test
    void scoresFromTokenizerModelEncodeAsTheTokenizerJson() throws IOException {
        TokSentencePieceModel model = TokSentencePieceModel.read(TokData.require("tokenizers/mistral/tokenizer.model"));
        Tokenizer fromScores = Tokenizers.fromSentencePieceVocab(model.pieces(), model.scores(), model.types(), 1, 2,
                0, -1, true);
        Tokenizer fromJson = TokData.load("tokenizers/mistral");
        String text = TokData.tinyStories();
        assertEquals(32000, fromScores.vocabSize());
        assertArrayEquals(fromJson.encode(text, true), fromScores.encode(text, true));
        assertArrayEquals(fromJson.encode("\uD83D\uDE00 <s>x</s>", true),
                fromScores.encode("\uD83D\uDE00 <s>x</s>", true));
    }
}
