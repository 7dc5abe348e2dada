-- The audit chain becomes keyed (see src/store/audit_chain.rs and src/audit_key.rs): hash_rule
-- says which rule made an event's hash. Every event written so far keeps the plain SHA-256 rule
-- (`sha256`); events written from now on are MACed (`hmac-sha256`) under the audit chain key,
-- which the first process with the master key records, sealed, in settings (audit_chain_key).
ALTER TABLE audit_events ADD COLUMN hash_rule TEXT NOT NULL DEFAULT 'sha256';
