package dev.rlhf4j.cli;

import dev.rlhf4j.tensor.Parallel;
import dev.rlhf4j.tensor.UserError;
import picocli.CommandLine.Option;

/** {@code --threads}, shared by every command that computes. */
final class ThreadsOption {
    @Option(names = "--threads", defaultValue = "0", paramLabel = "N",
            description = "Threads; 0 = all cores (default: ${DEFAULT-VALUE}).")
    int threads;

    /** Refuses a negative count; call before any work. */
    void check() {
        if (threads < 0) {
            throw new UserError("--threads must be 0 (all cores) or a positive number, got " + threads);
        }
    }

    /**
     * Checks the count and sizes the shared pool to it; 0 leaves the pool as it is (all cores, or
     * {@code -Drlhf4j.threads}), so that the stages the demo runs in this process keep the demo's count.
     */
    void apply() {
        check();
        if (threads > 0) {
            Parallel.setGlobalThreads(threads);
        }
    }
}
