-- Browser sessions of the web UI. The cookie `testum_session` holds a random token; only its
-- SHA-256 (hex) is stored, so a copy of the database signs nobody in. A session ends at
-- `expires_at`, on logout, or when its user is deleted (cascade), disabled or changes password
-- (store::sessions::end_sessions_of).
CREATE TABLE ui_sessions (
    id         TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX ui_sessions_user ON ui_sessions (user_id);
