-- Why a target failed, without what names its platform (crate::tasks::failure_reason of its
-- error), set when the target ends. The task page groups ended targets by output digest, status
-- and this reason, so a host-key change is its own group, not one of 300 empty outputs of
-- "connection refused". NULL for targets without an error and for targets that ended before this
-- migration. Kept alike in migrations/sqlite and migrations/postgres.
ALTER TABLE targets ADD COLUMN error_reason TEXT;
