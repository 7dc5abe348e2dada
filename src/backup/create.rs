//! `testum backup --to FILE`: snapshot, task logs, sealed key and manifest into a new archive,
//! while the service runs.

use std::io::{BufWriter, Write as _};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use serde_json::json;
use sha2::Digest as _;

use super::container::Writer;
use super::manifest::{DATABASE, FORMAT, Manifest, SEALED_KEY, TASK_LOGS};
use super::{Installation, Passphrase, WorkDir, seal, sync_dir};
use crate::store::{Actor, Backend, NewAudit, PoolConfig, Store};

/// Arguments of `testum backup --to FILE`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The archive to write: a new file (an existing one is never replaced), written under a
    /// temporary name beside it and moved into place when complete.
    #[arg(long, value_name = "FILE", required = true)]
    to: Option<PathBuf>,

    /// Put the master key in the archive, sealed under the passphrase (Argon2id and
    /// XChaCha20-Poly1305). Without it the archive holds no key, and restoring it needs the key
    /// from elsewhere.
    #[arg(long)]
    include_master_key: bool,

    #[command(flatten)]
    passphrase: Passphrase,

    #[command(flatten)]
    installation: Installation,
}

/// What the backed-up database says about itself.
struct Facts {
    schema_version: i64,
    counts: std::collections::BTreeMap<String, i64>,
    objects: Vec<String>,
}

async fn facts(store: &Store, with_objects: bool) -> anyhow::Result<Facts> {
    Ok(Facts {
        schema_version: store.schema_version().await?,
        counts: store.table_counts().await?,
        objects: if with_objects {
            store.archived_objects().await?
        } else {
            Vec::new()
        },
    })
}

impl CreateArgs {
    /// Make the archive; prints what it holds (and, on PostgreSQL, how to dump the database).
    pub async fn run(self) -> anyhow::Result<()> {
        let to = self.to.clone().context("--to FILE is required")?;
        if to.exists() {
            bail!("{} exists: a backup never replaces a file", to.display());
        }
        let parent = match to.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let inst = &self.installation;
        let key = inst.master_key()?.with_context(|| {
            format!(
                "no master key: set TESTUM_MASTER_KEY or point TESTUM_DATA_DIR at the data dir \
                 holding master.key (no {})",
                inst.key_file().display()
            )
        })?;
        let sealed_key = match self.include_master_key {
            true => Some(seal::seal(
                &key,
                &self.passphrase.require("--include-master-key")?,
            )?),
            false => {
                self.passphrase.refuse_unused()?;
                None
            }
        };
        let logs = inst.local_logs()?;
        // As it is: a backup never migrates the database under the service that runs it.
        let store = inst.database.open_as_is().await?;
        let (found, known) = (
            store.schema_version().await?,
            store.backend().known_schema_version(),
        );
        if found != known {
            bail!(
                "the database is at schema version {found} and this testum's is {known}: back it \
                 up with the testum version that serves it"
            );
        }
        let store = crate::master_key_check::unlock(store, &key).await?;

        let work = WorkDir::new(&parent, "testum-backup")?;
        let snapshot = work.path().join(DATABASE);
        let facts = match store.backend() {
            Backend::Sqlite => {
                store.snapshot_into(&snapshot).await?;
                // The snapshot, not the live database, is what the manifest describes.
                let copy = Store::open_as_is(
                    &Store::sqlite_url(&snapshot),
                    PoolConfig { max_connections: 1 },
                )
                .await
                .context("cannot read the snapshot")?;
                let facts = facts(&copy, logs.is_some()).await;
                copy.close().await;
                facts?
            }
            Backend::Postgres => facts(&store, logs.is_some()).await?,
        };

        let partial = work.path().join("archive.tar");
        let mut writer = Writer::new(BufWriter::new(crate::config::new_private_file(&partial)?));
        if store.backend() == Backend::Sqlite {
            writer.add_file(DATABASE, &snapshot)?;
        }
        if let Some(dir) = &logs {
            for key in &facts.objects {
                writer
                    .add_file(&format!("{TASK_LOGS}/{key}"), &dir.join(key))
                    .with_context(|| {
                        format!(
                            "task-log object {key} (is TESTUM_OBJECT_STORE_URL the store serve \
                             uses?)"
                        )
                    })?;
            }
        }
        if let Some(sealed) = &sealed_key {
            writer.add(SEALED_KEY, sealed.len() as u64, sealed.as_slice())?;
        }
        let bytes: u64 = writer.parts().iter().map(|p| p.bytes).sum();
        let manifest = Manifest {
            format: FORMAT,
            testum_version: env!("CARGO_PKG_VERSION").to_string(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            backend: backend_name(store.backend()).to_string(),
            schema_version: facts.schema_version,
            master_key_id: key.key_id(),
            master_key_included: sealed_key.is_some(),
            counts: facts.counts,
            parts: Vec::new(),
            notes: notes(
                store.backend(),
                inst.object_store_url.as_deref(),
                logs.is_some(),
            ),
        };
        let notes = manifest.notes.clone();
        let (out, manifest_bytes) = writer.finish(manifest, &key)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        // A hard link, unlike a rename, never replaces a file that appeared meanwhile.
        std::fs::hard_link(&partial, &to)
            .with_context(|| format!("cannot create {}", to.display()))?;
        sync_dir(&parent)?;
        drop(work);

        let manifest_sha256 = crate::crypto::hex(&sha2::Sha256::digest(&manifest_bytes));
        store
            .audit(NewAudit {
                actor: &Actor::system(),
                action: "backup.create",
                target: None,
                outcome: "success",
                details: json!({
                    "file": to.display().to_string(),
                    "bytes": bytes,
                    "objects": facts.objects.len(),
                    "schema_version": facts.schema_version,
                    "master_key_id": key.key_id(),
                    "master_key_included": sealed_key.is_some(),
                    "manifest_sha256": manifest_sha256,
                }),
            })
            .await?;
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "backup written to {}: database schema version {}, {} task-log objects, master key \
             id {} ({}); manifest SHA-256 {manifest_sha256}",
            to.display(),
            facts.schema_version,
            facts.objects.len(),
            key.key_id(),
            if sealed_key.is_some() {
                "included, sealed under the passphrase"
            } else {
                "not included: keep the key safe elsewhere"
            }
        )?;
        for note in notes {
            writeln!(stdout, "note: {note}")?;
        }
        Ok(())
    }
}

/// The manifest's name of `backend`.
pub(super) fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// What an archive of this installation leaves to the operator.
fn notes(backend: Backend, object_store_url: Option<&str>, local_logs: bool) -> Vec<String> {
    let mut notes = Vec::new();
    if backend == Backend::Postgres {
        notes.push(
            "the PostgreSQL database is not in this archive: dump the database with pg_dump as \
             well (before or after this command: \
             `pg_dump --format=custom --file=testum.pgdump \"$TESTUM_DATABASE_URL\"`; a dump \
             made before it refers only to task output this archive holds, one made after may \
             refer to output archived in between, which a restore then lacks); to restore, \
             `pg_restore --no-owner --dbname=NEW_DATABASE_URL testum.pgdump`, then \
             `testum restore --from ARCHIVE`"
                .to_string(),
        );
    }
    if !local_logs {
        notes.push(format!(
            "task logs are in {}: back that bucket up with its own tools",
            object_store_url.unwrap_or_default()
        ));
    }
    notes
}
