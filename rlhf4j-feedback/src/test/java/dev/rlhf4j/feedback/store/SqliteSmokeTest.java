package dev.rlhf4j.feedback.store;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SqliteSmokeTest {
    @Test
    void aComparisonIsQueuedLabelledAndStoredOnce(@TempDir Path dir) {
        try (Database db = Database.sqlite(dir)) {
            FeedbackStore s = new FeedbackStore(db);
            User ann = s.createUser("ann", "h", Role.ANNOTATOR);
            Project p = s.createProject(ProjectSettings.of("p", TaskType.COMPARISON, "# hi"), null);
            List<Item> items = s.addItems(p.id(), List.of(NewItem.of("q1", "a", "b"), NewItem.of("q2", "c", "d")));
            assertEquals(2, items.size());
            Task t = s.nextTask(p.id(), ann.id()).orElseThrow();
            long left = t.responses().get(1).id();
            long right = t.responses().get(0).id();
            NewLabel l = NewLabel.comparison("r1", t.item().id(), ann.id(), left, right, Verdict.BETTER, left, 2,
                    Set.of(Flag.HARMFUL), "note");
            Submission first = s.submit(l);
            Submission again = s.submit(l);
            assertTrue(!first.repeated() && again.repeated());
            assertEquals(first.label().id(), again.label().id());
            assertEquals(1, s.labels(p.id()).size());
            assertEquals(Set.of(Flag.HARMFUL), s.labels(p.id()).get(0).flags());
            Task t2 = s.nextTask(p.id(), ann.id()).orElseThrow();
            assertEquals(items.get(1).id(), t2.item().id());
        }
    }
}
