package dev.rlhf4j.cli;

import dev.rlhf4j.feedback.auth.Passwords;
import dev.rlhf4j.feedback.generate.ResponseSampler;
import dev.rlhf4j.feedback.store.Database;
import dev.rlhf4j.feedback.store.FeedbackStore;
import dev.rlhf4j.feedback.store.Role;
import dev.rlhf4j.feedback.store.StoreConflict;
import dev.rlhf4j.feedback.store.User;
import dev.rlhf4j.feedback.web.FeedbackServer;
import dev.rlhf4j.tensor.UserError;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.Console;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;

/** {@code rlhf4j serve}: the feedback web app. */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Serve the feedback app, where people write demonstrations and compare and rank responses.",
                "Prints its address; stops cleanly on Ctrl-C or SIGTERM (requests in flight finish first). There "
                        + "are no default accounts: make the first admin with --create-admin NAME."})
public final class ServeCommand implements Callable<Integer> {
    static final String PASSWORD_ENV = "RLHF4J_ADMIN_PASSWORD";

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = "--port", defaultValue = "8080", description = "Port to listen on; 0 = a free one (default: "
            + "${DEFAULT-VALUE}).")
    int port;
    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to listen on (default: "
            + "${DEFAULT-VALUE}, this machine only; 0.0.0.0 exposes the app to the network: put it behind TLS and use "
            + "--secure-cookies).")
    String host;
    @CommandLine.Mixin
    StoreOptions store = new StoreOptions();
    @Option(names = "--create-admin", paramLabel = "NAME", description = "Create the admin account NAME and exit "
            + "WITHOUT serving. The password comes from " + PASSWORD_ENV + ", else it is read twice from the "
            + "terminal (not echoed); at least " + Passwords.MIN_LENGTH + " characters.")
    String createAdmin;
    @Option(names = "--public-url", paramLabel = "URL", description = "The address people reach the app at (behind "
            + "a proxy, for example https://feedback.example.org/), used in invitation links (default: the address "
            + "it listens on).")
    String publicUrl;
    @Option(names = "--secure-cookies", description = "Mark the session cookie Secure: use when the app is served "
            + "over HTTPS (behind a TLS proxy).")
    boolean secureCookies;

    /** The environment; tests give their own. */
    Function<String, String> env = System::getenv;
    /** Reads a password from the terminal without echo; null where there is no terminal. Tests give their own. */
    Function<String, char[]> terminal = prompt -> {
        Console c = System.console();
        return c == null ? null : c.readPassword("%s", prompt);
    };

    @Override
    public Integer call() throws InterruptedException {
        if (port < 0 || port > 65535) {
            throw new UserError("--port must be in 0..65535, got " + port);
        }
        if (createAdmin != null) {
            // the name and password are checked before the store is opened (or created)
            checkName(createAdmin);
            String password = adminPassword();
            try (Database db = store.open()) {
                createAdmin(new FeedbackStore(db), createAdmin, password);
            }
            return 0;
        }
        return serve();
    }

    private static void checkName(String name) {
        try {
            FeedbackStore.checkUserName(name);
        } catch (IllegalArgumentException e) {
            throw new UserError("--create-admin " + name + ": " + e.getMessage());
        }
    }

    /** The new admin's password: from the environment, else typed twice at the terminal. */
    private String adminPassword() {
        String password = env.apply(PASSWORD_ENV);
        if (password == null) {
            char[] first = terminal.apply("Password for " + createAdmin + ": ");
            if (first == null) {
                throw new UserError("--create-admin: no terminal to read the password from; set " + PASSWORD_ENV);
            }
            char[] again = terminal.apply("Same password again: ");
            try {
                if (again == null || !Arrays.equals(first, again)) {
                    throw new UserError("--create-admin: the two passwords differ");
                }
                password = new String(first);
            } finally {
                Arrays.fill(first, '\0');
                if (again != null) {
                    Arrays.fill(again, '\0');
                }
            }
        }
        try {
            Passwords.check(password);
        } catch (IllegalArgumentException e) {
            throw new UserError("--create-admin: " + e.getMessage());
        }
        return password;
    }

    private void createAdmin(FeedbackStore s, String name, String password) {
        User admin;
        try {
            admin = s.createUser(name, Passwords.hash(password), Role.ADMIN);
        } catch (StoreConflict e) {
            throw new UserError("--create-admin " + name + ": the name is taken (" + s.database().description()
                    + ")");
        }
        s.audit(null, "create_admin", "admin " + admin.name() + " (id " + admin.id() + ") made with rlhf4j serve "
                + "--create-admin");
        spec.commandLine().getOut().println("rlhf4j: created the admin " + admin.name() + " in "
                + s.database().description() + "; start the app with rlhf4j serve");
    }

    private int serve() throws InterruptedException {
        PrintWriter out = spec.commandLine().getOut();
        Database db = store.open();
        FeedbackStore s = new FeedbackStore(db);
        ResponseSampler sampler = null;
        FeedbackServer server = null;
        try {
            sampler = new ResponseSampler(s);
            server = FeedbackServer.start(s, sampler, new FeedbackServer.Config(host, port, secureCookies,
                    publicUrl));
        } catch (RuntimeException e) {
            closeQuietly(sampler);
            db.close();
            throw e;
        }
        Stopper stopper = new Stopper(server, sampler, db);
        Thread hook = new Thread(stopper::stopOnSignal, "rlhf4j-serve-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        out.println("rlhf4j: serving the feedback app at " + server.url() + " (" + db.description() + ")");
        if (s.countAdmins() == 0) {
            out.println("rlhf4j: no admin account yet: run rlhf4j serve --create-admin NAME");
        }
        out.flush();
        // serves until the process is told to stop: the shutdown hook closes everything
        stopper.stopped.await();
        return 0;
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception ignored) {
                // already failing: the first error is the one reported
            }
        }
    }

    /** Closes the server (waiting for the requests in flight), then the sampler, then the database; once. */
    private static final class Stopper {
        final CountDownLatch stopped = new CountDownLatch(1);
        private final AtomicBoolean once = new AtomicBoolean();
        private final FeedbackServer server;
        private final ResponseSampler sampler;
        private final Database db;

        Stopper(FeedbackServer server, ResponseSampler sampler, Database db) {
            this.server = server;
            this.sampler = sampler;
            this.db = db;
        }

        void stop() {
            if (once.compareAndSet(false, true)) {
                try {
                    closeQuietly(server);
                    closeQuietly(sampler);
                    db.close();
                } finally {
                    stopped.countDown();
                }
            }
        }

        /**
         * The shutdown hook: the JVM runs it on SIGTERM and Ctrl-C (SIGINT). Once everything is closed the process
         * ends with status 0, a clean stop, rather than the JVM's 128 + the signal's number.
         */
        void stopOnSignal() {
            stop();
            System.err.println("rlhf4j: stopped");
            System.err.flush();
            Runtime.getRuntime().halt(0);
        }
    }
}
