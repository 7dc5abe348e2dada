-- One platform per managed file (issue 13): two platforms on the same host, port, user and
-- authorized_keys path would each rewrite the managed block and drop the other's keys. A unique
-- index replaces the API's check-then-insert, which two concurrent requests (create, PATCH,
-- import) could both pass. Kept alike in migrations/sqlite and migrations/postgres.
--
-- A database that already holds two such platforms cannot take this index: the migration then
-- fails with a unique violation (PostgreSQL names `platforms_one_per_managed_file`, SQLite the
-- columns `platforms.host, platforms.port, platforms.username, platforms.authorized_keys_path`),
-- nothing is changed (the migration is one transaction) and testum does not start. Delete one of
-- the two platforms or point it at another file (README, "Platforms: one per file") and start
-- again.
CREATE UNIQUE INDEX platforms_one_per_managed_file
    ON platforms (host, port, username, authorized_keys_path);
