package dev.rlhf4j.feedback.store;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** nextTask answers the item a person holds before any free one, and hands a free item to one person at a time. */
class QueueHeldItemTest {
    @Test
    void theHeldItemComesBackAndOthersGetTheNextFreeOne(@TempDir Path dir) {
        try (Database db = Database.sqlite(dir)) {
            FeedbackStore s = new FeedbackStore(db);
            User ann = s.createUser("ann", "h", Role.ANNOTATOR);
            User bob = s.createUser("bob", "h", Role.ANNOTATOR);
            Project p = s.createProject(new ProjectSettings("p", TaskType.COMPARISON, "", 2, 0.0, 2, null, null,
                    null), null);
            List<NewItem> many = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                many.add(NewItem.of("q" + i, "a" + i, "b" + i));
            }
            List<Item> items = s.addItems(p.id(), many);
            Task a1 = s.nextTask(p.id(), ann.id()).orElseThrow();
            assertEquals(items.get(0).id(), a1.item().id());
            // asked again, ann gets the item she holds, not a second one
            assertEquals(a1.item().id(), s.nextTask(p.id(), ann.id()).orElseThrow().item().id());
            Task b1 = s.nextTask(p.id(), bob.id()).orElseThrow();
            assertEquals(items.get(1).id(), b1.item().id());
            long left = a1.responses().get(0).id();
            long right = a1.responses().get(1).id();
            s.submit(NewLabel.comparison("r-a1", a1.item().id(), ann.id(), left, right, Verdict.BETTER, left, null,
                    Set.of(), null));
            // labelled: ann moves on past the item bob holds
            Task a2 = s.nextTask(p.id(), ann.id()).orElseThrow();
            assertEquals(items.get(2).id(), a2.item().id());
            assertNotEquals(b1.item().id(), a2.item().id());
            assertEquals(b1.item().id(), s.nextTask(p.id(), bob.id()).orElseThrow().item().id());
            assertTrue(s.nextTask(p.id(), bob.id(), List.of(b1.item().id())).isPresent());
        }
    }
}
