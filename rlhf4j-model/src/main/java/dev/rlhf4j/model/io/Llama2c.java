package dev.rlhf4j.model.io;

import dev.rlhf4j.model.OutputHeads;
import dev.rlhf4j.model.ModelConfig;
import dev.rlhf4j.model.Transformer;
import dev.rlhf4j.tensor.Rope;
import dev.rlhf4j.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.TreeSet;

/**
 * Karpathy's llama2.c checkpoints in the legacy format of {@code export.py --version 0} (what {@code run.c} reads):
 * a header of 7 little-endian int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a
 * negative vocab_size means the classifier is not shared with the embedding), then float32 arrays, each stacked over
 * layers: token_embedding_table, rms_att_weight, wq, wk, wv, wo, rms_ffn_weight, w1, w2, w3, rms_final_weight, the
 * unused freq_cis_real and freq_cis_imag tables, and wcls when unshared. Matrices are {@code [out, in]} as in PyTorch;
 * the MLP is {@code w2(silu(w1 x) * w3 x)}, so w1 is the gate and w3 the up projection.
 *
 * <p>llama2.c's RoPE pairs adjacent dimensions, so the model is built with {@link Rope.Style#INTERLEAVED}, theta
 * 10000 and RMSNorm epsilon 1e-5 (llama2.c's {@code model.py} defaults).
 */
public final class Llama2c {
    private static final ValueLayout.OfInt I32_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32_LE =
            ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int HEADER_BYTES = 7 * 4;
    /** export.py's magic "ak42" for its version 1 and 2 formats, which {@code run.c} does not read either. */
    private static final int VERSIONED_MAGIC = 0x616b3432;

    /** llama2.c's eos and bos ids: those of the Llama 2 SentencePiece vocabulary its tokenizers follow. */
    public static final int BOS_ID = 1, EOS_ID = 2;

    private Llama2c() {
    }

