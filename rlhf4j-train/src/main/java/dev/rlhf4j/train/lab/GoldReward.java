package dev.rlhf4j.train.lab;

import dev.rlhf4j.train.ppo.Episode;
import dev.rlhf4j.train.ppo.RewardFunction;

import java.util.List;

/** The lab world's gold reward as PPO's reward: optimising the true objective directly, for experiments. */
public final class GoldReward implements RewardFunction {
    private final LabWorld world;

    public GoldReward(LabWorld world) {
        this.world = world;
    }

    @Override
    public double[] score(List<Episode> episodes) {
        double[] out = new double[episodes.size()];
        for (int i = 0; i < out.length; i++) {
            Episode e = episodes.get(i);
            out[i] = world.score(e.prompt(), e.response().strip()).total();
        }
        return out;
    }

    @Override
    public String describe() {
        return "the lab's gold reward (world seed " + world.seed() + ")";
    }
}
