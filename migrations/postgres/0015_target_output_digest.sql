-- Output grouped by content on the task page (issue 12): each target keeps the SHA-256 digest and
-- byte count of the output it stored, computed by the worker as it writes the output and set when
-- the target ends, so "these 287 hosts printed exactly this" is a GROUP BY on the targets of one
-- task, never a read of their output. NULL for targets that ended before this migration (and for
-- targets not ended yet): they form no group. Kept alike in migrations/sqlite and
-- migrations/postgres.
ALTER TABLE targets ADD COLUMN output_digest TEXT;
ALTER TABLE targets ADD COLUMN output_bytes BIGINT;
