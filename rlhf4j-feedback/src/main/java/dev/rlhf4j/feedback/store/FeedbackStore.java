package dev.rlhf4j.feedback.store;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rlhf4j.model.chat.ChatTemplate;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Everything the feedback app stores, one method per unit of work, each in one transaction. SQL is the subset
 * SQLite and PostgreSQL share ({@code RETURNING}, {@code ON CONFLICT}); ids are the database's.
 *
 * <p>No label is lost or counted twice: a label is stored in the transaction that checks it, its request id is
 * unique (a retried submit finds the first one and is acknowledged again), and an item is labelled at most once per
 * person. The queue hands an item to at most {@code replicas} people at a time (assignments expire after
 * {@link #ASSIGNMENT_MILLIS}), so the overlap share of items reaches several people and the rest one.
 */
public final class FeedbackStore {
    /** How long an item handed out stays reserved for its annotator. */
    public static final long ASSIGNMENT_MILLIS = 30 * 60 * 1000L;

    /** The PostgreSQL advisory lock key of a project's queue is this xor the project id ("RLHF" in the top bits). */
    private static final long QUEUE_LOCK = 0x524C484600000000L;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final TypeReference<List<Long>> LONGS = new TypeReference<>() {
    };
    private static final TypeReference<List<ChatTemplate.Message>> MESSAGES = new TypeReference<>() {
    };
    private static final String USER_COLUMNS = "id, name, role, disabled, created_at";
    private static final String PROJECT_COLUMNS = "id, name, task_type, guidelines, responses_per_item, overlap,"
            + " overlap_annotators, temperature, top_p, max_new_tokens, policy_model, reward_model, created_by,"
            + " created_at";
    private static final String ITEM_COLUMNS = "id, project_id, prompt, messages, external_id, replicas, created_at";
    private static final String LABEL_COLUMNS = "l.id, l.request_id, l.item_id, l.user_id, l.kind, l.verdict,"
            + " l.left_response_id, l.right_response_id, l.chosen_response_id, l.strength, l.ranking,"
            + " l.display_order, l.demonstration, l.flags, l.note, l.started_at, l.created_at";
    /**
     * Items whose external id starts with a prefix: compared as a substring, not with LIKE (whose '%' and '_' are
     * wildcards, and which SQLite compares without case). Binds the prefix's length in characters, then the prefix.
     */
    private static final String EXTERNAL_ID_PREFIX = " AND i.external_id IS NOT NULL"
            + " AND substr(i.external_id, 1, ?) = ?";
    private static final String JOB_COLUMNS = "id, project_id, model, status, done, total, error, created_at,"
            + " finished_at";

    private final Database db;
    private final LongSupplier clock;

    public FeedbackStore(Database db) {
        this(db, System::currentTimeMillis);
    }

    /** A store whose clock (epoch milliseconds) tests can set. */
    public FeedbackStore(Database db, LongSupplier clock) {
        this.db = db;
        this.clock = clock;
    }

    public Database database() {
        return db;
    }

    public long now() {
        return clock.getAsLong();
    }

    // ---------------------------------------------------------------- people

    /** A user and the hash of their password, for signing in. */
    public record Credentials(User user, String passwordHash) {
    }

    /** A new account; {@link StoreConflict} when the name is taken. */
    public User createUser(String name, String passwordHash, Role role) {
        checkUserName(name);
        return conflictOnDuplicate("the user name \"" + name + "\" is taken",
                () -> db.inTransaction(c -> insertUser(c, name, passwordHash, role)));
    }

    /**
     * Runs {@code work}, turning a unique-index violation into a {@link StoreConflict}: two transactions that both
     * checked a name free (PostgreSQL's read committed lets them) meet at the index, and the second is a conflict.
     */
    private static <T> T conflictOnDuplicate(String message, Supplier<T> work) {
        try {
            return work.get();
        } catch (StoreException e) {
            if (e.getCause() instanceof SQLException s && isUniqueViolation(s)) {
                throw new StoreConflict(message);
            }
            throw e;
        }
    }

    /** Names are 1..64 characters of letters, digits, '.', '_', '-' and '@'. */
    public static void checkUserName(String name) {
        if (name == null || !name.matches("[\\p{L}\\p{N}._@-]{1,64}")) {
            throw new IllegalArgumentException("a user name is 1..64 letters, digits, '.', '_', '-' or '@'");
        }
    }

    private User insertUser(Connection c, String name, String passwordHash, Role role) throws SQLException {
        if (exists(c, "SELECT 1 FROM users WHERE name = ?", name)) {
            throw new StoreConflict("the user name \"" + name + "\" is taken");
        }
        long now = now();
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO users (name, password_hash, role, disabled,"
                + " created_at) VALUES (?, ?, ?, 0, ?) RETURNING " + USER_COLUMNS)) {
            ps.setString(1, name);
            ps.setString(2, passwordHash);
            ps.setString(3, role.wireName());
            ps.setLong(4, now);
            try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                return user(rs);
            }
        }
    }

    public Optional<User> user(long id) {
        return db.read(c -> one(c, "SELECT " + USER_COLUMNS + " FROM users WHERE id = ?",
                FeedbackStore::user, id));
    }

    public Optional<User> userByName(String name) {
        return db.inTransaction(c -> one(c, "SELECT " + USER_COLUMNS + " FROM users WHERE name = ?",
                FeedbackStore::user, name));
    }

    public Optional<Credentials> credentials(String name) {
        return db.inTransaction(c -> one(c, "SELECT " + USER_COLUMNS + ", password_hash FROM users WHERE name = ?",
                rs -> new Credentials(user(rs), rs.getString("password_hash")), name));
    }

    public List<User> users() {
        return db.inTransaction(c -> list(c, "SELECT " + USER_COLUMNS + " FROM users ORDER BY id",
                FeedbackStore::user));
    }

    public int countAdmins() {
        return db.inTransaction(c -> count(c, "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0"));
    }

    public void setPasswordHash(long userId, String passwordHash) {
        db.inTransaction(c -> update(c, "UPDATE users SET password_hash = ? WHERE id = ?", passwordHash, userId));
    }

    /** Disables or enables an account; disabling also ends its sessions and revokes its API tokens. */
    public void setDisabled(long userId, boolean disabled) {
        db.inTransaction(c -> {
            update(c, "UPDATE users SET disabled = ? WHERE id = ?", disabled ? 1 : 0, userId);
            if (disabled) {
                update(c, "DELETE FROM sessions WHERE user_id = ?", userId);
                update(c, "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                        now(), userId);
            }
            return null;
        });
    }

    public void setRole(long userId, Role role) {
        db.inTransaction(c -> update(c, "UPDATE users SET role = ? WHERE id = ?", role.wireName(), userId));
    }

    // ---------------------------------------------------------------- invitations

    public void createInvitation(String tokenHash, Role role, long createdBy, long expiresAt) {
        db.inTransaction(c -> update(c, "INSERT INTO invitations (token_hash, role, created_by, created_at,"
                + " expires_at) VALUES (?, ?, ?, ?, ?)", tokenHash, role.wireName(), createdBy, now(), expiresAt));
    }

    /** The role an invitation grants, while it is unused and unexpired. */
    public Optional<Role> invitationRole(String tokenHash) {
        return db.inTransaction(c -> one(c, "SELECT role FROM invitations WHERE token_hash = ? AND used_at IS NULL"
                + " AND expires_at > ?", rs -> Role.parse(rs.getString(1)), tokenHash, now()));
    }

    /** Makes the account an invitation is for, and uses the invitation up (once, whatever the concurrency). */
    public User redeemInvitation(String tokenHash, String name, String passwordHash) {
        checkUserName(name);
        return conflictOnDuplicate("the user name \"" + name + "\" is taken, or the invitation was used meanwhile",
                () -> db.inTransaction(c -> redeem(c, tokenHash, name, passwordHash)));
    }

    private User redeem(Connection c, String tokenHash, String name, String passwordHash) throws SQLException {
        Optional<Role> role = one(c, "SELECT role FROM invitations WHERE token_hash = ? AND used_at IS NULL"
                + " AND expires_at > ?", rs -> Role.parse(rs.getString(1)), tokenHash, now());
        if (role.isEmpty()) {
            throw new StoreConflict("this invitation is unknown, used or expired");
        }
        User u = insertUser(c, name, passwordHash, role.get());
        int n = update(c, "UPDATE invitations SET used_by = ?, used_at = ? WHERE token_hash = ?"
                + " AND used_at IS NULL", u.id(), now(), tokenHash);
        if (n != 1) {
            throw new StoreConflict("this invitation was used meanwhile");
        }
        return u;
    }

    // ---------------------------------------------------------------- sessions and API tokens

    public void createSession(String tokenHash, long userId, String csrfToken, long expiresAt) {
        db.inTransaction(c -> update(c, "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at,"
                + " expires_at) VALUES (?, ?, ?, ?, ?)", tokenHash, userId, csrfToken, now(), expiresAt));
    }

    /** The live session with this token hash, if its user is still enabled. */
    public Optional<Session> session(String tokenHash) {
        return db.read(c -> one(c, "SELECT u.id, u.name, u.role, u.disabled, u.created_at, s.csrf_token,"
                        + " s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id"
                        + " WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0",
                rs -> new Session(user(rs), rs.getString("csrf_token"), rs.getLong("expires_at")), tokenHash, now()));
    }

    public void deleteSession(String tokenHash) {
        db.inTransaction(c -> update(c, "DELETE FROM sessions WHERE token_hash = ?", tokenHash));
    }

    public void deleteSessions(long userId) {
        db.inTransaction(c -> update(c, "DELETE FROM sessions WHERE user_id = ?", userId));
    }

    public void deleteExpiredSessions() {
        db.inTransaction(c -> update(c, "DELETE FROM sessions WHERE expires_at <= ?", now()));
    }

    /** An API token for scripts; returns its id. */
    public long createApiToken(long userId, String name, String tokenHash) {
        return db.inTransaction(c -> {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO api_tokens (user_id, name, token_hash,"
                    + " created_at) VALUES (?, ?, ?, ?) RETURNING id")) {
                bind(ps, userId, name, tokenHash, now());
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return rs.getLong(1);
                }
            }
        });
    }

    /** The enabled user an unrevoked API token belongs to. */
    public Optional<User> userForApiToken(String tokenHash) {
        return db.read(c -> one(c, "SELECT u.id, u.name, u.role, u.disabled, u.created_at FROM api_tokens t"
                + " JOIN users u ON u.id = t.user_id WHERE t.token_hash = ? AND t.revoked_at IS NULL"
                + " AND u.disabled = 0", FeedbackStore::user, tokenHash));
    }

    /** Revokes a token of {@code userId}; false when there is no such live token. */
    public boolean revokeApiToken(long tokenId, long userId) {
        return db.inTransaction(c -> update(c, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND user_id = ?"
                + " AND revoked_at IS NULL", now(), tokenId, userId) == 1);
    }

    /** An API token as listed to its owner (never the token itself). */
    public record ApiToken(long id, String name, long createdAt, Long revokedAt) {
    }

    /** The API tokens of {@code userId}, newest first. */
    public List<ApiToken> apiTokens(long userId) {
        return db.inTransaction(c -> list(c, "SELECT id, name, created_at, revoked_at FROM api_tokens"
                + " WHERE user_id = ? ORDER BY id DESC", rs -> new ApiToken(rs.getLong(1), rs.getString(2),
                rs.getLong(3), nullableLong(rs, 4)), userId));
    }

    // ---------------------------------------------------------------- projects

    public Project createProject(ProjectSettings s, Long createdBy) {
        return conflictOnDuplicate("a project named \"" + s.name() + "\" exists", () -> db.inTransaction(c -> {
            if (exists(c, "SELECT 1 FROM projects WHERE name = ?", s.name())) {
                throw new StoreConflict("a project named \"" + s.name() + "\" exists");
            }
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO projects (name, task_type, guidelines,"
                    + " responses_per_item, overlap, overlap_annotators, temperature, top_p, max_new_tokens,"
                    + " policy_model, reward_model, created_by, created_at)"
                    + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING " + PROJECT_COLUMNS)) {
                bind(ps, s.name(), s.taskType().wireName(), s.guidelines(), s.responsesPerItem(), s.overlap(),
                        s.overlapAnnotators(), s.sampling().temperature(), s.sampling().topP(),
                        s.sampling().maxNewTokens(), s.policyModel(), s.rewardModel(), createdBy, now());
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return project(rs);
                }
            }
        }));
    }

    /**
     * Changes a project's settings. Its task type and K are fixed once it has items; a new overlap applies to the
     * items added from then on.
     */
    public Project updateProject(long id, ProjectSettings s) {
        return db.inTransaction(c -> {
            Project old = one(c, "SELECT " + PROJECT_COLUMNS + " FROM projects WHERE id = ?", FeedbackStore::project,
                    id).orElseThrow(() -> new StoreConflict("no project " + id));
            boolean hasItems = exists(c, "SELECT 1 FROM items WHERE project_id = ?", id);
            if (hasItems && (old.taskType() != s.taskType()
                    || old.settings().responsesPerItem() != s.responsesPerItem())) {
                throw new StoreConflict("the task type and responses per item of a project with items cannot change");
            }
            if (!old.name().equals(s.name()) && exists(c, "SELECT 1 FROM projects WHERE name = ?", s.name())) {
                throw new StoreConflict("a project named \"" + s.name() + "\" exists");
            }
            update(c, "UPDATE projects SET name = ?, task_type = ?, guidelines = ?, responses_per_item = ?,"
                    + " overlap = ?, overlap_annotators = ?, temperature = ?, top_p = ?, max_new_tokens = ?,"
                    + " policy_model = ?, reward_model = ? WHERE id = ?", s.name(), s.taskType().wireName(),
                    s.guidelines(), s.responsesPerItem(), s.overlap(), s.overlapAnnotators(),
                    s.sampling().temperature(), s.sampling().topP(), s.sampling().maxNewTokens(), s.policyModel(),
                    s.rewardModel(), id);
            return new Project(id, s, old.createdBy(), old.createdAt());
        });
    }

    public Optional<Project> project(long id) {
        return db.read(c -> one(c, "SELECT " + PROJECT_COLUMNS + " FROM projects WHERE id = ?",
                FeedbackStore::project, id));
    }

    public Optional<Project> projectByName(String name) {
        return db.inTransaction(c -> one(c, "SELECT " + PROJECT_COLUMNS + " FROM projects WHERE name = ?",
                FeedbackStore::project, name));
    }

    public List<Project> projects() {
        return db.inTransaction(c -> list(c, "SELECT " + PROJECT_COLUMNS + " FROM projects ORDER BY id",
                FeedbackStore::project));
    }

    public ProjectCounts counts(long projectId) {
        return db.inTransaction(c -> {
            int k = count(c, "SELECT responses_per_item FROM projects WHERE id = ?", projectId);
            int items = count(c, "SELECT COUNT(*) FROM items WHERE project_id = ?", projectId);
            int ready = count(c, "SELECT COUNT(*) FROM items i WHERE i.project_id = ? AND (SELECT COUNT(*) FROM"
                    + " responses r WHERE r.item_id = i.id) >= ?", projectId, k);
            int labels = count(c, "SELECT COUNT(*) FROM labels l JOIN items i ON i.id = l.item_id"
                    + " WHERE i.project_id = ?", projectId);
            int complete = count(c, "SELECT COUNT(*) FROM items i WHERE i.project_id = ? AND (SELECT COUNT(*) FROM"
                    + " labels l WHERE l.item_id = i.id) >= i.replicas", projectId);
            return new ProjectCounts(items, ready, labels, complete);
        });
    }

    // ---------------------------------------------------------------- items and responses

    /**
     * Adds items to a project; an item whose external id the project already has is skipped (so importing a file
     * twice adds nothing). Each item either has all K responses or none (they are sampled later). The overlap share
     * is spread evenly: item number n (0-based, in the order added) goes to {@code overlapAnnotators} people when
     * floor((n + 1) · overlap) > floor(n · overlap).
     */
    public List<Item> addItems(long projectId, List<NewItem> items) {
        // two requests adding one external id at once (PostgreSQL's read committed lets both find it new) meet at the
        // unique index: the second is a conflict, to be sent again (when it adds nothing), not a server error
        return conflictOnDuplicate("an item with one of these ids was added meanwhile: send them again",
                () -> db.inTransaction(c -> insertItems(c, projectId, items)));
    }

    private List<Item> insertItems(Connection c, long projectId, List<NewItem> items) throws SQLException {
        Project p = one(c, "SELECT " + PROJECT_COLUMNS + " FROM projects WHERE id = ?", FeedbackStore::project,
                projectId).orElseThrow(() -> new StoreConflict("no project " + projectId));
        int k = p.settings().responsesPerItem();
        for (int i = 0; i < items.size(); i++) {
            int n = items.get(i).responses().size();
            if (n != 0 && n != k) {
                throw new IllegalArgumentException("item " + (i + 1) + " has " + n + " responses; project \""
                        + p.name() + "\" takes " + k + " per item (or none, to sample them)");
            }
        }
        int index = count(c, "SELECT COUNT(*) FROM items WHERE project_id = ?", projectId);
        double overlap = p.settings().overlap();
        List<Item> added = new ArrayList<>();
        long now = now();
        for (NewItem ni : items) {
            if (ni.externalId() != null && exists(c, "SELECT 1 FROM items WHERE project_id = ? AND"
                    + " external_id = ?", projectId, ni.externalId())) {
                continue;
            }
            boolean overlapped = Math.floor((index + 1) * overlap) > Math.floor(index * overlap);
            int replicas = overlapped ? p.settings().overlapAnnotators() : 1;
            index++;
            Item item;
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO items (project_id, prompt, messages,"
                    + " external_id, replicas, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING "
                    + ITEM_COLUMNS)) {
                bind(ps, projectId, ni.prompt(), ni.messages() == null ? null : json(ni.messages()),
                        ni.externalId(), replicas, now);
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    item = item(rs);
                }
            }
            insertResponses(c, item.id(), 0, ni.responses(), "import", now);
            added.add(item);
        }
        return added;
    }

    private static void insertResponses(Connection c, long itemId, int from, List<String> texts, String source,
                                        long now) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO responses (item_id, position, text, source,"
                + " created_at) VALUES (?, ?, ?, ?, ?)")) {
            for (int i = 0; i < texts.size(); i++) {
                bind(ps, itemId, from + i, texts.get(i), source, now);
                ps.addBatch();
            }
            ps.executeBatch();
        }
    }

    /**
     * Adds sampled responses to an item after those it has; refuses to go past the project's K. {@code source}
     * names where they come from (the model's path).
     */
    public void addResponses(long itemId, List<String> texts, String source) {
        db.inTransaction(c -> {
            int k = count(c, "SELECT p.responses_per_item FROM items i JOIN projects p ON p.id = i.project_id"
                    + " WHERE i.id = ?", itemId);
            int have = count(c, "SELECT COUNT(*) FROM responses WHERE item_id = ?", itemId);
            if (have + texts.size() > k) {
                throw new StoreConflict("item " + itemId + " has " + have + " of " + k + " responses; "
                        + texts.size() + " more is too many");
            }
            insertResponses(c, itemId, have, texts, source, now());
            return null;
        });
    }

    public List<Item> items(long projectId) {
        return db.inTransaction(c -> list(c, "SELECT " + ITEM_COLUMNS + " FROM items WHERE project_id = ?"
                + " ORDER BY id", FeedbackStore::item, projectId));
    }

    /**
     * The items of a project whose external id starts with {@code prefix} (every item that has one when the prefix
     * is empty), by id: how a caller that names its items (the loop, with ids like {@code r2-17}) finds them again.
     */
    public List<Item> itemsByExternalIdPrefix(long projectId, String prefix) {
        return db.inTransaction(c -> list(c, "SELECT " + ITEM_COLUMNS + " FROM items i WHERE i.project_id = ?"
                + EXTERNAL_ID_PREFIX + " ORDER BY i.id", FeedbackStore::item, projectId, length(prefix), prefix));
    }

    /** The responses of {@link #itemsByExternalIdPrefix}'s items, by item id, each list in position order. */
    public Map<Long, List<Response>> responsesByExternalIdPrefix(long projectId, String prefix) {
        return db.inTransaction(c -> {
            Map<Long, List<Response>> out = new LinkedHashMap<>();
            for (Response r : list(c, "SELECT r.id, r.item_id, r.position, r.text, r.source FROM responses r"
                    + " JOIN items i ON i.id = r.item_id WHERE i.project_id = ?" + EXTERNAL_ID_PREFIX
                    + " ORDER BY r.item_id, r.position", FeedbackStore::response, projectId, length(prefix), prefix)) {
                out.computeIfAbsent(r.itemId(), x -> new ArrayList<>()).add(r);
            }
            return out;
        });
    }

    private static int length(String prefix) {
        return prefix.codePointCount(0, prefix.length());
    }

    /**
     * Closes the open items of a project with these external ids: each needs no more labels than it has (its
     * replicas are set to its labels), so the queue hands it to nobody else and it counts as complete; its labels
     * stay. For a caller whose round is over (the loop, at its round's timeout): what was not labelled by then would
     * otherwise stay ahead of the next round's items in everyone's queue. Returns how many were open.
     */
    public int closeItems(long projectId, Collection<String> externalIds) {
        return db.inTransaction(c -> {
            int closed = 0;
            try (PreparedStatement ps = c.prepareStatement("UPDATE items SET replicas = labelled WHERE project_id = ?"
                    + " AND external_id = ? AND labelled < replicas")) {
                for (String id : externalIds) {
                    bind(ps, projectId, id);
                    closed += ps.executeUpdate();
                }
            }
            return closed;
        });
    }

    /** The items of a project that have fewer responses than its K. */
    public List<Item> itemsMissingResponses(long projectId) {
        return db.inTransaction(c -> list(c, "SELECT i.id, i.project_id, i.prompt, i.messages, i.external_id,"
                + " i.replicas, i.created_at FROM items i JOIN projects p ON p.id = i.project_id WHERE i.project_id = ?"
                + " AND (SELECT COUNT(*) FROM responses r WHERE r.item_id = i.id) < p.responses_per_item"
                + " ORDER BY i.id", FeedbackStore::item, projectId));
    }

    public Optional<Item> item(long id) {
        return db.read(c -> one(c, "SELECT " + ITEM_COLUMNS + " FROM items WHERE id = ?",
                FeedbackStore::item, id));
    }

    public List<Response> responses(long itemId) {
        return db.inTransaction(c -> responses(c, itemId));
    }

    private static List<Response> responses(Connection c, long itemId) throws SQLException {
        return list(c, "SELECT id, item_id, position, text, source FROM responses WHERE item_id = ?"
                + " ORDER BY position", FeedbackStore::response, itemId);
    }

    /** Every response of a project, by item id, each list in position order. */
    public Map<Long, List<Response>> responsesOfProject(long projectId) {
        return db.inTransaction(c -> {
            Map<Long, List<Response>> out = new LinkedHashMap<>();
            for (Response r : list(c, "SELECT r.id, r.item_id, r.position, r.text, r.source FROM responses r"
                    + " JOIN items i ON i.id = r.item_id WHERE i.project_id = ? ORDER BY r.item_id, r.position",
                    FeedbackStore::response, projectId)) {
                out.computeIfAbsent(r.itemId(), x -> new ArrayList<>()).add(r);
            }
            return out;
        });
    }

    // ---------------------------------------------------------------- the queue

    /**
     * The next item for {@code userId} in a project, reserved for them: the item they already hold if any, else the
     * first ready item they have not labelled that still has a free replica. Empty when their queue is done.
     */
    public Optional<Task> nextTask(long projectId, long userId) {
        return nextTask(projectId, userId, List.of());
    }

    /**
     * {@link #nextTask(long, long)} passing over the items in {@code skipped} (those this person skipped in the
     * web app: without it the queue would hand the skipped item straight back).
     */
    public Optional<Task> nextTask(long projectId, long userId, Collection<Long> skipped) {
        String notSkipped = skipped.isEmpty() ? "" : " AND i.id NOT IN (" + String.join(", ",
                skipped.stream().map(id -> Long.toString(id)).toList()) + ")";
        return db.inTransaction(c -> {
            long now = now();
            Project p = one(c, "SELECT " + PROJECT_COLUMNS + " FROM projects WHERE id = ?", FeedbackStore::project,
                    projectId).orElseThrow(() -> new StoreConflict("no project " + projectId));
            // the item this person holds, else the first free one: two queries, so that the second can stop at the
            // first item that qualifies (one query ordering held items first read every item of the project on
            // every call, which made a project of 50 000 items answer in seconds under load)
            String ready = " AND (SELECT COUNT(*) FROM responses r WHERE r.item_id = i.id) >= ?"
                    + " AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.item_id = i.id AND l.user_id = ?)" + notSkipped;
            // (assignments are deleted when labelled: a small table, read first; CROSS JOIN keeps SQLite's planner
            // from walking every item of the project instead)
            Optional<Item> next = one(c, "SELECT " + ITEM_COLUMNS + " FROM assignments a CROSS JOIN items i"
                    + " WHERE i.id = a.item_id AND a.user_id = ? AND a.expires_at > ? AND i.project_id = ?" + ready
                    + " ORDER BY i.id LIMIT 1",
                    FeedbackStore::item, userId, now, projectId, p.settings().responsesPerItem(), userId);
            if (next.isEmpty()) {
                // PostgreSQL (read committed): two people asking at once could both see an item's last replica
                // free. A transaction lock per project makes the choices of free items one at a time (SQLite's
                // writers are one at a time anyway); the query after it sees every reservation committed before.
                if (db.dialect() == Database.Dialect.POSTGRESQL) {
                    one(c, "SELECT pg_advisory_xact_lock(?)", rs -> true, QUEUE_LOCK ^ projectId);
                }
                // (labelled < replicas: the open items, through the partial index items_open)
                next = one(c, "SELECT " + ITEM_COLUMNS + " FROM items i WHERE i.project_id = ?"
                        + " AND i.labelled < i.replicas" + ready
                        + " AND i.labelled + (SELECT COUNT(*) FROM assignments a WHERE a.item_id = i.id"
                        + " AND a.expires_at > ?) < i.replicas ORDER BY i.id LIMIT 1",
                        FeedbackStore::item, projectId, p.settings().responsesPerItem(), userId, now);
            }
            if (next.isEmpty()) {
                return Optional.<Task>empty();
            }
            Item item = next.get();
            update(c, "INSERT INTO assignments (item_id, user_id, assigned_at, expires_at) VALUES (?, ?, ?, ?)"
                    + " ON CONFLICT (item_id, user_id) DO UPDATE SET assigned_at = CASE WHEN"
                    + " assignments.expires_at <= ? THEN excluded.assigned_at ELSE assignments.assigned_at END,"
                    + " expires_at = excluded.expires_at", item.id(), userId, now, now + ASSIGNMENT_MILLIS, now);
            long assignedAt = one(c, "SELECT assigned_at FROM assignments WHERE item_id = ? AND user_id = ?",
                    rs -> rs.getLong(1), item.id(), userId).orElse(now);
            return Optional.of(new Task(p, item, responses(c, item.id()), assignedAt));
        });
    }

    /** Releases an item a person holds without labelling it (skip), so it goes to someone else. */
    public void release(long itemId, long userId) {
        db.inTransaction(c -> update(c, "DELETE FROM assignments WHERE item_id = ? AND user_id = ?", itemId, userId));
    }

    // ---------------------------------------------------------------- labels

    /**
     * Stores a label once. A submit whose request id is already stored for the same person and item returns that
     * label ({@code repeated}); anything else that does not fit the item — another kind, responses not its own, a
     * ranking that is not a permutation of them, an item this person labelled already or was not given — is
     * refused ({@link IllegalArgumentException} or {@link StoreConflict}) and stores nothing.
     */
    public Submission submit(NewLabel l) {
        try {
            return db.inTransaction(c -> {
                Optional<Label> earlier = labelByRequest(c, l.requestId());
                if (earlier.isPresent()) {
                    return repeated(earlier.get(), l);
                }
                return new Submission(insertLabel(c, l), false);
            });
        } catch (StoreConflict e) {
            // two submits of one request id raced (PostgreSQL's read committed): the first committed after this one
            // looked the request id up and before it checked the item, which it then found labelled by this person
            Optional<Label> earlier = db.inTransaction(c -> labelByRequest(c, l.requestId()));
            if (earlier.isPresent()) {
                return repeated(earlier.get(), l);
            }
            throw e;
        } catch (StoreException e) {
            // two submits of one request id raced past the check (PostgreSQL's read committed): the unique index
            // stored one; the other is that one repeated
            if (e.getCause() instanceof SQLException s && isUniqueViolation(s)) {
                Optional<Label> earlier = db.inTransaction(c -> labelByRequest(c, l.requestId()));
                if (earlier.isPresent()) {
                    return repeated(earlier.get(), l);
                }
                throw new StoreConflict("item " + l.itemId() + " is already labelled by this user");
            }
            throw e;
        }
    }

    private static Submission repeated(Label earlier, NewLabel l) {
        if (earlier.userId() != l.userId() || earlier.itemId() != l.itemId()) {
            throw new StoreConflict("request id \"" + l.requestId() + "\" was used for another label");
        }
        return new Submission(earlier, true);
    }

    private static boolean isUniqueViolation(SQLException e) {
        // PostgreSQL: SQLSTATE 23505; SQLite: SQLITE_CONSTRAINT (19) with the UNIQUE message
        return "23505".equals(e.getSQLState()) || (e.getErrorCode() == 19 && String.valueOf(e.getMessage())
                .contains("UNIQUE"));
    }

    private Optional<Label> labelByRequest(Connection c, String requestId) throws SQLException {
        return one(c, "SELECT " + LABEL_COLUMNS + " FROM labels l WHERE l.request_id = ?", FeedbackStore::label,
                requestId);
    }

    private Label insertLabel(Connection c, NewLabel l) throws SQLException {
        long now = now();
        Item item = one(c, "SELECT " + ITEM_COLUMNS + " FROM items WHERE id = ?", FeedbackStore::item, l.itemId())
                .orElseThrow(() -> new IllegalArgumentException("no item " + l.itemId()));
        Project p = one(c, "SELECT " + PROJECT_COLUMNS + " FROM projects WHERE id = ?", FeedbackStore::project,
                item.projectId()).orElseThrow();
        if (p.taskType() != l.kind()) {
            throw new IllegalArgumentException("item " + item.id() + " takes a " + p.taskType().wireName()
                    + ", not a " + l.kind().wireName());
        }
        List<Response> rs = responses(c, item.id());
        if (rs.size() < p.settings().responsesPerItem()) {
            throw new StoreConflict("item " + item.id() + " is not ready: its responses are being sampled");
        }
        Set<Long> ids = new HashSet<>();
        rs.forEach(r -> ids.add(r.id()));
        switch (l.kind()) {
            case COMPARISON -> {
                if (!ids.contains(l.leftResponseId()) || !ids.contains(l.rightResponseId())
                        || l.leftResponseId().equals(l.rightResponseId())) {
                    throw new IllegalArgumentException("left and right must be the two responses of item "
                            + item.id());
                }
            }
            case RANKING -> {
                if (!isPermutation(l.ranking(), ids) || !isPermutation(l.displayOrder(), ids)) {
                    throw new IllegalArgumentException("the ranking and the order shown must each hold every"
                            + " response of item " + item.id() + " once");
                }
            }
            case DEMONSTRATION -> {
                // nothing to check against the item
            }
        }
        if (exists(c, "SELECT 1 FROM labels WHERE item_id = ? AND user_id = ?", item.id(), l.userId())) {
            throw new StoreConflict("item " + item.id() + " is already labelled by this user");
        }
        Optional<Long> assignedAt = one(c, "SELECT assigned_at FROM assignments WHERE item_id = ? AND user_id = ?"
                + " AND expires_at > ?", r -> r.getLong(1), item.id(), l.userId(), now);
        if (assignedAt.isEmpty()) {
            // not handed to this person (or the reservation lapsed): allowed only while a replica is free
            int taken = count(c, "SELECT (SELECT COUNT(*) FROM labels WHERE item_id = ?)"
                    + " + (SELECT COUNT(*) FROM assignments WHERE item_id = ? AND expires_at > ?)", item.id(),
                    item.id(), now);
            if (taken >= item.replicas()) {
                throw new StoreConflict("item " + item.id() + " is not in this user's queue");
            }
        }
        Label stored;
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO labels (request_id, item_id, user_id, kind,"
                + " verdict, left_response_id, right_response_id, chosen_response_id, strength, ranking,"
                + " display_order, demonstration, flags, note, started_at, created_at)"
                + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id")) {
            bind(ps, l.requestId(), l.itemId(), l.userId(), l.kind().wireName(),
                    l.verdict() == null ? null : l.verdict().wireName(), l.leftResponseId(), l.rightResponseId(),
                    l.chosenResponseId(), l.strength(), l.ranking() == null ? null : json(l.ranking()),
                    l.displayOrder() == null ? null : json(l.displayOrder()), l.demonstration(), Flag.join(l.flags()),
                    l.note(), assignedAt.orElse(now), now);
            try (ResultSet r = ps.executeQuery()) {
                r.next();
                stored = new Label(r.getLong(1), l.requestId(), l.itemId(), l.userId(), l.kind(), l.verdict(),
                        l.leftResponseId(), l.rightResponseId(), l.chosenResponseId(), l.strength(), l.ranking(),
                        l.displayOrder(), l.demonstration(), l.flags(), l.note(), assignedAt.orElse(now), now);
            }
        }
        update(c, "UPDATE items SET labelled = labelled + 1 WHERE id = ?", item.id());
        update(c, "DELETE FROM assignments WHERE item_id = ? AND user_id = ?", item.id(), l.userId());
        return stored;
    }

    private static boolean isPermutation(List<Long> order, Set<Long> ids) {
        return order != null && order.size() == ids.size() && new HashSet<>(order).equals(ids);
    }

    /** Every label of a project, in the order stored. */
    public List<Label> labels(long projectId) {
        return db.inTransaction(c -> list(c, "SELECT " + LABEL_COLUMNS + " FROM labels l JOIN items i"
                + " ON i.id = l.item_id WHERE i.project_id = ? ORDER BY l.id", FeedbackStore::label, projectId));
    }

    /** The labels one person gave in a project. */
    public List<Label> labelsBy(long projectId, long userId) {
        return db.inTransaction(c -> list(c, "SELECT " + LABEL_COLUMNS + " FROM labels l JOIN items i"
                + " ON i.id = l.item_id WHERE i.project_id = ? AND l.user_id = ? ORDER BY l.id",
                FeedbackStore::label, projectId, userId));
    }

    /**
     * The labels of a project's items whose external id starts with {@code prefix}, in the order stored; only
     * {@code userId}'s when it is not null.
     */
    public List<Label> labelsByExternalIdPrefix(long projectId, String prefix, Long userId) {
        String byUser = userId == null ? "" : " AND l.user_id = ?";
        Object[] args = userId == null ? new Object[] {projectId, length(prefix), prefix}
                : new Object[] {projectId, length(prefix), prefix, userId};
        return db.inTransaction(c -> list(c, "SELECT " + LABEL_COLUMNS + " FROM labels l JOIN items i"
                + " ON i.id = l.item_id WHERE i.project_id = ?" + EXTERNAL_ID_PREFIX + byUser + " ORDER BY l.id",
                FeedbackStore::label, args));
    }

    public Optional<Label> labelByRequestId(String requestId) {
        return db.inTransaction(c -> labelByRequest(c, requestId));
    }

    // ---------------------------------------------------------------- generation jobs

    public GenerationJob createJob(long projectId, String model, int total, Long createdBy) {
        return db.inTransaction(c -> {
            try (PreparedStatement ps = c.prepareStatement("INSERT INTO generation_jobs (project_id, model, status,"
                    + " done, total, created_by, created_at) VALUES (?, ?, 'queued', 0, ?, ?, ?) RETURNING "
                    + JOB_COLUMNS)) {
                bind(ps, projectId, model, total, createdBy, now());
                try (ResultSet rs = ps.executeQuery()) {
                    rs.next();
                    return job(rs);
                }
            }
        });
    }

    public void jobProgress(long jobId, GenerationJob.Status status, int done) {
        db.inTransaction(c -> update(c, "UPDATE generation_jobs SET status = ?, done = ? WHERE id = ?",
                status.wireName(), done, jobId));
    }

    public void finishJob(long jobId, GenerationJob.Status status, String error) {
        db.inTransaction(c -> update(c, "UPDATE generation_jobs SET status = ?, error = ?, finished_at = ?"
                + " WHERE id = ?", status.wireName(), error, now(), jobId));
    }

    public Optional<GenerationJob> job(long id) {
        return db.inTransaction(c -> one(c, "SELECT " + JOB_COLUMNS + " FROM generation_jobs WHERE id = ?",
                FeedbackStore::job, id));
    }

    public List<GenerationJob> jobs(long projectId) {
        return db.inTransaction(c -> list(c, "SELECT " + JOB_COLUMNS + " FROM generation_jobs WHERE project_id = ?"
                + " ORDER BY id DESC", FeedbackStore::job, projectId));
    }

    /** Marks jobs left queued or running by a server that stopped as failed (called when a server starts). */
    public int failInterruptedJobs() {
        return db.inTransaction(c -> update(c, "UPDATE generation_jobs SET status = 'failed', error = ?,"
                + " finished_at = ? WHERE status IN ('queued', 'running')", "the server stopped during the job",
                now()));
    }

    // ---------------------------------------------------------------- audit log

    /** Records an admin action ({@code userId} null for the command line). */
    public void audit(Long userId, String action, String detail) {
        db.inTransaction(c -> update(c, "INSERT INTO audit_log (user_id, action, detail, created_at)"
                + " VALUES (?, ?, ?, ?)", userId, action, detail, now()));
    }

    /** The latest {@code limit} audit entries, newest first. */
    public List<AuditEntry> auditLog(int limit) {
        return db.inTransaction(c -> list(c, "SELECT a.id, a.user_id, u.name, a.action, a.detail, a.created_at"
                + " FROM audit_log a LEFT JOIN users u ON u.id = a.user_id ORDER BY a.id DESC LIMIT ?",
                rs -> new AuditEntry(rs.getLong(1), nullableLong(rs, 2), rs.getString(3), rs.getString(4),
                        rs.getString(5), rs.getLong(6)), limit));
    }

    // ---------------------------------------------------------------- rows

    @FunctionalInterface
    private interface Row<T> {
        T map(ResultSet rs) throws SQLException;
    }

    private static User user(ResultSet rs) throws SQLException {
        return new User(rs.getLong("id"), rs.getString("name"), Role.parse(rs.getString("role")),
                rs.getInt("disabled") != 0, rs.getLong("created_at"));
    }

    private static Project project(ResultSet rs) throws SQLException {
        ProjectSettings s = new ProjectSettings(rs.getString("name"), TaskType.parse(rs.getString("task_type")),
                rs.getString("guidelines"), rs.getInt("responses_per_item"), rs.getDouble("overlap"),
                rs.getInt("overlap_annotators"), new Sampling(rs.getDouble("temperature"), rs.getDouble("top_p"),
                rs.getInt("max_new_tokens")), rs.getString("policy_model"), rs.getString("reward_model"));
        return new Project(rs.getLong("id"), s, nullableLong(rs, "created_by"), rs.getLong("created_at"));
    }

    private static Item item(ResultSet rs) throws SQLException {
        String messages = rs.getString("messages");
        return new Item(rs.getLong("id"), rs.getLong("project_id"), rs.getString("prompt"),
                messages == null ? null : parse(messages, MESSAGES), rs.getString("external_id"),
                rs.getInt("replicas"), rs.getLong("created_at"));
    }

    private static Response response(ResultSet rs) throws SQLException {
        return new Response(rs.getLong(1), rs.getLong(2), rs.getInt(3), rs.getString(4), rs.getString(5));
    }

    private static Label label(ResultSet rs) throws SQLException {
        String verdict = rs.getString("verdict");
        String ranking = rs.getString("ranking");
        String order = rs.getString("display_order");
        Integer strength = rs.getObject("strength") == null ? null : rs.getInt("strength");
        return new Label(rs.getLong("id"), rs.getString("request_id"), rs.getLong("item_id"), rs.getLong("user_id"),
                TaskType.parse(rs.getString("kind")), verdict == null ? null : Verdict.parse(verdict),
                nullableLong(rs, "left_response_id"), nullableLong(rs, "right_response_id"),
                nullableLong(rs, "chosen_response_id"), strength, ranking == null ? null : parse(ranking, LONGS),
                order == null ? null : parse(order, LONGS), rs.getString("demonstration"),
                Flag.split(rs.getString("flags")), rs.getString("note"), rs.getLong("started_at"),
                rs.getLong("created_at"));
    }

    private static GenerationJob job(ResultSet rs) throws SQLException {
        return new GenerationJob(rs.getLong("id"), rs.getLong("project_id"), rs.getString("model"),
                GenerationJob.Status.parse(rs.getString("status")), rs.getInt("done"), rs.getInt("total"),
                rs.getString("error"), rs.getLong("created_at"), nullableLong(rs, "finished_at"));
    }

    private static Long nullableLong(ResultSet rs, String column) throws SQLException {
        long v = rs.getLong(column);
        return rs.wasNull() ? null : v;
    }

    private static Long nullableLong(ResultSet rs, int column) throws SQLException {
        long v = rs.getLong(column);
        return rs.wasNull() ? null : v;
    }

    private static String json(Object o) {
        try {
            return JSON.writeValueAsString(o);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static <T> T parse(String s, TypeReference<T> type) {
        try {
            return JSON.readValue(s, type);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("malformed JSON in the store: " + e.getOriginalMessage(), e);
        }
    }

    // ---------------------------------------------------------------- JDBC

    private static void bind(PreparedStatement ps, Object... args) throws SQLException {
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            switch (a) {
                case null -> ps.setNull(i + 1, Types.NULL);
                case String s -> ps.setString(i + 1, s);
                case Long v -> ps.setLong(i + 1, v);
                case Integer v -> ps.setInt(i + 1, v);
                case Double v -> ps.setDouble(i + 1, v);
                case Boolean v -> ps.setInt(i + 1, v ? 1 : 0);
                default -> throw new IllegalArgumentException("cannot bind " + a.getClass());
            }
        }
    }

    private static <T> Optional<T> one(Connection c, String sql, Row<T> row, Object... args) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            bind(ps, args);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? Optional.of(row.map(rs)) : Optional.empty();
            }
        }
    }

    private static <T> List<T> list(Connection c, String sql, Row<T> row, Object... args) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            bind(ps, args);
            try (ResultSet rs = ps.executeQuery()) {
                List<T> out = new ArrayList<>();
                while (rs.next()) {
                    out.add(row.map(rs));
                }
                return out;
            }
        }
    }

    private static boolean exists(Connection c, String sql, Object... args) throws SQLException {
        return one(c, sql, rs -> true, args).isPresent();
    }

    private static int count(Connection c, String sql, Object... args) throws SQLException {
        return one(c, sql, rs -> rs.getInt(1), args).orElse(0);
    }

    private static int update(Connection c, String sql, Object... args) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(sql)) {
            bind(ps, args);
            return ps.executeUpdate();
        }
    }
}
