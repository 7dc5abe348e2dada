-- Two-factor sign-in for local accounts (issue 14: TOTP, RFC 6238). Kept alike in
-- migrations/sqlite and migrations/postgres.
--
-- users.require_totp: an admin asked this user to sign in with a second factor (besides the
-- TESTUM_REQUIRE_TOTP_FOR policy, which is configuration, not data).
ALTER TABLE users ADD COLUMN require_totp INTEGER NOT NULL DEFAULT 0;

-- A user's TOTP secret, at most one per user. `secret` is sealed under the master key with
-- "totp:<id>:user:<user_id>" as associated data (re-sealed by rotate-master-key). Pending until
-- the user proves the app works (`enabled_at` NULL); starting again replaces a pending row.
-- `last_step` is the time step (Unix time / 30) of the last code accepted: a code of that step
-- or an earlier one is refused (RFC 6238 §5.2, a code is accepted once).
CREATE TABLE user_totp (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    secret     BLOB NOT NULL,
    created_at TEXT NOT NULL,
    enabled_at TEXT,
    last_step  INTEGER
);

-- Single-use recovery codes of a user's TOTP, shown once: only SHA-256 of "<user_id>:<code>"
-- (hex) is kept; `used_at` is set when one signs in. Replaced whole when TOTP is turned on
-- again, deleted with it.
CREATE TABLE totp_recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    created_at TEXT NOT NULL,
    used_at    TEXT,
    PRIMARY KEY (user_id, code_hash)
);
