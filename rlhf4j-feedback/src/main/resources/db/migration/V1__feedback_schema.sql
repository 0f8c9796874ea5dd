-- The feedback store, one schema for SQLite and PostgreSQL. ${id} is the auto-numbered primary key of each
-- dialect (see Database). Times are epoch milliseconds (BIGINT), flags 0/1 integers, lists JSON text.

CREATE TABLE users (
    id ${id},
    name TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'annotator', 'viewer')),
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Invitation links: only the SHA-256 of the token is stored; a token is used once.
CREATE TABLE invitations (
    id ${id},
    token_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'annotator', 'viewer')),
    created_by BIGINT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_by BIGINT REFERENCES users (id),
    used_at BIGINT
);

-- Browser sessions: the cookie holds a random token, the store its SHA-256, so a leaked database opens no session.
CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Bearer tokens for scripts (the JSON API), stored hashed like sessions.
CREATE TABLE api_tokens (
    id ${id},
    user_id BIGINT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE projects (
    id ${id},
    name TEXT NOT NULL UNIQUE,
    task_type TEXT NOT NULL CHECK (task_type IN ('comparison', 'ranking', 'demonstration')),
    guidelines TEXT NOT NULL,
    responses_per_item INTEGER NOT NULL,
    overlap DOUBLE PRECISION NOT NULL,
    overlap_annotators INTEGER NOT NULL,
    temperature DOUBLE PRECISION NOT NULL,
    top_p DOUBLE PRECISION NOT NULL,
    max_new_tokens INTEGER NOT NULL,
    policy_model TEXT,
    reward_model TEXT,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL
);

-- One prompt to label. replicas: how many people label it (overlap_annotators for the overlap share, else 1).
CREATE TABLE items (
    id ${id},
    project_id BIGINT NOT NULL REFERENCES projects (id),
    prompt TEXT NOT NULL,
    messages TEXT,
    external_id TEXT,
    replicas INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (project_id, external_id)
);
CREATE INDEX items_project ON items (project_id);

-- The responses of an item in the order they were imported or sampled (position 0..K-1).
CREATE TABLE responses (
    id ${id},
    item_id BIGINT NOT NULL REFERENCES items (id),
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (item_id, position)
);

-- An item handed to a person and not yet labelled; it holds one of the item's replicas until it expires.
CREATE TABLE assignments (
    item_id BIGINT NOT NULL REFERENCES items (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    assigned_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (item_id, user_id)
);

-- One person's label of one item. request_id is the client's idempotency key: a retried submit is stored once.
-- Comparison: left/right as shown on screen, chosen_response_id null for a tie or both bad.
-- Ranking: ranking and display_order are JSON lists of response ids (best first; as shown).
CREATE TABLE labels (
    id ${id},
    request_id TEXT NOT NULL UNIQUE,
    item_id BIGINT NOT NULL REFERENCES items (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('comparison', 'ranking', 'demonstration')),
    verdict TEXT CHECK (verdict IN ('better', 'tie', 'both_bad')),
    left_response_id BIGINT REFERENCES responses (id),
    right_response_id BIGINT REFERENCES responses (id),
    chosen_response_id BIGINT REFERENCES responses (id),
    strength INTEGER,
    ranking TEXT,
    display_order TEXT,
    demonstration TEXT,
    flags TEXT NOT NULL,
    note TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (item_id, user_id)
);
CREATE INDEX labels_user ON labels (user_id);

CREATE TABLE generation_jobs (
    id ${id},
    project_id BIGINT NOT NULL REFERENCES projects (id),
    model TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    done INTEGER NOT NULL,
    total INTEGER NOT NULL,
    error TEXT,
    created_by BIGINT REFERENCES users (id),
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);

CREATE TABLE audit_log (
    id ${id},
    user_id BIGINT REFERENCES users (id),
    action TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
