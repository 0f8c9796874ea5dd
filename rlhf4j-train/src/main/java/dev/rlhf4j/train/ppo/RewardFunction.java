package dev.rlhf4j.train.ppo;

import java.util.List;

/**
 * What PPO maximises: one score per episode, given at its last response token. A reward model
 * ({@link RewardModelReward}) or, in the lab, the world's gold reward.
 */
public interface RewardFunction {

    /** Scores of the episodes, in order. */
    double[] score(List<Episode> episodes);

    /** A short description for logs. */
    String describe();
}
