package dev.rlhf4j.train;

/**
 * The learning rate at each optimizer step, as HF transformers' schedulers compute it (step counted from 0): a
 * linear warm-up from 0 over {@code warmup} steps, then constant, linear decay to 0, or half a cosine to 0 at
 * {@code total} ({@code get_linear_schedule_with_warmup}, {@code get_cosine_schedule_with_warmup}).
 */
public record LrSchedule(String type, double peak, int warmup, int total) {

    public double at(int step) {
        if (step < warmup) {
            return peak * step / Math.max(1, warmup);
        }
        return switch (type) {
            case "constant" -> peak;
            case "linear" -> peak * Math.max(0.0, (double) (total - step) / Math.max(1, total - warmup));
            case "cosine" -> {
                double progress = (double) (step - warmup) / Math.max(1, total - warmup);
                yield peak * Math.max(0.0, 0.5 * (1.0 + StrictMath.cos(Math.PI * progress)));
            }
            default -> throw new IllegalArgumentException("unknown schedule " + type);
        };
    }
}
