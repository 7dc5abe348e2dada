//! `testum rotate-master-key`: re-seal every stored secret under a new master key.
//!
//! Order of work, so that a failure at any point leaves a working installation:
//! 1. the new key is fixed first: `TESTUM_NEW_MASTER_KEY`, or with the data-dir key file a key
//!    kept in `master.key.new` (0600, synced; made at random unless an earlier, interrupted run
//!    left one, which is reused);
//! 2. ONE database transaction opens every sealed value with a keyring of the old and the new key
//!    (each ciphertext carries its key id, see [`crate::crypto`]), seals it again under the new
//!    key, replaces the master-key check value and the audit chain key record in `settings` and
//!    records `master_key.rotate` in the audit log; any error rolls all of it back. The audit
//!    chain key itself does not change (only its sealing), so the chain verifies afterwards;
//! 3. only after the commit is `master.key.new` renamed over `master.key` (atomic, directory
//!    synced). Interrupted between 2 and 3, the database is under the new key and the file still
//!    holds the old one: servers refuse to start (key check), and running the command again
//!    finishes the job (the keyring opens the values already under the new key).
//!
//! Running servers keep the old key in memory: stop every testum process before rotating and
//! start them afterwards (with the new `TESTUM_MASTER_KEY` when the key comes from the
//! environment); a process started with the old key refuses to run.

use std::path::Path;

use anyhow::{Context as _, bail};
use serde_json::json;

use super::DatabaseArgs;
use crate::audit_key::{AUDIT_KEY_AAD, keyed_store};
use crate::crypto::{Keyring, MasterKey};
use crate::master_key_check::{MASTER_KEY_CHECK, MASTER_KEY_CHECK_AAD};
use crate::secret::Secret;
use crate::store::{AUDIT_KEY_SETTING, Sealed, Store};

/// Arguments of `testum rotate-master-key`.
#[derive(Debug, Clone, clap::Args)]
pub struct RotateMasterKey {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// The current master key (base64 of 32 bytes) when it comes from the environment; else the
    /// key file `master.key` in the data dir is rotated.
    #[arg(long, env = "TESTUM_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<Secret>,

    /// The new master key (base64 of 32 bytes, e.g. `openssl rand -base64 32`). Required when
    /// TESTUM_MASTER_KEY is set; with the key file, default: a fresh random key. Prefer the
    /// environment variables to the flags (flags show in `ps`).
    #[arg(long, env = "TESTUM_NEW_MASTER_KEY", hide_env_values = true)]
    pub new_master_key: Option<Secret>,
}

impl RotateMasterKey {
    /// Run the rotation; prints what was done and what the operator must do next.
    pub async fn run(self) -> anyhow::Result<()> {
        let store = self.database.open().await?;
        // A running serve or worker would go on sealing credentials under the old key.
        let _alone = store.claim_exclusive().await?;
        let given_new = self
            .new_master_key
            .as_ref()
            .map(|k| MasterKey::from_base64(k.expose()).context("TESTUM_NEW_MASTER_KEY"))
            .transpose()?;
        match &self.master_key {
            Some(old) => {
                let old = MasterKey::from_base64(old.expose()).context("TESTUM_MASTER_KEY")?;
                let new = given_new.context(
                    "TESTUM_MASTER_KEY comes from the environment: give the new key in \
                     TESTUM_NEW_MASTER_KEY (base64 of 32 bytes, e.g. `openssl rand -base64 32`)",
                )?;
                let count = reseal(&store, &old, &new).await?;
                println!(
                    "re-sealed {count} platform credentials under master key id {} (was {}).\n\
                     Now set TESTUM_MASTER_KEY to the value of TESTUM_NEW_MASTER_KEY for every \
                     testum process and restart them all; a process still holding the old key \
                     cannot open any credential and refuses to start.",
                    new.key_id(),
                    old.key_id()
                );
            }
            None => {
                let path = self.database.data_dir.join("master.key");
                let old = MasterKey::load(&path)?
                    .with_context(|| format!("no master key file at {}", path.display()))?;
                let pending = path.with_extension("key.new");
                let new = pending_key(&pending, given_new)?;
                let count = reseal(&store, &old, &new).await?;
                replace_file(&pending, &path)?;
                println!(
                    "re-sealed {count} platform credentials under master key id {} (was {}) and \
                     replaced {}.\nRestart every testum process: one still running holds the \
                     old key.",
                    new.key_id(),
                    old.key_id(),
                    path.display()
                );
            }
        }
        Ok(())
    }
}

