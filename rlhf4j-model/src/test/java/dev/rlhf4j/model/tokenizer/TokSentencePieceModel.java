package dev.rlhf4j.model.tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The pieces of a SentencePiece {@code tokenizer.model} (protobuf {@code ModelProto}, field 1: repeated
 * {@code SentencePiece {string piece = 1; float score = 2; Type type = 3 [default NORMAL];}}), read with a minimal
 * protobuf decoder so that tests can build the same vocabulary through {@link Tokenizers#fromSentencePieceVocab}.
 */
record TokSentencePieceModel(List<String> pieces, float[] scores, int[] types) {

    static TokSentencePieceModel read(Path file) throws IOException {
        ByteBuffer model = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        List<String> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        List<Integer> types = new ArrayList<>();
        while (model.hasRemaining()) {
            long key = varint(model);
            if (key >>> 3 != 1) {
                skip(model, (int) (key & 7));
                continue;
            }
            int length = (int) varint(model);
            ByteBuffer piece = model.slice(model.position(), length).order(ByteOrder.LITTLE_ENDIAN);
            model.position(model.position() + length);
            String text = "";
            float score = 0;
            int type = 1;
            while (piece.hasRemaining()) {
                long k = varint(piece);
                switch ((int) (k >>> 3)) {
                    case 1 -> {
                        byte[] bytes = new byte[(int) varint(piece)];
                        piece.get(bytes);
                        text = new String(bytes, StandardCharsets.UTF_8);
                    }
                    case 2 -> score = piece.getFloat();
                    case 3 -> type = (int) varint(piece);
                    default -> skip(piece, (int) (k & 7));
                }
            }
            pieces.add(text);
            scores.add(score);
            types.add(type);
        }
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = scores.get(i);
        }
        return new TokSentencePieceModel(pieces, s, types.stream().mapToInt(Integer::intValue).toArray());
    }

    private static long varint(ByteBuffer b) {
        long v = 0;
        for (int shift = 0; ; shift += 7) {
            byte x = b.get();
            v |= (long) (x & 0x7F) << shift;
            if (x >= 0) {
                return v;
            }
        }
    }

    private static void skip(ByteBuffer b, int wireType) {
        switch (wireType) {
            case 0 -> varint(b);
            case 1 -> b.position(b.position() + 8);
            case 2 -> {
                int length = (int) varint(b);
                b.position(b.position() + length);
            }
            case 5 -> b.position(b.position() + 4);
            default -> throw new IllegalArgumentException("protobuf wire type " + wireType);
        }
    }
}
