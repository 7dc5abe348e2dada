-- Fleet scale (kept column for column alike in migrations/sqlite and migrations/postgres).
--
-- Leases: named exclusive locks that live in a row, not on a database connection, so nothing
-- holds a pooled connection while the work they guard runs (src/store/leases.rs). `name` is
-- what is locked (`platform:<uuid>` for a sync of that platform's authorized_keys,
-- `job:<name>` for a background job that runs in one process at a time); `owner` is the one
-- holder (a sync or a job run); `worker` is the process's worker id whose heartbeat renews it;
-- a lease whose `expires_at` has passed is free to take.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    worker     TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX leases_worker ON leases (worker);

-- Output bytes a task has stored so far, for TESTUM_MAX_TASK_OUTPUT_BYTES.
ALTER TABLE tasks ADD COLUMN output_bytes BIGINT NOT NULL DEFAULT 0;
-- When retention (TESTUM_OUTPUT_RETENTION_DAYS) deleted the task's output; the task stays.
ALTER TABLE tasks ADD COLUMN output_expired_at TEXT;
-- Warnings about a target's run that are not the command's output (a host key shared with other
-- platforms, deploy notes): a JSON list of strings, NULL for none.
ALTER TABLE targets ADD COLUMN warnings TEXT;
