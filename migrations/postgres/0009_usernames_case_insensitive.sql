-- Usernames are unique whatever their case (issue 13, finding 3): `Alice` and `alice` would be two
-- accounts that read as one in the audit log. Kept alike in migrations/sqlite and
-- migrations/postgres.
--
-- A database that already holds two usernames differing only in case cannot take this index:
-- the migration then fails with a unique violation naming `users_username_case_insensitive`,
-- nothing is changed (the migration is one transaction) and testum does not start. Rename or
-- delete one of the two accounts (README, "Users, sessions and API tokens") and start again.
CREATE UNIQUE INDEX users_username_case_insensitive ON users (lower(username));
