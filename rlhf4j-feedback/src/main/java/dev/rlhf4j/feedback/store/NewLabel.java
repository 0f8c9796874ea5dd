package dev.rlhf4j.feedback.store;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * A label as submitted; {@link FeedbackStore#submit} checks it against the item (its kind, its responses) and
 * stores it once per {@code requestId}. Made by {@link #comparison}, {@link #ranking} or {@link #demonstration}.
 */
public record NewLabel(String requestId, long itemId, long userId, TaskType kind, Verdict verdict,
                       Long leftResponseId, Long rightResponseId, Long chosenResponseId, Integer strength,
                       List<Long> ranking, List<Long> displayOrder, String demonstration, Set<Flag> flags,
                       String note) {
    public static final int MAX_NOTE = 10_000;
    public static final int MAX_DEMONSTRATION = 100_000;
    public static final int MAX_REQUEST_ID = 100;

    public NewLabel {
        if (requestId == null || requestId.isEmpty() || requestId.length() > MAX_REQUEST_ID) {
            throw new IllegalArgumentException("request_id must be 1.." + MAX_REQUEST_ID + " characters");
        }
        flags = flags == null ? EnumSet.noneOf(Flag.class) : EnumSet.copyOf(flags.isEmpty()
                ? EnumSet.noneOf(Flag.class) : flags);
        note = note == null ? "" : note;
        if (note.length() > MAX_NOTE) {
            throw new IllegalArgumentException("the note is longer than " + MAX_NOTE + " characters");
        }
        ranking = ranking == null ? null : List.copyOf(ranking);
        displayOrder = displayOrder == null ? null : List.copyOf(displayOrder);
        if (strength != null && (strength < 1 || strength > 3)) {
            throw new IllegalArgumentException("strength must be 1 (slightly), 2 (clearly) or 3 (much better), got "
                    + strength);
        }
    }

    /**
     * A comparison of the responses shown {@code left} and {@code right}: {@code chosen} is one of them when the
     * verdict is {@link Verdict#BETTER}, else null; {@code strength} may be null.
     */
    public static NewLabel comparison(String requestId, long itemId, long userId, long left, long right,
                                      Verdict verdict, Long chosen, Integer strength, Set<Flag> flags, String note) {
        if (verdict == null) {
            throw new IllegalArgumentException("a comparison needs a verdict");
        }
        if (verdict == Verdict.BETTER && (chosen == null || (chosen != left && chosen != right))) {
            throw new IllegalArgumentException("the chosen response must be the left or the right one");
        }
        if (verdict != Verdict.BETTER && (chosen != null || strength != null)) {
            throw new IllegalArgumentException("a " + verdict.wireName() + " has no chosen response and no strength");
        }
        return new NewLabel(requestId, itemId, userId, TaskType.COMPARISON, verdict, left, right, chosen, strength,
                null, null, null, flags, note);
    }

    /** A ranking: response ids best first, and in the order they were shown. */
    public static NewLabel ranking(String requestId, long itemId, long userId, List<Long> ranking,
                                   List<Long> displayOrder, Set<Flag> flags, String note) {
        if (ranking == null || displayOrder == null) {
            throw new IllegalArgumentException("a ranking needs the ranking and the order shown");
        }
        return new NewLabel(requestId, itemId, userId, TaskType.RANKING, null, null, null, null, null, ranking,
                displayOrder, null, flags, note);
    }

    /** A demonstration: the response the annotator wrote. */
    public static NewLabel demonstration(String requestId, long itemId, long userId, String text, Set<Flag> flags,
                                         String note) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("the demonstration is empty");
        }
        if (text.length() > MAX_DEMONSTRATION) {
            throw new IllegalArgumentException("the demonstration is longer than " + MAX_DEMONSTRATION
                    + " characters");
        }
        return new NewLabel(requestId, itemId, userId, TaskType.DEMONSTRATION, null, null, null, null, null, null,
                null, text, flags, note);
    }
}
