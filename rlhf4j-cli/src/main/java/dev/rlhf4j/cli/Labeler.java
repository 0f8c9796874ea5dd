package dev.rlhf4j.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;

/**
 * Who labels a round of {@code rlhf4j loop}: the lab's simulated annotators, or people in the feedback app.
 *
 * <p>A labeler must be safe to call again for the same round after the loop crashed or was stopped in the middle of
 * it ({@code loop --resume}): it asks for no label twice (the app's items are keyed by {@link Pair#id()}, so a second
 * push adds nothing, and labels already given are read back) and ends with the same kind of file.
 */
interface Labeler extends AutoCloseable {

    /** One comparison to label: two responses of the current policy to one prompt; {@code id} is unique in the run. */
    record Pair(String id, String prompt, String a, String b) {
    }

    /**
     * What a round's labelling gave.
     *
     * @param labelled  pairs with a preference (written to the output file; where several people label one pair,
     *                  as the app's overlap does, each of their labels counts, as each is a record)
     * @param setAside  pairs labelled as a tie or both bad (not training data; counted per label, likewise)
     * @param unlabelled pairs nobody labelled before the round's time ran out
     */
    record Outcome(int labelled, int setAside, int unlabelled) {
    }

    /**
     * Labels round {@code round}'s pairs and writes the preferences, one {@code {"prompt","chosen","rejected"}} record
     * per line (TRL's format, as {@code reward train} reads it; extra fields allowed), atomically to {@code out}.
     */
    Outcome label(int round, List<Pair> pairs, Path out, PrintWriter console) throws IOException;

    @Override
    default void close() throws IOException {
    }
}
