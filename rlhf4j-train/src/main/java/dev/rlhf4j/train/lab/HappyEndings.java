package dev.rlhf4j.train.lab;

import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.RewardFunction;

import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * A gold reward outside the lab world, for story models such as stories260K: how happy a continuation ends. The
 * score is the number of happy words minus the number of sad words among the last {@value #WINDOW} words of the
 * response, clipped to [−3, 3]. Simulated annotators judging by it stand in for people who like happy endings.
 */
public final class HappyEndings implements RewardFunction {
    static final int WINDOW = 12;
    static final Set<String> HAPPY = Set.of("happy", "happily", "smiled", "smile", "smiles", "laughed", "laugh",
            "love", "loved", "loves", "fun", "glad", "joy", "friends", "friend", "hug", "hugged", "kind", "nice",
            "good", "great", "yay", "thank", "thanked", "proud", "safe", "best", "together", "beautiful", "excited",
            "enjoyed", "shared", "helped", "favorite", "wonderful");
    static final Set<String> SAD = Set.of("sad", "sadly", "cried", "cry", "crying", "angry", "mad", "scared",
            "afraid", "hurt", "lost", "broke", "broken", "bad", "sorry", "alone", "sick", "ouch", "died", "upset",
            "mean", "worried", "lonely", "tears", "scary", "never", "fell", "shouted", "frightened");

    /** The score of one response. */
    public static double score(String response) {
        String[] words = response.toLowerCase(Locale.ROOT).split("[^a-z]+");
        int from = Math.max(0, words.length - WINDOW), s = 0;
        for (int i = from; i < words.length; i++) {
            if (HAPPY.contains(words[i])) {
                s++;
            } else if (SAD.contains(words[i])) {
                s--;
            }
        }
        return Math.max(-3, Math.min(3, s));
    }

    @Override
    public double[] score(List<Episode> episodes) {
        double[] out = new double[episodes.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = score(episodes.get(i).response());
        }
        return out;
    }

    @Override
    public String describe() {
        return "happy endings (happy minus sad words among the last " + WINDOW + ")";
    }
}