    /** Reads the checkpoint into an LM-head model. */
    public static Transformer read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no such llama2.c checkpoint");
        }
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            MemorySegment seg = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            if (seg.byteSize() < HEADER_BYTES) {
                throw new IOException(file + ": truncated llama2.c checkpoint: " + seg.byteSize() + " bytes, the "
                        + "header alone takes " + HEADER_BYTES);
            }
            if (seg.get(I32_LE, 0) == VERSIONED_MAGIC) {
                throw new IOException(file + ": a versioned llama2.c export (magic \"ak42\"); rlhf4j reads the legacy "
                        + "format (export.py --version 0)");
            }
            int[] h = new int[7];
            for (int i = 0; i < 7; i++) {
                h[i] = seg.get(I32_LE, 4L * i);
            }
            int dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kvHeads = h[4], seqLen = h[6];
            boolean shared = h[5] > 0;
            int vocab = Math.abs(h[5]);
            ModelConfig c;
            try {
                c = ModelConfig.llama(vocab, dim, layers, heads, kvHeads, hidden, seqLen, 1e-5f, 10000.0,
                        Rope.Style.INTERLEAVED, shared, false);
            } catch (IllegalArgumentException e) {
                throw new IOException(file + ": header [dim " + dim + ", hidden_dim " + hidden + ", n_layers " + layers
                        + ", n_heads " + heads + ", n_kv_heads " + kvHeads + ", vocab_size " + h[5] + ", seq_len "
                        + seqLen + "] is not a valid model (" + e.getMessage() + ")");
            }
            long expected = HEADER_BYTES + 4 * floats(c);
            if (seg.byteSize() != expected) {
                throw new IOException(file + ": " + (seg.byteSize() < expected ? "truncated: " : "") + "expected "
                        + expected + " bytes for its header's sizes, found " + seg.byteSize());
            }
            Transformer model = new Transformer(c, OutputHeads.LM);
            new Reader(file, seg, model).readAll();
            return model;
        }
    }

    /**
     * Reads the checkpoint and looks for its tokenizer beside it: {@code tokenizer.bin}, else the first
     * {@code tok*.bin} by name (llama2.c's {@code tok512.bin} and the like).
     */
    public static LoadedModel load(Path file) throws IOException {
        Transformer model = read(file);
        return new LoadedModel(model, "llama2c", "llama", file, OptionalInt.of(BOS_ID), List.of(EOS_ID),
                OptionalInt.empty(), siblingTokenizer(file), Optional.empty(), Optional.empty());
    }

    static Optional<Path> siblingTokenizer(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        if (Files.isRegularFile(dir.resolve("tokenizer.bin"))) {
            return Optional.of(dir.resolve("tokenizer.bin"));
        }
        TreeSet<Path> candidates = new TreeSet<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "tok*.bin")) {
            ds.forEach(candidates::add);
        }
        candidates.remove(file.toAbsolutePath());
        return candidates.isEmpty() ? Optional.empty() : Optional.of(candidates.first());
    }

    /** Number of float32 values after the header, as run.c's memory_map_weights walks them. */
    private static long floats(ModelConfig c) {
        long d = c.dim(), l = c.layers(), f = c.hiddenDim(), kv = (long) c.kvHeads() * c.headDim();
        long n = c.vocabSize() * d            // token_embedding_table
                + l * d                       // rms_att_weight
                + l * d * d + 2 * l * kv * d  // wq, wk, wv
                + l * d * d                   // wo
                + l * d                       // rms_ffn_weight
                + 3 * l * f * d               // w1, w2, w3
                + d                           // rms_final_weight
                + (long) c.maxSeqLen() * c.headDim(); // freq_cis_real and freq_cis_imag, seq_len * head_size / 2 each
        return c.tiedEmbeddings() ? n : n + c.vocabSize() * d;
    }

    /**
     * Walks the arrays in file order, copying each layer's slice into its parameter rows and refusing NaN or
     * infinite weights under llama2.c's array names.
     */
    private static final class Reader {
        private final Path file;
        private final MemorySegment seg;
        private final Transformer model;
        private long at = HEADER_BYTES;

        Reader(Path file, MemorySegment seg, Transformer model) {
            this.file = file;
            this.seg = seg;
            this.model = model;
        }

        void readAll() throws IOException {
            ModelConfig c = model.config();
            int d = c.dim(), f = c.hiddenDim(), kv = c.kvHeads() * c.headDim();
            next("wte", "token_embedding_table");
            perLayer("ln1.weight", "rms_att_weight");
            perLayer("attn.qkv.weight", 0, d, "wq");
            perLayer("attn.qkv.weight", d, kv, "wk");
            perLayer("attn.qkv.weight", d + kv, kv, "wv");
            perLayer("attn.proj.weight", "wo");
            perLayer("ln2.weight", "rms_ffn_weight");
            perLayer("mlp.fc.weight", 0, f, "w1");    // gate
            perLayer("mlp.proj.weight", "w2");        // down
            perLayer("mlp.fc.weight", f, f, "w3");    // up
            next("ln_f.weight", "rms_final_weight");
            at += 4L * c.maxSeqLen() * c.headDim();   // freq_cis_real, freq_cis_imag
            if (!c.tiedEmbeddings()) {
                next("lm_head.weight", "wcls");
            }
        }

        private void perLayer(String suffix, String array) throws IOException {
            for (int l = 0; l < model.config().layers(); l++) {
                Tensor t = model.params().get("h." + l + "." + suffix);
                copy(t, 0, t.dim(0), array, l);
            }
        }

        private void perLayer(String suffix, int row0, int rows, String array) throws IOException {
            for (int l = 0; l < model.config().layers(); l++) {
                copy(model.params().get("h." + l + "." + suffix), row0, rows, array, l);
            }
        }

        private void next(String name, String array) throws IOException {
            Tensor t = model.params().get(name);
            copy(t, 0, t.dim(0), array, -1);
        }

        /** Copies the next {@code rows} rows of {@code array} (of {@code layer}, or -1) into {@code t}'s rows. */
        private void copy(Tensor t, int row0, int rows, String array, int layer) throws IOException {
            int cols = t.rank() == 2 ? t.dim(1) : 1;
            int n = rows * cols;
            int offset = t.offset() + row0 * cols;
            MemorySegment.copy(seg, F32_LE, at, t.data(), offset, n);
            if (Tensor.firstNonFinite(t.data(), offset, n) >= 0) {
                FiniteWeights.require(t.data(), offset, n, t.rank() == 2 ? new int[] {rows, cols} : new int[] {rows},
                        file, layer < 0 ? array : array + " of layer " + layer);
            }
            at += 4L * n;
        }
    }
}
