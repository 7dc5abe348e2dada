-- Facts about the installation itself, by name. 'master_key_check' holds a value sealed under the
-- master key, so a process started with another key refuses to run instead of sealing new
-- credentials that the other processes cannot open.
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
