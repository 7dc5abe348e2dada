//! The master key check: a value sealed under the master key and stored as a setting, so a
//! process started with another key refuses to run instead of sealing credentials no other
//! process can open. `testum serve`/`worker` (`server`), `testum backup` and `restore`
//! (`backup`), `testum doctor` and `testum rotate-master-key` (`admin`) all check or rewrite it.
//!
//! Layering: depends on `store` (the setting), `crypto` (the key) and `audit_key` (the audit
//! chain's key, opened with it) only, so every command that opens a database reaches it without
//! going through `server`.

use anyhow::bail;

use crate::crypto::{CryptoError, Keyring, MasterKey};
use crate::store::Store;

/// Setting holding a value sealed under the master key (see [`check_master_key`]).
pub(crate) const MASTER_KEY_CHECK: &str = "master_key_check";
/// Associated data of that sealed value.
pub(crate) const MASTER_KEY_CHECK_AAD: &[u8] = b"testum master key check";

/// Refuse to run with a master key other than the one the database was set up with: such a
/// process could open no stored credential and would seal new ones that no other process can
/// open. The first process stores a value sealed under its key; every later one must open it.
pub(crate) async fn check_master_key(store: &Store, key: &MasterKey) -> anyhow::Result<()> {
    let stored = store
        .setting_or_insert(MASTER_KEY_CHECK, &key.seal(b"testum", MASTER_KEY_CHECK_AAD))
        .await?;
    judge_master_key(key, &stored)
}

/// `store` after [`check_master_key`], appending keyed audit events under the audit chain key
/// that `key` opens (see [`crate::audit_key`]; the first process keys the chain).
pub(crate) async fn unlock(store: Store, key: &MasterKey) -> anyhow::Result<Store> {
    check_master_key(&store, key).await?;
    crate::audit_key::keyed_store(store, &Keyring::new(key.clone(), Vec::new())).await
}

/// Whether `key` opens `stored`, the database's master key check value; the error names both key
/// ids.
pub(crate) fn judge_master_key(key: &MasterKey, stored: &[u8]) -> anyhow::Result<()> {
    match key.open(stored, MASTER_KEY_CHECK_AAD) {
        Ok(_) => Ok(()),
        Err(CryptoError::WrongKey(expected)) => bail!(
            "the master key (key id {}) is not the one this database was set up with (key id \
             {expected}): give every process the same TESTUM_MASTER_KEY (after an interrupted \
             `testum rotate-master-key`, run it again to finish)",
            key.key_id()
        ),
        Err(e) => bail!("the database's master key check cannot be read: {e}"),
    }
}
