package dev.rlhf4j.model.io;

import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.KvCacheDecoder;
import dev.rlhf4j.model.TokenBatch;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.model.WeightDtype;
import dev.rlhf4j.tensor.Q8Matrix;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;
import dev.rlhf4j.tensor.SharedData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

import static dev.rlhf4j.model.io.CkptSafetensorsTest.assertOneLine;
import static dev.rlhf4j.tensor.Close.assertClose;
import static dev.rlhf4j.model.io.GgufWriter.ARRAY;
import static dev.rlhf4j.model.io.GgufWriter.BOOL;
import static dev.rlhf4j.model.io.GgufWriter.F32;
import static dev.rlhf4j.model.io.GgufWriter.F64;
import static dev.rlhf4j.model.io.GgufWriter.I16;
import static dev.rlhf4j.model.io.GgufWriter.I32;
import static dev.rlhf4j.model.io.GgufWriter.I64;
import static dev.rlhf4j.model.io.GgufWriter.I8;
import static dev.rlhf4j.model.io.GgufWriter.STRING;
import static dev.rlhf4j.model.io.GgufWriter.U16;
import static dev.rlhf4j.model.io.GgufWriter.U32;
import static dev.rlhf4j.model.io.GgufWriter.U64;
import static dev.rlhf4j.model.io.GgufWriter.U8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CkptGgufTest {
    @TempDir
    Path tmp;

    // ------------------------------------------------------------------ the real file

    @Test
    void tinyRandomLlamaLoadsWithItsShapesAndRuns() throws IOException {
        Path file = SharedData.require("models/gguf-llama-2-tiny-random/llama-2-tiny-random.gguf");
        try (Gguf g = Gguf.open(file)) {
            assertEquals(3, g.version());
            assertEquals("llama", g.metadata().get("general.architecture"));
            assertEquals(Gguf.TensorType.F16, g.info("blk.0.attn_q.weight").type());
            assertArrayEquals(new long[] {8, 32000}, g.info("token_embd.weight").dims());
            assertArrayEquals(new int[] {32000, 8}, g.info("token_embd.weight").shape());
        }
        LoadedModel loaded = Gguf.load(file);
        Transformer m = loaded.model();
        assertEquals(new ModelConfig(ModelConfig.Family.LLAMA, 32000, 8, 1, 2, 2, 32, 4096, 9.999999747378752e-06f,
                10000.0, Rope.Style.INTERLEAVED, false, false, null), m.config());
        assertEquals(OutputHeads.LM, m.heads());
        assertEquals("gguf", loaded.format());
        assertEquals("llama", loaded.modelType());
        int[] tokens = {1, 15043, 29892, 3186, 29991};
        for (float v : TestModels.logits(m, tokens)) {
            assertTrue(Float.isFinite(v));
        }
        TestModels.assertMatchesPyTorch("gguf-tiny", m, 1e-5);
    }

    @Test
    void tinyRandomLlamaExposesItsSentencePieceVocabulary() throws IOException {
        LoadedModel loaded = Gguf.load(SharedData.require("models/gguf-llama-2-tiny-random/llama-2-tiny-random.gguf"));
        GgufTokenizerSpec tok = loaded.ggufTokenizer().orElseThrow();
        assertEquals("llama", tok.model());
        assertEquals(32000, tok.tokens().size());
        assertEquals("<s>", tok.tokens().get(1));
        assertEquals("▁Hello", tok.tokens().get(15043));
        assertEquals(32000, tok.scores().length);
        assertArrayEquals(new int[] {2, 3, 3, 6}, Arrays.copyOf(tok.tokenTypes(), 4));
        assertEquals(List.of(), tok.merges());
        assertEquals(1, tok.bosId());
        assertEquals(2, tok.eosId());
        assertEquals(0, tok.unkId());
        assertEquals(-1, tok.padId());
        assertTrue(tok.addBos(), "a SentencePiece vocabulary without add_bos_token adds BOS");
        assertEquals(OptionalInt.of(1), loaded.bosId());
        assertEquals(List.of(2), loaded.eosIds());
    }

    // ------------------------------------------------------------------ the format, on files written here

    @ParameterizedTest
    @ValueSource(ints = {2, 3})
    void metadataOfEveryValueType(int version) throws IOException {
        GgufWriter w = new GgufWriter()
                .kv("u8", U8, 200).kv("i8", I8, -5).kv("u16", U16, 60000).kv("i16", I16, -300)
                .kv("u32", U32, 0xFFFFFFFF).kv("i32", I32, -7).kv("f32", F32, 1.5f).kv("bool", BOOL, true)
                .kv("str", STRING, "héllo").kv("u64", U64, 1L << 40).kv("i64", I64, -(1L << 40))
                .kv("f64", F64, 0.1)
                .kv("ints", ARRAY, new GgufWriter.Arr(I32, List.of(1, -2, 3)))
                .kv("u32s", ARRAY, new GgufWriter.Arr(U32, List.of(1, 0xFFFFFFFF)))
                .kv("floats", ARRAY, new GgufWriter.Arr(F32, List.of(0.5f, -1f)))
                .kv("doubles", ARRAY, new GgufWriter.Arr(F64, List.of(2.5)))
                .kv("bools", ARRAY, new GgufWriter.Arr(BOOL, List.of(true, false)))
                .kv("strings", ARRAY, new GgufWriter.Arr(STRING, List.of("a", "b c")))
                .kv("nested", ARRAY, new GgufWriter.Arr(ARRAY, List.of(new GgufWriter.Arr(U8, List.of(7)))));
        Path file = write(w, version, 32);
        try (Gguf g = Gguf.open(file)) {
            Map<String, Object> m = g.metadata();
            assertEquals(version, g.version());
            assertEquals(200, m.get("u8"));
            assertEquals(-5, m.get("i8"));
            assertEquals(60000, m.get("u16"));
            assertEquals(-300, m.get("i16"));
            assertEquals(0xFFFFFFFFL, m.get("u32"));
            assertEquals(-7, m.get("i32"));
            assertEquals(1.5f, m.get("f32"));
            assertEquals(true, m.get("bool"));
            assertEquals("héllo", m.get("str"));
            assertEquals(1L << 40, m.get("u64"));
            assertEquals(-(1L << 40), m.get("i64"));
            assertEquals(0.1, m.get("f64"));
            assertArrayEquals(new int[] {1, -2, 3}, (int[]) m.get("ints"));
            assertArrayEquals(new long[] {1, 0xFFFFFFFFL}, (long[]) m.get("u32s"));
            assertArrayEquals(new float[] {0.5f, -1f}, (float[]) m.get("floats"));
            assertArrayEquals(new double[] {2.5}, (double[]) m.get("doubles"));
            assertArrayEquals(new boolean[] {true, false}, (boolean[]) m.get("bools"));
            assertEquals(List.of("a", "b c"), m.get("strings"));
            assertArrayEquals(new int[] {7}, (int[]) ((List<?>) m.get("nested")).getFirst());
            assertEquals(List.copyOf(m.keySet()).subList(0, 3), List.of("u8", "i8", "u16"), "file order");
        }
    }

    /**
     * Each tensor type against values worked out from ggml's block layouts: Q8_0 is an f16 scale and 32 int8, Q4_0 an
     * f16 scale and 16 bytes holding elements j (low nibble) and j + 16 (high nibble), each nibble offset by 8.
     */
    @Test
    void tensorTypesDequantiseWithACustomAlignment() throws IOException {
        float[] plain = {1.5f, -2.25f, 3e-3f, 65504f};
        ByteBuffer f32 = le(16), f16 = le(8), bf16 = le(8);
        for (float v : plain) {
            f32.putFloat(v);
            f16.putShort(Float.floatToFloat16(v));
            bf16.putShort((short) (Float.floatToRawIntBits(v) >>> 16));
        }
        ByteBuffer q8 = le(2 * 34), q4 = le(2 * 18);
        float[] q8Expected = new float[64], q4Expected = new float[64];
        for (int b = 0; b < 2; b++) {
            float d = b == 0 ? 0.5f : 0.25f;
            q8.putShort(Float.floatToFloat16(d));
            q4.putShort(Float.floatToFloat16(d));
            for (int j = 0; j < 32; j++) {
                q8.put((byte) (j - 16 + b));
                q8Expected[32 * b + j] = d * (j - 16 + b);
            }
            for (int j = 0; j < 16; j++) {
                int lo = j, hi = (15 - j + b) & 15;
                q4.put((byte) (lo | hi << 4));
                q4Expected[32 * b + j] = (lo - 8) * d;
                q4Expected[32 * b + j + 16] = (hi - 8) * d;
            }
        }
        GgufWriter w = new GgufWriter().kv("general.alignment", U32, 64)
                .tensor("f32", new long[] {4}, 0, f32.array())
                .tensor("f16", new long[] {2, 2}, 1, f16.array())
                .tensor("bf16", new long[] {4}, 30, bf16.array())
                .tensor("q8", new long[] {32, 2}, 8, q8.array())
                .tensor("q4", new long[] {32, 2}, 2, q4.array());
        try (Gguf g = Gguf.open(write(w, 3, 64))) {
            assertArrayEquals(plain, g.read("f32"));
            assertArrayEquals(new int[] {2, 2}, g.info("f16").shape());
            for (int i = 0; i < 4; i++) {
                assertEquals(Float.float16ToFloat(Float.floatToFloat16(plain[i])), g.read("f16")[i]);
                assertEquals(Float.intBitsToFloat(Float.floatToRawIntBits(plain[i]) & 0xFFFF0000), g.read("bf16")[i]);
            }
            assertArrayEquals(q8Expected, g.read("q8"));
            assertArrayEquals(q4Expected, g.read("q4"));
            assertEquals(0, g.info("q8").start() % 64);
        }
    }

    /**
     * K-quants against their logical content: Q4_K holds eight sub-blocks of 32 with a 6-bit scale and min each,
     * {@code x = d·scale·q − dmin·min}; Q6_K sixteen sub-blocks of 16 with an int8 scale,
     * {@code x = d·scale·(q − 32)}.
     * The blocks are packed here the way ggml's quantize_row_q4_K_ref and quantize_row_q6_K_ref lay them out.
     */
    @Test
    void kQuantsDequantiseToTheirLogicalValues() throws IOException {
        float d = 0.25f, dmin = 0.125f;
        int[] scale = new int[8], min = new int[8], q4 = new int[256];
        byte[] scales = new byte[12], nibbles = new byte[128];
        for (int k = 0; k < 8; k++) {
            scale[k] = 10 + 7 * k; // past 15 from k = 1 on, so the packed top bits matter
            min[k] = 63 - 5 * k;
            if (k < 4) {
                scales[k] = (byte) scale[k];
                scales[k + 4] = (byte) min[k];
            } else {
                scales[k + 4] = (byte) ((scale[k] & 0xF) | (min[k] & 0xF) << 4);
                scales[k - 4] |= (byte) ((scale[k] >> 4) << 6);
                scales[k] |= (byte) ((min[k] >> 4) << 6);
            }
        }
        float[] q4Expected = new float[256];
        for (int e = 0; e < 256; e++) {
            q4[e] = (5 * e + 1) % 16;
            int j = e / 64, high = e % 64 / 32, l = e % 32;
            nibbles[32 * j + l] |= (byte) (q4[e] << (4 * high));
            q4Expected[e] = d * scale[e / 32] * q4[e] - dmin * min[e / 32];
        }
        ByteBuffer q4k = le(144).putShort(Float.floatToFloat16(d)).putShort(Float.floatToFloat16(dmin))
                .put(scales).put(nibbles);

        float d6 = 0.5f;
        byte[] ql = new byte[128], qh = new byte[64], sc6 = new byte[16];
        for (int g = 0; g < 16; g++) {
            sc6[g] = (byte) (9 * g - 70);
        }
        float[] q6Expected = new float[256];
        for (int e = 0; e < 256; e++) {
            int q = (7 * e + 3) % 64;
            int h = e / 128, k = e % 128 / 32, l = e % 32;
            ql[64 * h + l + (k % 2) * 32] |= (byte) ((q & 0xF) << (k / 2 * 4));
            qh[32 * h + l] |= (byte) ((q >> 4) << (2 * k));
            q6Expected[e] = d6 * sc6[e / 16] * (q - 32);
        }
        ByteBuffer q6k = le(210).put(ql).put(qh).put(sc6).putShort(Float.floatToFloat16(d6));

        GgufWriter w = new GgufWriter().tensor("q4k", new long[] {256}, 12, q4k.array())
                .tensor("q6k", new long[] {256}, 14, q6k.array());
        try (Gguf g = Gguf.open(write(w, 3, 32))) {
            assertArrayEquals(q4Expected, g.read("q4k"));
            assertArrayEquals(q6Expected, g.read("q6k"));
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void llamaTensorsLandInTheirParameters(boolean tied) throws IOException {
        Transformer m = TestModels.random(TestModels.llama(2, tied, false, Rope.Style.INTERLEAVED), OutputHeads.LM, 3);
        Path file = write(llamaGguf(m), 3, 32);
        LoadedModel loaded = Gguf.load(file);
        TestModels.assertSameParameters(m, loaded.model());
        assertTrue(loaded.ggufTokenizer().isEmpty());
    }

    /**
     * A Q8_0 file (written with {@link Q8Matrix}'s GGUF blocks) loads kept quantised as a packed model whose logits,
     * from the forward and from the decoder, equal those of the same file dequantised to float32 up to float32
     * reordering (10⁻⁴ of the largest logit, see PackedModelTest); a matrix in another type is named.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void q8FileKeptQuantisedMatchesItsDequantisedModel(boolean tied) throws IOException {
        Transformer m = Transformer.create(ModelConfig.llama(61, 32, 2, 4, 2, 64, 24, 1e-5f, 10000.0,
                Rope.Style.INTERLEAVED, tied, false), OutputHeads.LM, 3);
        Path file = write(llamaGguf(m, true), 3, 32);
        Transformer dequantised = Gguf.load(file).model();
        Transformer kept = Gguf.load(file, true).model();
        assertFalse(dequantised.isPacked());
        assertEquals(WeightDtype.Q8_0, kept.weightDtype());
        int[] tokens = new int[12];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = (i * 17 + 5) % 61;
        }
        TokenBatch b = TokenBatch.of(tokens, null, 1, tokens.length);
        dequantised.forward(b);
        float[] want = dequantised.logits().toArray();
        kept.forward(b);
        float[] got = kept.logits().toArray();
        double scale = 0;
        for (float v : want) {
            scale = Math.max(scale, Math.abs(v));
        }
        assertClose("q8_0 kept vs dequantised", want, got, 1e-4 * scale, 0);
        KvCacheDecoder dec = new KvCacheDecoder(kept, 1, tokens.length);
        float[] stepped = dec.stepAllPositions(tokens, null, tokens.length).toArray();
        assertClose("q8_0 decoder vs dequantised", want, stepped, 1e-4 * scale, 0);

        Path f32 = write(llamaGguf(m, false), 3, 32);
        IOException e = assertThrows(IOException.class, () -> Gguf.load(f32, true));
        String first = tied ? "token_embd.weight" : "blk.0.attn_q.weight";
        assertEquals(f32 + ": tensor '" + first + "' is F32; keeping Q8_0 weights quantised needs every matrix in "
                + "Q8_0", e.getMessage());
    }

    // ------------------------------------------------------------------ corrupt files

    @Test
    void badMagicAndVersionsAreRefused() throws IOException {
        byte[] good = new GgufWriter().kv("a", U8, 1).bytes(3, 32);
        byte[] magic = good.clone();
        magic[0] = 'X';
        assertOneLine(openFails(magic, "magic.gguf"), "magic.gguf", "not a GGUF file");
        assertOneLine(openFails(new GgufWriter().bytes(1, 32), "v1.gguf"), "v1.gguf", "version 1");
        assertOneLine(openFails(new GgufWriter().bytes(4, 32), "v4.gguf"), "v4.gguf", "unknown GGUF version 4");
        byte[] cut = Arrays.copyOf(good, 37); // inside the value of "a"
        assertOneLine(openFails(cut, "cut.gguf"), "cut.gguf", "truncated", "metadata 'a'");
    }

    @Test
    void tensorDataPastTheEndIsRefused() throws IOException {
        byte[] good = new GgufWriter().f32("w", new float[] {1, 2, 3, 4}, 2, 2).bytes(3, 32);
        assertOneLine(openFails(Arrays.copyOf(good, good.length - 4), "short.gguf"), "short.gguf", "'w'",
                "past the end");
    }

    @Test
    void tensorTypesThatAreNotReadAreNamed() throws IOException {
        assertOneLine(openFails(new GgufWriter().tensor("w", new long[] {256}, 13, new byte[176]).bytes(3, 32),
                "k.gguf"), "k.gguf", "'w'", "ggml type 13 (Q5_K)");
        assertOneLine(openFails(new GgufWriter().tensor("w", new long[] {4}, 99, new byte[16]).bytes(3, 32),
                "x.gguf"), "x.gguf", "'w'", "ggml type 99 (unknown)");
    }

    @Test
    void otherArchitecturesAndMissingTensorsAreNamed() throws IOException {
        Path qwen = write(new GgufWriter().kv("general.architecture", STRING, "qwen2"), 3, 32);
        assertOneLine(assertThrows(IOException.class, () -> Gguf.load(qwen)), qwen.toString(), "'qwen2'");
        Transformer m = TestModels.random(TestModels.llama(2, false, false, Rope.Style.INTERLEAVED), OutputHeads.LM, 3);
        GgufWriter w = llamaGguf(m).f32("blk.0.attn_q.bias", new float[24], 24);
        Path extra = write(w, 3, 32);
        assertOneLine(assertThrows(IOException.class, () -> Gguf.load(extra)), extra.toString(), "blk.0.attn_q.bias");
    }

    @Test
    void headCountsAreNamedBeforeRopeIsBlamed() throws IOException {
        Transformer m = TestModels.random(TestModels.llama(2, true, false, Rope.Style.INTERLEAVED), OutputHeads.LM, 3);
        // later keys replace earlier ones, as in a file whose converter wrote a bad value
        Path zero = write(llamaGguf(m).kv("llama.rope.dimension_count", U32, 6)
                .kv("llama.attention.head_count", U32, 0), 3, 32);
        assertEquals(zero + ": llama.attention.head_count is 0; a model needs at least one attention head",
                assertThrows(IOException.class, () -> Gguf.load(zero)).getMessage());
        Path seven = write(llamaGguf(m).kv("llama.rope.dimension_count", U32, 6)
                .kv("llama.embedding_length", U32, 7), 3, 32);
        assertEquals(seven + ": llama.embedding_length 7 is not divisible by llama.attention.head_count 4 (each "
                + "head takes embedding_length / head_count dimensions)",
                assertThrows(IOException.class, () -> Gguf.load(seven)).getMessage());
        Path kv = write(llamaGguf(m).kv("llama.attention.head_count_kv", U32, 3), 3, 32);
        assertTrue(assertThrows(IOException.class, () -> Gguf.load(kv)).getMessage().startsWith(kv
                + ": llama.attention.head_count_kv 3 does not divide llama.attention.head_count 4"));
    }

    @Test
    void aNanWeightIsRefusedNamingTheGgufTensor() throws IOException {
        Transformer m = TestModels.random(TestModels.llama(2, true, false, Rope.Style.INTERLEAVED), OutputHeads.LM, 3);
        Tensor proj = m.params().get("h.1.attn.proj.weight");
        proj.data()[proj.offset() + 5 * proj.dim(1) + 3] = Float.NaN;
        Path file = write(llamaGguf(m), 3, 32);
        IOException e = assertThrows(IOException.class, () -> Gguf.load(file));
        assertTrue(e.getMessage().startsWith(file + ": tensor 'blk.1.attn_output.weight' [24, 24] holds NaN at "
                + "[5, 3] (element 123 of 576)"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    // ------------------------------------------------------------------ helpers

    /** A GGUF file of {@code m} as llama.cpp's converter lays it out, in F32. */
    private static GgufWriter llamaGguf(Transformer m) {
        return llamaGguf(m, false);
    }

    /** As {@link #llamaGguf(Transformer)}, with the matrices in Q8_0 when {@code q8} (the norms stay F32). */
    private static GgufWriter llamaGguf(Transformer m, boolean q8) {
        ModelConfig c = m.config();
        int d = c.dim(), f = c.hiddenDim(), q = c.heads() * c.headDim(), kv = c.kvHeads() * c.headDim();
        GgufWriter w = new GgufWriter().kv("general.architecture", STRING, "llama")
                .kv("llama.embedding_length", U32, d).kv("llama.block_count", U32, c.layers())
                .kv("llama.attention.head_count", U32, c.heads()).kv("llama.attention.head_count_kv", U32, c.kvHeads())
                .kv("llama.feed_forward_length", U32, f).kv("llama.context_length", U32, c.maxSeqLen())
                .kv("llama.attention.layer_norm_rms_epsilon", F32, c.normEps())
                .kv("llama.rope.freq_base", F32, (float) c.ropeTheta());
        matrix(w, q8, "token_embd.weight", p(m, "wte", 0, c.vocabSize()), c.vocabSize(), d);
        for (int i = 0; i < c.layers(); i++) {
            String b = "blk." + i + ".", h = "h." + i + ".";
            w.f32(b + "attn_norm.weight", p(m, h + "ln1.weight", 0, d), d);
            matrix(w, q8, b + "attn_q.weight", p(m, h + "attn.qkv.weight", 0, q), q, d);
            matrix(w, q8, b + "attn_k.weight", p(m, h + "attn.qkv.weight", q, kv), kv, d);
            matrix(w, q8, b + "attn_v.weight", p(m, h + "attn.qkv.weight", q + kv, kv), kv, d);
            matrix(w, q8, b + "attn_output.weight", p(m, h + "attn.proj.weight", 0, d), d, q);
            w.f32(b + "ffn_norm.weight", p(m, h + "ln2.weight", 0, d), d);
            matrix(w, q8, b + "ffn_gate.weight", p(m, h + "mlp.fc.weight", 0, f), f, d);
            matrix(w, q8, b + "ffn_up.weight", p(m, h + "mlp.fc.weight", f, f), f, d);
            matrix(w, q8, b + "ffn_down.weight", p(m, h + "mlp.proj.weight", 0, d), d, f);
        }
        w.f32("output_norm.weight", p(m, "ln_f.weight", 0, d), d);
        if (!c.tiedEmbeddings()) {
            matrix(w, q8, "output.weight", p(m, "lm_head.weight", 0, c.vocabSize()), c.vocabSize(), d);
        }
        return w;
    }

    /** A matrix tensor, F32 or (when {@code q8}) Q8_0 blocks as ggml lays them out. */
    private static void matrix(GgufWriter w, boolean q8, String name, float[] values, int rows, int cols) {
        if (!q8) {
            w.f32(name, values, rows, cols);
            return;
        }
        byte[] blocks = Q8Matrix.quantize(Tensor.of(values, rows, cols)).toGgufBlocks();
        w.tensor(name, new long[] {cols, rows}, 8, blocks);
    }

    /** Rows {@code [row0, row0 + rows)} of a parameter. */
    private static float[] p(Transformer m, String name, int row0, int rows) {
        Tensor t = m.params().get(name);
        int cols = t.rank() == 2 ? t.dim(1) : 1;
        return Arrays.copyOfRange(t.data(), t.offset() + row0 * cols, t.offset() + (row0 + rows) * cols);
    }

    private Path write(GgufWriter w, int version, int alignment) throws IOException {
        Path file = Files.createTempFile(tmp, "model", ".gguf");
        Files.write(file, w.bytes(version, alignment));
        return file;
    }

    private IOException openFails(byte[] bytes, String name) throws IOException {
        Path file = tmp.resolve(name);
        Files.write(file, bytes);
        IOException e = assertThrows(IOException.class, () -> Gguf.open(file).close());
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        return e;
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }
}
