-- The host key a platform presented when it no longer matched its pin (issue 12: a mismatch shows
-- both fingerprints and can be trusted from the UI). Set when a connection is refused for a
-- changed host key, cleared when an admin re-trusts; the type is kept so the presented key can be
-- pinned exactly as seen (the trust API needs the type with a fingerprint). Kept alike in
-- migrations/sqlite and migrations/postgres.
ALTER TABLE platforms ADD COLUMN presented_host_key_type TEXT;
ALTER TABLE platforms ADD COLUMN presented_host_key_fingerprint TEXT;
ALTER TABLE platforms ADD COLUMN presented_host_key_at TEXT;
