package dev.rlhf4j.cli;

import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

/** {@code rlhf4j serve}: the feedback web app. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Serve the feedback app, where people write demonstrations and compare and rank responses.")
public final class ServeCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new UnsupportedOperationException("not yet written (issue 12)");
    }
}
