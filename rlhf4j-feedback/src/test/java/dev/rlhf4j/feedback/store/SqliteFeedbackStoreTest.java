package dev.rlhf4j.feedback.store;

import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

/** The store's contract on SQLite, in a new file per test. */
class SqliteFeedbackStoreTest extends FeedbackStoreContract {
    @TempDir
    Path dir;

    @Override
    protected Database open() {
        return Database.sqlite(dir);
    }
}
