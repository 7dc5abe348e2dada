-- Sign-in sessions and API tokens. Secrets are never stored: only the SHA-256 (hex) of the
-- opaque token a client holds.
--
-- sessions: one row per refresh token. A login starts a chain (family_id, also the `sid` claim
-- of the access tokens of the chain); each refresh marks its row spent and adds the next row of
-- the same chain. Presenting a spent token again (reuse) revokes every row of the chain.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    spent_at   TEXT,
    revoked_at TEXT
);
CREATE INDEX sessions_family ON sessions (family_id);
CREATE INDEX sessions_user ON sessions (user_id);

-- API tokens for scripts and CI: `Authorization: Bearer tsm_...`, shown once at creation.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at, id);
CREATE INDEX api_tokens_created ON api_tokens (created_at, id);
