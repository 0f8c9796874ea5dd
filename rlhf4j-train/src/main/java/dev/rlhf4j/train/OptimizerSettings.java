package dev.rlhf4j.train;

/**
 * The optimizer part of every trainer's config builder ({@code TrainingConfig.Builder}, {@code PpoConfig.Builder},
 * and the builders of trainers to come): the {@link OptimizerConfig} it will hold, and setters for its fields under
 * their TRL names, so that {@code builder(out).learningRate(3e-5).warmupRatio(0.1)} reads the same for every trainer.
 *
 * @param <B> the builder itself, returned by every setter
 */
public abstract class OptimizerSettings<B extends OptimizerSettings<B>> {
    /** The optimizer settings so far; starts from the trainer's defaults. */
    protected OptimizerConfig optimizer;

    protected OptimizerSettings(OptimizerConfig start) {
        this.optimizer = start;
    }

    /** This builder (each setter returns it). */
    protected abstract B self();

    public B optimizer(OptimizerConfig v) {
        optimizer = v;
        return self();
    }

    public B learningRate(double v) {
        optimizer = optimizer.withLearningRate(v);
        return self();
    }

    public B lrSchedulerType(String v) {
        optimizer = optimizer.withLrSchedulerType(v);
        return self();
    }

    public B warmupSteps(int v) {
        optimizer = optimizer.withWarmup(v, optimizer.warmupRatio());
        return self();
    }

    public B warmupRatio(double v) {
        optimizer = optimizer.withWarmup(optimizer.warmupSteps(), v);
        return self();
    }

    public B weightDecay(double v) {
        optimizer = optimizer.withWeightDecay(v);
        return self();
    }

    public B maxGradNorm(double v) {
        optimizer = optimizer.withMaxGradNorm(v);
        return self();
    }
}