/// The new key kept at `pending`: the one an interrupted run left there, else `given` or a random
/// one, written there (0600, synced) before the database is touched.
fn pending_key(pending: &Path, given: Option<MasterKey>) -> anyhow::Result<MasterKey> {
    if let Some(left) = MasterKey::load(pending)? {
        if given.is_some_and(|g| g.key_id() != left.key_id()) {
            bail!(
                "{} holds the new key of an earlier, unfinished rotation and differs from \
                 TESTUM_NEW_MASTER_KEY: run without TESTUM_NEW_MASTER_KEY to finish that one",
                pending.display()
            );
        }
        return Ok(left);
    }
    let new = given.unwrap_or_else(MasterKey::generate);
    new.write_new_file(pending)?;
    Ok(new)
}

/// The settings that hold values sealed under the master key.
const SEALED_SETTINGS: &[&str] = &[MASTER_KEY_CHECK, AUDIT_KEY_SETTING];

/// In one transaction, re-seal every sealed value under `new`, opening it with `old` or `new`.
/// The audit chain key record is re-sealed too, so the key, and every MAC made with it, stays the
/// same: the chain verifies under the new master key (see [`crate::audit_key`]).
async fn reseal(store: &Store, old: &MasterKey, new: &MasterKey) -> anyhow::Result<usize> {
    if old.key_id() == new.key_id() {
        bail!("the new master key is the current one");
    }
    // Keyed before the rotation (under the old key when the chain is not keyed yet), so that
    // `master_key.rotate` is a keyed event and the record exists to be re-sealed.
    let store = keyed_store(store.clone(), &Keyring::new(old.clone(), vec![new.clone()])).await?;
    let ring = Keyring::new(new.clone(), vec![old.clone()]);
    let details = json!({"old_key_id": old.key_id(), "new_key_id": new.key_id()});
    store
        .reseal_all(SEALED_SETTINGS, details, |what, sealed| {
            let aad = match what {
                Sealed::PlatformCredential(id) => crate::credential::aad(id),
                Sealed::NotificationEndpoint(id) => crate::notify::aad(id),
                Sealed::TotpSecret { row, user } => crate::totp::aad(row, user),
                Sealed::Setting(MASTER_KEY_CHECK) => MASTER_KEY_CHECK_AAD.to_vec(),
                Sealed::Setting(AUDIT_KEY_SETTING) => AUDIT_KEY_AAD.to_vec(),
                Sealed::Setting(name) => bail!("no associated data known for setting {name}"),
            };
            let plain = ring.open(sealed, &aad).with_context(|| match what {
                Sealed::PlatformCredential(id) => format!("credential of platform {id}"),
                Sealed::NotificationEndpoint(id) => {
                    format!("URL and secret of notification endpoint {id}")
                }
                Sealed::TotpSecret { user, .. } => format!("TOTP secret of user {user}"),
                Sealed::Setting(AUDIT_KEY_SETTING) => "the audit chain key record".to_string(),
                Sealed::Setting(_) => "the master key check: the current master key is not \
                                       the one this database was set up with"
                    .to_string(),
            })?;
            Ok(ring.primary().seal(&plain, &aad))
        })
        .await
}

/// Rename `from` over `to` (atomic on one file system) and sync the directory so the rename
/// survives a crash.
fn replace_file(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::rename(from, to)
        .with_context(|| format!("cannot rename {} to {}", from.display(), to.display()))?;
    if let Some(dir) = to.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync {}", dir.display()))?;
    }
    Ok(())
}
