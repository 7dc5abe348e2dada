-- Finished tasks' output moves to the object store (src/archive). When the move is complete,
-- archived_at is set and the task's output rows are deleted, in one transaction; archived_seq is
-- the task's last_seq at that moment: the archived log holds every output event up to it.
-- Kept column for column alike in migrations/sqlite and migrations/postgres.
ALTER TABLE tasks ADD COLUMN archived_at TEXT;
ALTER TABLE tasks ADD COLUMN archived_seq BIGINT;
