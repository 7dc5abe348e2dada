-- testum schema, PostgreSQL flavour: the twin of migrations/sqlite, column for column, so one
-- set of statements serves both: ids are UUID text, timestamps are fixed-width RFC 3339 UTC text
-- (lexical order = time order), booleans are 0/1 integers, JSON is text.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    disabled      BIGINT NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL
);

CREATE TABLE keys (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    key_type    TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    bits        BIGINT NOT NULL,
    comment     TEXT,
    owner       TEXT,
    expires_at  TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX keys_created ON keys (created_at, id);

CREATE TABLE platforms (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL UNIQUE,
    host                 TEXT NOT NULL,
    port                 BIGINT NOT NULL,
    username             TEXT NOT NULL,
    auth_method          TEXT NOT NULL,
    credential           BYTEA NOT NULL,
    host_key_policy      TEXT NOT NULL,
    host_key_type        TEXT,
    host_key_fingerprint TEXT,
    authorized_keys_path TEXT NOT NULL,
    tags                 TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX platforms_created ON platforms (created_at, id);

-- Desired state: key K should be on platform P. The sync columns hold the last result.
CREATE TABLE assignments (
    platform_id    TEXT NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
    key_id         TEXT NOT NULL REFERENCES keys (id),
    created_at     TEXT NOT NULL,
    sync_status    TEXT NOT NULL,
    synced_at      TEXT,
    sync_error     TEXT,
    PRIMARY KEY (platform_id, key_id)
);
CREATE INDEX assignments_key ON assignments (key_id);

CREATE TABLE tasks (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    params      TEXT NOT NULL,
    concurrency BIGINT NOT NULL,
    created_by  TEXT NOT NULL,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    last_seq    BIGINT NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    started_at  TEXT,
    finished_at TEXT
);
CREATE INDEX tasks_created ON tasks (created_at, id);

-- One target per platform of a task; the queue is the set of targets with status 'queued'.
CREATE TABLE targets (
    task_id          TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    platform_id      TEXT NOT NULL,
    platform_name    TEXT NOT NULL,
    position         BIGINT NOT NULL,
    status           TEXT NOT NULL,
    exit_code        BIGINT,
    exit_signal      TEXT,
    error            TEXT,
    changed          BIGINT,
    lease_owner      TEXT,
    lease_expires_at TEXT,
    started_at       TEXT,
    finished_at      TEXT,
    PRIMARY KEY (task_id, platform_id)
);
CREATE INDEX targets_status ON targets (status, task_id, position);

-- Everything a task's WebSocket replays, in one per-task sequence: output chunks (exact bytes),
-- target status changes and the final 'done'.
CREATE TABLE task_events (
    task_id     TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    platform_id TEXT,
    stream      TEXT,
    data        BYTEA NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
);

CREATE TABLE audit_events (
    id         TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT,
    outcome    TEXT NOT NULL,
    details    TEXT NOT NULL
);
CREATE INDEX audit_created ON audit_events (created_at, id);
