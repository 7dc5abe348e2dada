//! The audit chain's key (see [`crate::store::audit_chain`]), kept in the database sealed under
//! the master key.
//!
//! The setting `audit_chain_key` holds, sealed with [`crate::crypto::MasterKey::seal`] (associated
//! data `testum audit chain key`), `version (1 byte, = 1) || key (32 bytes) || keyed_from (8 bytes,
//! big-endian)`: the HMAC key of the `hmac-sha256` rule and the `seq` of the first keyed event.
//! The first process with the master key after the upgrade (a server, or an admin command that
//! writes audit events) creates it: the key is the master key's subkey for the audit chain, and
//! in the same transaction it appends `audit.chain_keyed`, the first keyed event. From then on the
//! key never changes: `testum rotate-master-key` re-seals the record under the new master key, so
//! the MACs written before a rotation still verify after it.

use anyhow::{Context as _, bail};

use crate::crypto::{Keyring, MasterKey};
use crate::store::audit_chain::{ChainKey, Keying};
use crate::store::{AUDIT_KEY_SETTING, Store};

/// Associated data of the sealed record.
pub const AUDIT_KEY_AAD: &[u8] = b"testum audit chain key";
/// Purpose string of the master key's subkey ([`MasterKey::derive`]) that becomes the chain key.
const PURPOSE: &str = "testum audit chain v1";
const VERSION: u8 = 1;

/// The opened record: the chain key and the `seq` of the first keyed event.
#[derive(Debug, Clone)]
pub struct ChainKeyRecord {
    pub key: ChainKey,
    pub keyed_from: i64,
}

impl ChainKeyRecord {
    /// What a walk of the chain knows with this record.
    pub fn keying(&self) -> Keying<'_> {
        Keying::Known {
            key: &self.key,
            keyed_from: self.keyed_from,
        }
    }

    fn encode(&self) -> Vec<u8> {
        [
            &[VERSION][..],
            self.key.as_bytes(),
            &self.keyed_from.to_be_bytes(),
        ]
        .concat()
    }

    /// Open `sealed` with the key of `ring` that sealed it.
    fn open(sealed: &[u8], ring: &Keyring) -> anyhow::Result<ChainKeyRecord> {
        let plain = ring
            .open(sealed, AUDIT_KEY_AAD)
            .context("the audit chain key record (setting audit_chain_key) does not open")?;
        if plain.len() != 41 || plain[0] != VERSION {
            bail!("the audit chain key record (setting audit_chain_key) is not one testum wrote");
        }
        let key = ChainKey::from_bytes(&plain[1..33]).context("audit chain key length")?;
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&plain[33..]);
        Ok(ChainKeyRecord {
            key,
            keyed_from: i64::from_be_bytes(seq),
        })
    }
}

/// `store` appending keyed events: the record opened with `ring`, or, when the database has
/// none yet, created (key derived from `ring`'s primary key, sealed under it) together with the
/// first keyed event. Errors: the record does not open with `ring`, or keyed events exist
/// without a record (it was deleted).
pub async fn keyed_store(store: Store, ring: &Keyring) -> anyhow::Result<Store> {
    let record = match store.setting(AUDIT_KEY_SETTING).await? {
        Some(sealed) => ChainKeyRecord::open(&sealed, ring)?,
        None => {
            let primary = ring.primary();
            let key =
                ChainKey::from_bytes(&primary.derive(PURPOSE)).context("derived key length")?;
            let sealed = store
                .start_keyed_chain(&key, |keyed_from| {
                    let record = ChainKeyRecord {
                        key: key.clone(),
                        keyed_from,
                    };
                    primary.seal(&record.encode(), AUDIT_KEY_AAD)
                })
                .await?;
            let record = ChainKeyRecord::open(&sealed, ring)?;
            if record.keyed_from > 1 {
                // Right after the upgrade to schema 13 this is expected; at any other time the
                // record was deleted, and the unkeyed events before it deserve a look.
                tracing::warn!(
                    keyed_from = record.keyed_from,
                    "keyed the audit chain after {} unkeyed events: expected once, on the first \
                     start after the upgrade that introduced keyed audit events; at any other \
                     time the audit chain key record was deleted, so check those events",
                    record.keyed_from - 1
                );
            }
            record
        }
    };
    Ok(store.with_chain_key(record.key))
}

/// The record as `testum audit verify` finds it: `Ok(None)` when the database has none;
/// [`RecordState::Unopened`] when it has one but `key` is `None`.
pub async fn find(store: &Store, key: Option<&MasterKey>) -> anyhow::Result<RecordState> {
    let Some(sealed) = store.setting(AUDIT_KEY_SETTING).await? else {
        return Ok(RecordState::Absent);
    };
    Ok(match key {
        Some(key) => RecordState::Opened(ChainKeyRecord::open(
            &sealed,
            &Keyring::new(key.clone(), Vec::new()),
        )?),
        None => RecordState::Unopened,
    })
}

/// What the database holds of the record, as far as the master key at hand can tell.
#[derive(Debug, Clone)]
pub enum RecordState {
    /// No record: the chain has never been keyed.
    Absent,
    /// A record, not opened (no master key at hand).
    Unopened,
    /// The opened record.
    Opened(ChainKeyRecord),
}

impl RecordState {
    /// What a walk of the chain knows.
    pub fn keying(&self) -> Keying<'_> {
        match self {
            RecordState::Absent => Keying::Unkeyed,
            RecordState::Unopened => Keying::Unopened,
            RecordState::Opened(record) => record.keying(),
        }
    }
}
