package dev.rlhf4j.train;

import java.io.PrintWriter;

/**
 * The console progress line: step, loss, learning rate, tokens/s and ETA, redrawn in place on a terminal, printed
 * every {@code every} steps otherwise (logs, CI).
 */
public final class Progress {
    private final PrintWriter out;
    private final int total;
    private final int every;
    private final boolean terminal = System.console() != null;
    private final long start = System.nanoTime();
    private int firstStep = -1;

    public Progress(PrintWriter out, int total, int every) {
        this.out = out;
        this.total = total;
        this.every = Math.max(1, every);
    }

    void update(int step, double loss, double lr, double tokensPerSecond, Double evalLoss) {
        update(step, String.format("loss %.4f lr %.2e %.0f tok/s%s", loss, lr, tokensPerSecond,
                evalLoss == null ? "" : String.format(" eval_loss %.4f", evalLoss)));
    }

    /** Shows step {@code step} of the run with {@code stats} after the bar. */
    public void update(int step, String stats) {
        if (firstStep < 0) {
            firstStep = step - 1;
        }
        if (!terminal && step % every != 0 && step != total) {
            return;
        }
        double elapsed = (System.nanoTime() - start) / 1e9;
        double eta = elapsed / Math.max(1, step - firstStep) * (total - step);
        int width = 24, filled = (int) Math.round((double) width * step / total);
        String bar = "=".repeat(filled) + (filled < width ? ">" + " ".repeat(width - filled - 1) : "");
        String line = String.format("step %d/%d [%s] %s ETA %s", step, total, bar, stats, clock(eta));
        if (terminal) {
            out.print("\r" + line);
        } else {
            out.println(line);
        }
        out.flush();
    }

    public void finish() {
        if (terminal) {
            out.println();
            out.flush();
        }
    }

    private static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60)
                : String.format("%02d:%02d", s / 60, s % 60);
    }
}
