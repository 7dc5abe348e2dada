-- The audit log becomes a hash chain (see src/store/audit_chain.rs): seq orders the chain (1, 2,
-- 3, ...), prev_hash is the hash of the event before and hash the SHA-256 of all of an event's
-- columns. The columns stay nullable because SQL alone cannot hash here (SQLite has no SHA-256):
-- events written before this migration are chained, oldest first, by the first testum process
-- that starts after it; the marker row below asks for that and is removed in the same
-- transaction. The unique index makes a fork impossible: two events can never share a seq.
ALTER TABLE audit_events ADD COLUMN seq BIGINT;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_seq ON audit_events (seq);
INSERT INTO settings (name, value) VALUES ('audit_chain_adopt', '\x01'::bytea);
