-- Task output archive, format 2 (src/archive): an ended task's output is written as segment
-- objects of a few MiB under `[prefix/]tasks/<task_id>/<run>/`, and each segment's index lives
-- here, so a reader finds the byte ranges of one page with one small query and fetches only them.
-- Kept column for column alike in migrations/sqlite and migrations/postgres.
--
-- archive_run: the archiving run whose segments hold the task's output, set in the transaction
-- that sets archived_at. NULL with archived_at set: the task was archived in format 1 (one object
-- `tasks/<task_id>.log`), read through the old decoder.
ALTER TABLE tasks ADD COLUMN archive_run TEXT;

-- One row per segment object of one archiving run. `entries` is the segment's binary index
-- (src/archive/index.rs): per output event its seq, byte length, platform and stream, in seq
-- order; offsets follow from the lengths (the object is the events' bytes concatenated). Rows of
-- a run that did not win the final transaction are removed by that run, or with the task's
-- output by retention.
CREATE TABLE archive_segments (
    task_id    TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    run        TEXT NOT NULL,
    first_seq  INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL,
    object     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    entries    BLOB NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (task_id, run, first_seq)
);
-- A page read looks up the first segment that ends after the page's start.
CREATE INDEX archive_segments_last ON archive_segments (task_id, run, last_seq);

-- Retention (TESTUM_OUTPUT_RETENTION_DAYS) picks the tasks that ended longest ago.
CREATE INDEX tasks_finished_at ON tasks (finished_at);
