//! `testum restore --from FILE`: into an empty data dir (SQLite), or beside a PostgreSQL
//! database already restored from its `pg_dump`.
//!
//! Order, so that a refusal or failure leaves the target as it was:
//! 1. the target must be empty: the data dir may hold only `master.key`, the SQLite file must not
//!    exist (nor its `-wal`, `-shm`, `-journal`), the local task-log directory must be empty or
//!    missing;
//! 2. the archive is read into a staging directory inside the data dir, every part hashed
//!    ([`super::container::read`]);
//! 3. the master key (environment, key file, or the sealed one and the passphrase) must have
//!    the manifest's key id, and the manifest's MAC must match under it; only then is the manifest
//!    trusted: every part must match its size and SHA-256, the backend must be the target's and the
//!    schema version one this binary knows;
//! 4. the staged database is opened (older schemas are migrated here, in staging), its master key
//!    check is opened with the key, and on SQLite `backup.restore` is recorded in it;
//! 5. only then are the task logs, the database and (when it came from the archive) the key file
//!    moved into place, all or nothing: when one cannot be (e.g. a task-log directory on another
//!    file system), those already moved go back, and a data dir the command created is removed;
//! 6. on PostgreSQL, `backup.restore` is recorded in the database once everything is in place.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::json;

use super::create::backend_name;
use super::manifest::{DATABASE, Manifest, SEALED_KEY, TASK_LOGS};
use super::{Installation, Passphrase, WorkDir, container, same_key, seal, sync_dir};
use crate::crypto::MasterKey;
use crate::store::{Actor, Backend, NewAudit, PoolConfig, Store};

/// Arguments of `testum restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreCommand {
    /// The archive to restore (made by `testum backup --to`).
    #[arg(long, value_name = "FILE")]
    from: PathBuf,

    #[command(flatten)]
    passphrase: Passphrase,

    #[command(flatten)]
    installation: Installation,
}

/// The first entry of `dir` other than `allowed`, if any (a missing `dir` is empty).
fn first_entry(dir: &Path, allowed: &[&str]) -> anyhow::Result<Option<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot list {}", dir.display())),
    };
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if !allowed.contains(&name.as_str()) {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// Refuse a target that already holds data (step 1).
fn refuse_non_empty(
    data_dir: &Path,
    db_file: Option<&Path>,
    logs: Option<&Path>,
) -> anyhow::Result<()> {
    if let Some(found) = first_entry(data_dir, &["master.key"])? {
        bail!(
            "the data dir {} is not empty (it holds {found}): restore into an empty data dir \
             (only a master.key may be there)",
            data_dir.display()
        );
    }
    if let Some(db) = db_file {
        // SQLite applies a `-wal` (or hot `-journal`) it finds beside a database file to it,
        // whichever database that log was written for: one left by a removed file would rewrite
        // the restored database as it opens.
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            let path = PathBuf::from(name);
            if path.symlink_metadata().is_ok() {
                bail!(
                    "{} exists: restore into a new database file (remove a database's -wal, \
                     -shm and -journal files with it)",
                    path.display()
                );
            }
        }
    }
    if let Some(dir) = logs
        && let Some(found) = first_entry(dir, &[])?
    {
        bail!(
            "the task-log directory {} is not empty (it holds {found})",
            dir.display()
        );
    }
    Ok(())
}

impl RestoreCommand {
    /// Restore; prints what was restored. A data dir this command created is removed again when
    /// the restore fails (it is empty then: staging is gone and nothing was moved into it).
    pub async fn run(self) -> anyhow::Result<()> {
        let data_dir = self.installation.database.data_dir.clone();
        let existed = data_dir.exists();
        let result = self.restore().await;
        if result.is_err() && !existed {
            let _ = std::fs::remove_dir(&data_dir);
        }
        result
    }

