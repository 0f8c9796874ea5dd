package dev.rlhf4j.train.grpo;

import dev.rlhf4j.tensor.UserError;
import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.RewardFunction;

import java.util.List;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Rule-based ("verifiable") rewards of a completion's text, as GRPO is used with: {@code regex:PATTERN} scores 1
 * when the pattern is found in the completion, else 0; {@code length:N} scores {@code −|words − N|/N}.
 */
public final class RuleReward implements RewardFunction {
    private final String spec;
    private final Pattern pattern;
    private final int words;

    private RuleReward(String spec, Pattern pattern, int words) {
        this.spec = spec;
        this.pattern = pattern;
        this.words = words;
    }

    /** Whether {@code spec} names a rule (rather than, say, the lab's reward). */
    public static boolean isRule(String spec) {
        return spec.startsWith("regex:") || spec.startsWith("length:");
    }

    /** The rule {@code regex:PATTERN} or {@code length:N}; a user error names what is wrong with {@code spec}. */
    public static RuleReward parse(String spec) {
        if (spec.startsWith("regex:")) {
            String p = spec.substring("regex:".length());
            if (p.isEmpty()) {
                throw new UserError("--reward regex:PATTERN needs a pattern");
            }
            try {
                return new RuleReward(spec, Pattern.compile(p), 0);
            } catch (PatternSyntaxException e) {
                throw new UserError("--reward " + spec + ": not a regular expression: "
                        + e.getDescription() + " at index " + e.getIndex());
            }
        }
        if (spec.startsWith("length:")) {
            try {
                int n = Integer.parseInt(spec.substring("length:".length()));
                if (n > 0) {
                    return new RuleReward(spec, null, n);
                }
            } catch (NumberFormatException e) {
                // falls through to the message below
            }
            throw new UserError("--reward length:N needs a positive whole number of words, got '" + spec + "'");
        }
        throw new UserError("--reward must be lab, lab:SEED, regex:PATTERN or length:N, got '" + spec + "'");
    }

    /** The score of one completion's text. */
    public double score(String completion) {
        if (pattern != null) {
            return pattern.matcher(completion).find() ? 1 : 0;
        }
        String s = completion.strip();
        int n = s.isEmpty() ? 0 : s.split("\\s+").length;
        return -Math.abs(n - words) / (double) words;
    }

    @Override
    public double[] score(List<Episode> episodes) {
        double[] out = new double[episodes.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = score(episodes.get(i).response());
        }
        return out;
    }

    /** The rule's kind, for the metric names {@code rewards/<name>/mean}. */
    public String name() {
        return pattern != null ? "regex" : "length";
    }

    @Override
    public String describe() {
        return "rule " + spec;
    }
}
