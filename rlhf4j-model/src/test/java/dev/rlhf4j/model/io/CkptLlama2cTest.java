package dev.rlhf4j.model.io;

import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static dev.rlhf4j.model.io.CkptSafetensorsTest.assertOneLine;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CkptLlama2cTest {
    @TempDir
    Path tmp;

    @Test
    void stories260KLoadsWithItsHeaderSizes() throws IOException {
        Transformer m = Llama2c.read(SharedData.require("models/stories260K/stories260K.bin"));
        assertEquals(ModelConfig.llama(512, 64, 5, 8, 4, 172, 512, 1e-5f, 10000.0, Rope.Style.INTERLEAVED, true, false),
                m.config());
        TestModels.assertMatchesPyTorch("stories260K", m, 1e-4);
    }

    /** Greedy decoding of llama2.c's story model after "Once" continues the way its stories begin. */
    @Test
    void stories260KContinuesOnceWithUpon() throws IOException {
        Path dir = SharedData.require("models/stories260K");
        List<String> pieces = pieces(dir.resolve("tok512.bin"));
        int once = pieces.indexOf(" Once"); // llama2.c's tokenizer.bin stores SentencePiece's ▁ as a space
        assertTrue(once > 0, "tok512.bin has a piece for \" Once\"");
        Transformer m = Llama2c.read(dir.resolve("stories260K.bin"));
        int[] tokens = {Llama2c.BOS_ID, once};
        float[] logits = TestModels.logits(m, tokens);
        float[] last = Arrays.copyOfRange(logits, 512, 1024);
        for (float v : last) {
            assertTrue(Float.isFinite(v));
        }
        int next = argmax(last);
        assertEquals(next, argmax(Arrays.copyOfRange(TestModels.logits(m, tokens), 512, 1024)), "stable");
        assertEquals(" upon", pieces.get(next));
    }

    /** Every array lands where run.c reads it: a file whose floats count up 0, 1, 2, ... shows each offset. */
    @Test
    void everyArrayLandsInItsParameter() throws IOException {
        int dim = 8, hidden = 12, layers = 2, heads = 4, kvHeads = 2, vocab = 10, seq = 6;
        int kv = dim * kvHeads / heads, hs = dim / heads;
        int[] sizes = {vocab * dim, layers * dim, layers * dim * dim, layers * kv * dim, layers * kv * dim,
                layers * dim * dim, layers * dim, layers * hidden * dim, layers * dim * hidden, layers * hidden * dim,
                dim, seq * hs / 2, seq * hs / 2, vocab * dim};
        int[] start = new int[sizes.length]; // first float of each array, in file order
        for (int i = 1; i < sizes.length; i++) {
            start[i] = start[i - 1] + sizes[i - 1];
        }
        int total = start[sizes.length - 1] + sizes[sizes.length - 1];
        Path file = tmp.resolve("count.bin");
        Files.write(file, checkpoint(new int[] {dim, hidden, layers, heads, kvHeads, -vocab, seq}, total));

        Transformer m = Llama2c.read(file);
        assertEquals(hidden, m.config().hiddenDim());
        assertFalse(m.config().tiedEmbeddings(), "negative vocab_size: separate classifier");
        Tensor qkv = m.params().get("h.1.attn.qkv.weight"), fc = m.params().get("h.1.mlp.fc.weight");
        assertEquals(start[0] + 3 * dim + 5, m.params().get("wte").get(3, 5));
        assertEquals(start[1] + dim + 2, m.params().get("h.1.ln1.weight").get(2));
        assertEquals(start[2] + dim * dim + 7 * dim + 1, qkv.get(7, 1));                      // wq[1][7][1]
        assertEquals(start[3] + kv * dim + 3 * dim + 4, qkv.get(dim + 3, 4));                 // wk[1][3][4]
        assertEquals(start[4] + kv * dim, qkv.get(dim + kv, 0));                              // wv[1][0][0]
        assertEquals(start[5] + dim * dim + 6, m.params().get("h.1.attn.proj.weight").get(0, 6));
        assertEquals(start[6] + dim, m.params().get("h.1.ln2.weight").get(0));
        assertEquals(start[7] + hidden * dim + 11 * dim + 7, fc.get(11, 7));                  // w1 (gate)
        assertEquals(start[8] + dim * hidden + 2 * hidden + 9, m.params().get("h.1.mlp.proj.weight").get(2, 9));
        assertEquals(start[9] + hidden * dim, fc.get(hidden, 0));                             // w3 (up)
        assertEquals(start[10] + 7, m.params().get("ln_f.weight").get(7));
        assertEquals(start[13] + 9 * dim + 3, m.params().get("lm_head.weight").get(9, 3));
    }

    @Test
    void truncatedFileNamesExpectedAndActualSize() throws IOException {
        Path file = tmp.resolve("cut.bin");
        int[] header = {8, 12, 1, 2, 2, 10, 6};
        Files.write(file, checkpoint(header, 100));
        long expected = 28 + 4L * (10 * 8 + 8 + 64 + 2 * 64 + 64 + 8 + 3 * 96 + 8 + 6 * 4);
        assertOneLine(assertThrows(IOException.class, () -> Llama2c.read(file)), file.toString(), "truncated",
                "expected " + expected + " bytes", "found " + (28 + 400));
    }

    @Test
    void impossibleHeaderAndVersionedExportAreRefused() throws IOException {
        Path bad = tmp.resolve("bad.bin");
        Files.write(bad, checkpoint(new int[] {10, 12, 1, 3, 3, 10, 6}, 0));
        assertOneLine(assertThrows(IOException.class, () -> Llama2c.read(bad)), bad.toString(), "dim 10",
                "not divisible by heads 3");
        Path v1 = tmp.resolve("v1.bin");
        Files.write(v1, checkpoint(new int[] {0x616b3432, 1, 8, 12, 1, 2, 2}, 0));
        assertOneLine(assertThrows(IOException.class, () -> Llama2c.read(v1)), v1.toString(), "ak42");
    }

    // ------------------------------------------------------------------ helpers

    /** A header then {@code floats} values counting 0, 1, 2, ... */
    private static byte[] checkpoint(int[] header, int floats) {
        ByteBuffer b = ByteBuffer.allocate(4 * header.length + 4 * floats).order(ByteOrder.LITTLE_ENDIAN);
        for (int h : header) {
            b.putInt(h);
        }
        for (int i = 0; i < floats; i++) {
            b.putFloat(i);
        }
        return b.array();
    }

    /** The pieces of a llama2.c tokenizer.bin: max_token_length, then (score, length, bytes) per token. */
    static List<String> pieces(Path tokenizerBin) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(tokenizerBin)).order(ByteOrder.LITTLE_ENDIAN);
        b.getInt();
        List<String> out = new ArrayList<>();
        while (b.hasRemaining()) {
            b.getFloat();
            byte[] piece = new byte[b.getInt()];
            b.get(piece);
            out.add(new String(piece, StandardCharsets.UTF_8));
        }
        return out;
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            best = v[i] > v[best] ? i : best;
        }
        return best;
    }
}
