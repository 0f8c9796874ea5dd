package dev.rlhf4j.feedback.store;

import org.flywaydb.core.Flyway;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** A store made by an earlier version is brought up to date with its data intact. */
class MigrationTest {
    @Test
    void aVersionOneStoreGetsItsItemsLabelCountsAndKeepsItsQueue(@TempDir Path dir) throws SQLException {
        String url = "jdbc:sqlite:" + dir.resolve(Database.SQLITE_FILE);
        Flyway.configure().dataSource(url, null, null).locations("classpath:db/migration")
                .placeholders(Map.of("id", "INTEGER PRIMARY KEY AUTOINCREMENT")).target("1").load().migrate();
        try (Connection c = DriverManager.getConnection(url); Statement st = c.createStatement()) {
            st.executeUpdate("INSERT INTO users (name, password_hash, role, disabled, created_at)"
                    + " VALUES ('ann', 'h', 'annotator', 0, 1), ('bob', 'h', 'annotator', 0, 1)");
            st.executeUpdate("INSERT INTO projects (name, task_type, guidelines, responses_per_item, overlap,"
                    + " overlap_annotators, temperature, top_p, max_new_tokens, created_at)"
                    + " VALUES ('p', 'demonstration', '', 0, 1.0, 2, 1.0, 1.0, 16, 1)");
            // item 1 labelled by both of its 2 people, item 2 by one, item 3 by none
            st.executeUpdate("INSERT INTO items (project_id, prompt, replicas, created_at)"
                    + " VALUES (1, 'a', 2, 1), (1, 'b', 2, 1), (1, 'c', 2, 1)");
            st.executeUpdate("INSERT INTO labels (request_id, item_id, user_id, kind, demonstration, flags, note,"
                    + " started_at, created_at) VALUES ('r1', 1, 1, 'demonstration', 'x', '', '', 1, 2),"
                    + " ('r2', 1, 2, 'demonstration', 'y', '', '', 1, 2), ('r3', 2, 1, 'demonstration', 'z', '', '',"
                    + " 1, 2)");
        }
        try (Database db = Database.sqlite(dir)) {
            List<Integer> counts = db.inTransaction(c -> {
                try (Statement st = c.createStatement(); var rs = st.executeQuery(
                        "SELECT labelled FROM items ORDER BY id")) {
                    List<Integer> out = new ArrayList<>();
                    while (rs.next()) {
                        out.add(rs.getInt(1));
                    }
                    return out;
                }
            });
            assertEquals(List.of(2, 1, 0), counts);
            FeedbackStore store = new FeedbackStore(db);
            // ann has labelled items 1 and 2: her next is 3; bob's is 2 (its second replica)
            assertEquals(3, store.nextTask(1, 1).orElseThrow().item().id());
            assertEquals(2, store.nextTask(1, 2).orElseThrow().item().id());
        }
    }
}
