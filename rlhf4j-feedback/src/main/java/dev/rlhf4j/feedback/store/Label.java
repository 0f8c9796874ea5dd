package dev.rlhf4j.feedback.store;

import java.util.List;
import java.util.Set;

/**
 * One person's label of one item, as stored. Which fields are set depends on {@code kind}: a comparison has a
 * verdict, the responses shown left and right, the chosen one (null for a tie or both bad) and an optional strength
 * (1 slightly, 2 clearly, 3 much better); a ranking has the response ids best first and in the order shown; a
 * demonstration has the text written. {@code startedAt} is when the item was handed out.
 */
public record Label(long id, String requestId, long itemId, long userId, TaskType kind, Verdict verdict,
                    Long leftResponseId, Long rightResponseId, Long chosenResponseId, Integer strength,
                    List<Long> ranking, List<Long> displayOrder, String demonstration, Set<Flag> flags, String note,
                    long startedAt, long createdAt) {
    /** Milliseconds from handing out to submitting. */
    public long durationMillis() {
        return Math.max(0, createdAt - startedAt);
    }
}
