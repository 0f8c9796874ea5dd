package dev.rlhf4j.feedback.store;

import dev.rlhf4j.feedback.testing.TestPostgres;
import org.junit.jupiter.api.Assumptions;

import java.util.Optional;

/** The store's contract on a real PostgreSQL, a new database per test; skipped, with the reason, where none starts. */
class PostgresFeedbackStoreTest extends FeedbackStoreContract {
    @Override
    protected Database open() {
        Optional<TestPostgres.Db> pg = TestPostgres.create();
        Assumptions.assumeTrue(pg.isPresent(), () -> "PostgreSQL: " + TestPostgres.unavailableReason());
        TestPostgres.Db d = pg.get();
        return Database.postgresql(d.url(), d.user(), d.password());
    }
}
