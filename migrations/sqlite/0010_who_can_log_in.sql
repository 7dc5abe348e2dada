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
-- a row was never scanned). `lines` and `findings` are JSON lists (src/authorized_keys/scan.rs);
-- each holds at most 10 000 items (`lines_total` and `findings_total` count them all).
CREATE TABLE platform_scans (
    platform_id TEXT PRIMARY KEY REFERENCES platforms (id) ON DELETE CASCADE,
    state       TEXT NOT NULL,
    scanned_at  TEXT NOT NULL,
    task_id     TEXT,
    error       TEXT,
    path        TEXT,
    lines_total INTEGER NOT NULL DEFAULT 0,
    lines       TEXT NOT NULL,
    findings_total INTEGER NOT NULL DEFAULT 0,
    findings    TEXT NOT NULL
);

-- One row per key entry the latest scan found (the access report, GET /api/access): who can
-- log in to which platform. The registry is joined by fingerprint when the report is read, so a
-- key registered after the scan is named at once. `managed` is 1 for a line testum wrote into its
-- block (not for one added there by hand). Replaced as a whole by each scan.
CREATE TABLE access_entries (
    platform_id TEXT NOT NULL REFERENCES platforms (id) ON DELETE CASCADE,
    line_number INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    key_type    TEXT NOT NULL,
    bits        INTEGER,
    managed     INTEGER NOT NULL,
    options     TEXT,
    comment     TEXT,
    scanned_at  TEXT NOT NULL,
    PRIMARY KEY (platform_id, line_number)
);
CREATE INDEX access_entries_fingerprint ON access_entries (fingerprint);
