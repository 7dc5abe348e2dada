-- Users from a sign-in provider (issue 14): `source` says who vouches for a user's password:
-- 'local' (testum's own Argon2id hash) or a provider ('ldap', later 'oidc:<provider>'), whose
-- users have no usable local password. `subject` is the provider's name for the user (the LDAP
-- entry's DN, an OIDC `sub`), for the audit log. Kept alike in migrations/sqlite and
-- migrations/postgres.
ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'local';
ALTER TABLE users ADD COLUMN subject TEXT;
