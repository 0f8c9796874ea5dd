package dev.rlhf4j.model;

/**
 * A {@code [batch, seq]} block of token ids with its attention mask (1 for real tokens, 0 for padding), position
 * ids and, when several documents are packed into one row, the start of each token's document
 * ({@code segmentStarts}, a position within the row; null when rows hold one document), all row-major of length
 * {@code batch·seq}. A token attends only to earlier tokens of its own document.
 */
public record TokenBatch(int batch, int seq, int[] tokens, int[] mask, int[] positions, int[] segmentStarts) {

    public TokenBatch {
        if (batch <= 0 || seq <= 0) {
            throw new IllegalArgumentException("token batch: batch and seq must be positive, got [" + batch + ", "
                    + seq + "]");
        }
        int n = batch * seq;
        if (tokens.length != n) {
            throw new IllegalArgumentException("token batch: " + tokens.length + " tokens for shape [" + batch + ", "
                    + seq + "]");
        }
        if (mask != null && mask.length != n) {
            throw new IllegalArgumentException("token batch: mask of " + mask.length + " for shape [" + batch + ", "
                    + seq + "]");
        }
        if (positions.length != n) {
            throw new IllegalArgumentException("token batch: " + positions.length + " positions for shape [" + batch
                    + ", " + seq + "]");
        }
        if (segmentStarts != null) {
            if (segmentStarts.length != n) {
                throw new IllegalArgumentException("token batch: " + segmentStarts.length + " segment starts for "
                        + "shape ["
                        + batch + ", " + seq + "]");
            }
            for (int i = 0; i < n; i++) {
                int t = i % seq;
                if (segmentStarts[i] < 0 || segmentStarts[i] > t) {
                    throw new IllegalArgumentException("token batch: segment start " + segmentStarts[i] + " at row "
                            + i / seq + ", position " + t + " is not in [0, " + t + "]");
                }
            }
        }
    }

    public TokenBatch(int batch, int seq, int[] tokens, int[] mask, int[] positions) {
        this(batch, seq, tokens, mask, positions, null);
    }

    /** Unpadded rows: positions 0..seq-1 in each. */
    public static TokenBatch of(int[] tokens, int batch, int seq) {
        return of(tokens, null, batch, seq);
    }

    /**
     * Positions follow the mask as HF does for padded batches: {@code cumsum(mask) − 1} on real tokens (so left
     * padding does not shift them), 1 on padding. A null mask means no padding.
     */
    public static TokenBatch of(int[] tokens, int[] mask, int batch, int seq) {
        int[] pos = new int[batch * seq];
        for (int b = 0; b < batch; b++) {
            int count = 0;
            for (int t = 0; t < seq; t++) {
                int i = b * seq + t;
                if (mask == null || mask[i] != 0) {
                    pos[i] = count++;
                } else {
                    pos[i] = 1;
                }
            }
        }
        return new TokenBatch(batch, seq, tokens, mask, pos);
    }

    public int rows() {
        return batch * seq;
    }
}