    /// [`RestoreCommand::run`], leaving the data dir in place.
    async fn restore(self) -> anyhow::Result<()> {
        let inst = &self.installation;
        let data_dir = &inst.database.data_dir;
        let url = inst.database_url()?;
        let backend = Backend::of_url(&url)
            .context("TESTUM_DATABASE_URL: use sqlite://PATH or postgres://USER@HOST/DB")?;
        let db_file = match backend {
            Backend::Sqlite => Some(
                Store::sqlite_file(&url).context("restore needs a SQLite file, not :memory:")?,
            ),
            Backend::Postgres => None,
        };
        let logs = inst.local_logs()?;
        {
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(data_dir)
                .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
        }
        refuse_non_empty(data_dir, db_file.as_deref(), logs.as_deref())?;

        let staging = WorkDir::new(data_dir, "testum-restore")?;
        let contents = container::read(&self.from, Some(staging.path()))?;
        let (key, key_from_archive) = self.master_key(&contents.manifest, staging.path())?;
        contents.authenticate(&key)?;
        let manifest = contents.check_parts()?;
        if manifest.backend != backend_name(backend) {
            bail!(
                "this backup is of a {} installation and TESTUM_DATABASE_URL names a {} one",
                manifest.backend,
                backend_name(backend)
            );
        }
        let known = backend.known_schema_version();
        if manifest.schema_version > known {
            bail!(
                "the backup is at schema version {}, newer than this testum knows ({known}): \
                 restore it with testum {} or later",
                manifest.schema_version,
                manifest.testum_version
            );
        }
        let has_logs = manifest.parts.iter().any(|p| p.name.starts_with(TASK_LOGS));
        if has_logs && logs.is_none() {
            bail!(
                "the backup holds task logs but TESTUM_OBJECT_STORE_URL is not a local store: \
                 restore with the default (or file:///dir), then copy them to the bucket"
            );
        }

        let store = match &db_file {
            Some(_) => Store::open(
                &Store::sqlite_url(&staging.path().join(DATABASE)),
                PoolConfig { max_connections: 2 },
            )
            .await
            .context("cannot open the database in the backup")?,
            None => {
                if Store::probe_schema_version(&url).await? == 0 {
                    bail!(
                        "the PostgreSQL database holds no testum schema: restore the pg_dump \
                         into it first (pg_restore --no-owner --dbname=URL testum.pgdump)"
                    );
                }
                Store::open(&url, PoolConfig { max_connections: 2 }).await?
            }
        };
        let store = crate::master_key_check::unlock(store, &key).await?;
        let schema_version = store.schema_version().await?;
        let details = json!({
            "file": self.from.display().to_string(),
            "backup_created_at": manifest.created_at,
            "backup_schema_version": manifest.schema_version,
            "schema_version": schema_version,
            "master_key_id": key.key_id(),
            "parts": manifest.parts.len(),
        });
        // The staged SQLite database records the restore before it moves into place (it holds the
        // event exactly when it is restored); the live PostgreSQL database only once everything
        // is in place, so a failed move leaves no event of a restore that did not happen.
        if backend == Backend::Sqlite {
            record(&store, details.clone()).await?;
            store.close().await;
        }

        let mut moves = Vec::new();
        if let Some(dir) = logs.as_deref().filter(|_| has_logs) {
            moves.push((staging.path().join(TASK_LOGS), dir.to_path_buf()));
        }
        if let Some(db) = &db_file {
            moves.push((staging.path().join(DATABASE), db.clone()));
        }
        let key_file = key_from_archive.then(|| inst.key_file());
        put_in_place(&moves, key_file.as_deref().map(|path| (&key, path)))?;
        if backend == Backend::Postgres {
            record(&store, details)
                .await
                .context("restored, but cannot record backup.restore in the audit log")?;
            store.close().await;
        }
        sync_dir(data_dir)?;
        println!(
            "restored {} (made {} by testum {}): schema version {} (now {schema_version}), \
             master key id {}{}, {} parts",
            self.from.display(),
            manifest.created_at,
            manifest.testum_version,
            manifest.schema_version,
            key.key_id(),
            if key_from_archive {
                ", key file written"
            } else {
                ""
            },
            manifest.parts.len()
        );
        Ok(())
    }

    /// The master key to restore with, and whether it came from the archive: the environment's
    /// or the key file's, else the sealed one opened with the passphrase; its id must be the
    /// manifest's.
    fn master_key(&self, manifest: &Manifest, staging: &Path) -> anyhow::Result<(MasterKey, bool)> {
        let inst = &self.installation;
        if let Some(key) = inst.master_key()? {
            same_key(&key, manifest, &inst.master_key_source())?;
            return Ok((key, false));
        }
        if manifest.part(SEALED_KEY).is_none() {
            bail!(
                "no master key: this backup holds none (made without --include-master-key); set \
                 TESTUM_MASTER_KEY or put the key file (key id {}) at {}",
                manifest.master_key_id,
                inst.key_file().display()
            );
        }
        let passphrase = self
            .passphrase
            .require("the backup's master key is sealed")?;
        let sealed = std::fs::read(staging.join(SEALED_KEY))?;
        let key = seal::open(&sealed, &passphrase)?;
        same_key(&key, manifest, "the sealed key in the backup")?;
        Ok((key, true))
    }
}

/// Record `backup.restore` with `details` in `store`'s audit log.
async fn record(store: &Store, details: serde_json::Value) -> anyhow::Result<()> {
    store
        .audit(NewAudit {
            actor: &Actor::system(),
            action: "backup.restore",
            target: None,
            outcome: "success",
            details,
        })
        .await?;
    Ok(())
}

/// Rename each staged `(from, to)` of `moves` into place (the task-log directory replaces a
/// missing or empty one), then write the key file when `key` is given. All or nothing: when a
/// step fails, what was moved goes back to staging (an empty task-log directory that was there is
/// made again), so a failed restore leaves the target as it found it.
fn put_in_place(
    moves: &[(PathBuf, PathBuf)],
    key: Option<(&MasterKey, &Path)>,
) -> anyhow::Result<()> {
    let mut done: Vec<(&Path, &Path, bool)> = Vec::new();
    let mut result = Ok(());
    for (from, to) in moves {
        let was_there = to.is_dir();
        if let Some(parent) = to.parent()
            && let Err(e) = std::fs::create_dir_all(parent)
        {
            result = Err(e).with_context(|| format!("cannot create {}", parent.display()));
            break;
        }
        // rename(2) replaces an empty directory, and fails on a non-empty one or a file.
        if let Err(e) = std::fs::rename(from, to) {
            result = Err(e).with_context(|| {
                format!(
                    "cannot move {} to {} (it must be on the data dir's file system)",
                    from.file_name().unwrap_or_default().to_string_lossy(),
                    to.display()
                )
            });
            break;
        }
        done.push((from, to, was_there));
    }
    if result.is_ok()
        && let Some((key, path)) = key
    {
        result = key.write_new_file(path).map_err(anyhow::Error::from);
    }
    if result.is_err() {
        for (from, to, was_there) in done.into_iter().rev() {
            if std::fs::rename(to, from).is_ok() && was_there {
                let _ = std::fs::create_dir(to);
            }
        }
    }
    result
}
