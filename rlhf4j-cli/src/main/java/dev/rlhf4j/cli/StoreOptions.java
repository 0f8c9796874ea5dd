package dev.rlhf4j.cli;

import dev.rlhf4j.feedback.store.Database;
import dev.rlhf4j.tensor.UserError;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * {@code --data-dir DIR | --db URL}: where the feedback store lives, for {@code serve} and {@code feedback}. The
 * PostgreSQL user and password come from the environment ({@code RLHF4J_DB_USER}/{@code RLHF4J_DB_PASSWORD}, else
 * libpq's {@code PGUSER}/{@code PGPASSWORD}), never from the command line, where other users of the machine could
 * read them.
 */
class StoreOptions {
    static final String DEFAULT_DATA_DIR = "rlhf4j-feedback-data";

    @Option(names = "--data-dir", paramLabel = "DIR", description = "Keep the store in DIR/" + Database.SQLITE_FILE
            + " (SQLite; created when absent; default: ./" + DEFAULT_DATA_DIR + ").")
    Path dataDir;

    @Option(names = "--db", paramLabel = "URL", description = "Use PostgreSQL at URL (jdbc:postgresql://HOST[:PORT]"
            + "/DATABASE) instead of SQLite; the user and password come from RLHF4J_DB_USER and RLHF4J_DB_PASSWORD "
            + "(or PGUSER and PGPASSWORD).")
    String db;

    /** Opens the store (migrating its schema to this version). */
    Database open() {
        if (dataDir != null && db != null) {
            throw new UserError("give either --data-dir or --db, not both");
        }
        if (db != null) {
            if (db.contains("password=")) {
                throw new UserError("--db: put the password in RLHF4J_DB_PASSWORD, not in the URL (a command line "
                        + "is visible to every user of the machine)");
            }
            return Database.postgresql(db, env("RLHF4J_DB_USER", "PGUSER"), env("RLHF4J_DB_PASSWORD", "PGPASSWORD"));
        }
        return Database.sqlite(dataDir != null ? dataDir : Path.of(DEFAULT_DATA_DIR));
    }

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v != null ? v : System.getenv(fallback);
    }
}
