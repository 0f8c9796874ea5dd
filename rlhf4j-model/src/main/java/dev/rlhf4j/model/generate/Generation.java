package dev.rlhf4j.model.generate;

/**
 * One generated continuation: its tokens (an ending EOS included), the log-probability of each under the policy
 * at the sampling temperature (before top-k/top-p filtering, as TRL computes it; at temperature 0, under the plain
 * softmax), its text (special tokens skipped; null without a tokenizer) and why it ended: {@code "eos"},
 * {@code "stop"} (a stop string appeared; the text keeps it, as HF's {@code stop_strings} does) or {@code "length"}.
 * For a model with a scalar head (a value head on a policy's trunk), {@code values} holds that head's output at the
 * position that predicted each token (the value of the state before it), from the same decoding step; else null.
 */
public record Generation(int[] promptTokens, int[] tokens, float[] logprobs, String text, String finishReason,
                         float[] values) {
}
