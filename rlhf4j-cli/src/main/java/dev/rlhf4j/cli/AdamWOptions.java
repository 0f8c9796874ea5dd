package dev.rlhf4j.cli;

import dev.rlhf4j.train.OptimizerConfig;
import picocli.CommandLine.Option;

/** The optimizer options every training command shares (HF's names and defaults). */
final class AdamWOptions {
    @Option(names = "--weight-decay", description = "AdamW weight decay on matrices (default: ${DEFAULT-VALUE}).")
    double weightDecay;
    @Option(names = "--adam-beta1", description = "AdamW beta1 (default: ${DEFAULT-VALUE}).")
    double adamBeta1;
    @Option(names = "--adam-beta2", description = "AdamW beta2 (default: ${DEFAULT-VALUE}).")
    double adamBeta2;
    @Option(names = "--adam-epsilon", description = "AdamW epsilon (default: ${DEFAULT-VALUE}).")
    double adamEpsilon;
    @Option(names = "--max-grad-norm", description = "Global-norm gradient clipping (PPO: over policy and critic "
            + "together); 0 = off (default: ${DEFAULT-VALUE}).")
    double maxGradNorm;

    /** These options with the command's learning rate and schedule, validated as one {@link OptimizerConfig}. */
    OptimizerConfig optimizer(double learningRate, String lrSchedulerType, int warmupSteps, double warmupRatio) {
        return new OptimizerConfig(learningRate, lrSchedulerType, warmupSteps, warmupRatio, weightDecay, adamBeta1,
                adamBeta2, adamEpsilon, maxGradNorm);
    }
}
