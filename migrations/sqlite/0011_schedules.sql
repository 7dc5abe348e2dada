-- Schedules and enforced expiry (issue 11). Kept column for column alike in migrations/sqlite
-- and migrations/postgres.

-- A schedule creates an ordinary task at each firing of its cron expression (5 fields, read in
-- `time_zone`, an IANA name). `kind` is run_command, scan or sync; `selector` picks the
-- platforms at each firing. `next_run_at` is the next firing (NULL while disabled): the process
-- whose compare-and-swap on it succeeds fires the schedule, so a firing runs once however many
-- processes share the database. `last_*` describe the latest firing; `last_task_id` is NULL when
-- that firing created no task (`last_error` says why). `builtin` marks the schedule testum keeps
-- itself (`daily-sync`, from TESTUM_DAILY_SYNC_CRON).
CREATE TABLE schedules (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    cron         TEXT NOT NULL,
    time_zone    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    selector     TEXT NOT NULL,
    command      TEXT,
    timeout_s    INTEGER,
    concurrency  INTEGER NOT NULL,
    enabled      INTEGER NOT NULL,
    builtin      INTEGER NOT NULL DEFAULT 0,
    next_run_at  TEXT,
    last_run_at  TEXT,
    last_task_id TEXT,
    last_error   TEXT,
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_run_at);
CREATE INDEX schedules_created ON schedules (created_at, id);

-- Enforced expiry. `expired_mark` holds the expiry (`expires_at` as stored) whose removal was
-- queued, `expiring_mark` the expiry whose warning was sent: each happens once per expiry value,
-- and again when the expiry is changed.
ALTER TABLE keys ADD COLUMN expired_mark TEXT;
ALTER TABLE keys ADD COLUMN expiring_mark TEXT;
CREATE INDEX keys_expires ON keys (expires_at);

-- An assignment's own expiry, from its `expiry-time` option (NULL without one): with `Z` the
-- time in UTC; without, the host's local time, read as the latest instant it can be anywhere
-- (UTC-12), so testum never removes a key before sshd itself refuses it.
ALTER TABLE assignments ADD COLUMN expires_at TEXT;
ALTER TABLE assignments ADD COLUMN expired_mark TEXT;
ALTER TABLE assignments ADD COLUMN expiring_mark TEXT;
CREATE INDEX assignments_expires ON assignments (expires_at);
