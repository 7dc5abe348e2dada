-- Who can log in where (issue 10). Kept column for column alike in migrations/sqlite and
-- migrations/postgres.

-- The authorized_keys options of one assignment, as the options field testum writes in front of
-- the key (`restrict,from="10.0.0.0/8"`), NULL for none. The same key may carry different
-- options on different platforms; changing them rewrites that one line.
ALTER TABLE assignments ADD COLUMN options TEXT;

-- Exclusive mode: a sync of this platform also removes key lines outside testum's block (never
-- the key testum logs in with). Off by default.
ALTER TABLE platforms ADD COLUMN exclusive INTEGER NOT NULL DEFAULT 0;

-- The latest scan of each platform's authorized_keys (a `scan` task, or the read of a deploy or
-- revoke). `state`: in_sync, drift, unreachable, host_key_mismatch or error (a platform without
-- a row was never scanned). `lines` and `findings` are JSON lists (src/scan); `lines` holds at
-- most the first 10 000 lines of a file (`lines_total` counts them all).
CREATE TABLE platform_scans (
    platform_id TEXT PRIMARY KEY REFERENCES platforms (id) ON DELETE CASCADE,
    state       TEXT NOT NULL,
    scanned_at  TEXT NOT NULL,
    task_id     TEXT,
    error       TEXT,
    path        TEXT,
    lines_total INTEGER NOT NULL DEFAULT 0,
    lines       TEXT NOT NULL,
    findings    TEXT NOT NULL
);

-- One row per key entry the latest scan found (the access report, GET /api/access): who can
-- log in to which platform. `key_id` is the registered key with this fingerprint at scan time
-- (NULL: unknown); `managed` is 1 inside testum's block. Replaced as a whole by each scan.
CREATE TABLE access_entries (
    platform_id TEXT NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
    line_number INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    key_type    TEXT NOT NULL,
    bits        INTEGER,
    key_id      TEXT,
    managed     INTEGER NOT NULL,
    options     TEXT,
    comment     TEXT,
    scanned_at  TEXT NOT NULL,
    PRIMARY KEY (platform_id, line_number)
);
CREATE INDEX access_entries_fingerprint ON access_entries (fingerprint);
CREATE INDEX access_entries_key ON access_entries (key_id);
