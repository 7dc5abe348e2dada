//! `testum backup --to FILE`, `testum backup verify FILE` and `testum restore --from FILE`.
//!
//! An archive is a plain tar ([`container`]) of:
//! - `testum.db`: on SQLite, an online snapshot of the database (`VACUUM INTO`, consistent as of
//!   one instant while the service goes on writing). On PostgreSQL there is no database part:
//!   `pg_dump` makes that backup (the command prints how), and the archive holds the rest;
//! - `task-logs/...`: the objects of a local object store (the data dir's `task-logs`, or a
//!   `file://` store) that the database's archived output reads, exactly those;
//! - `master.key.sealed`, only with `--include-master-key`: the master key sealed under a
//!   passphrase ([`seal`]). Without it the archive holds no key: the database's credentials are
//!   sealed under the master key, so the archive alone opens none of them. Only the key is sealed,
//!   not the whole archive: every other part is what a backup without the key holds;
//! - `manifest.json` ([`manifest`]): testum version, schema version, master key id, rows per
//!   table, and the size and SHA-256 of every part;
//! - `manifest.mac`, last: HMAC-SHA-256 of the manifest under a subkey of the master key, so an
//!   archive whose part and checksum were both rewritten is refused.
//!
//! Restore ([`restore`]) checks the whole archive in a staging directory before it moves
//! anything into place, and refuses a non-empty target, a master key whose id differs from the
//! manifest's (naming both), a missing or wrong MAC, a schema newer than this binary knows, and
//! any checksum mismatch. `backup verify` checks the MAC when the master key is at hand.
//! Both commands write an audit event (`backup.create`, `backup.restore`).

pub mod container;
mod create;
pub mod manifest;
mod restore;
pub mod seal;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::admin::{DatabaseArgs, MasterKeyArgs};
use crate::crypto::MasterKey;
use crate::secret::Secret;

/// Where the installation is: database, master key and object store, the same variables as
/// `testum serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct Installation {
    #[command(flatten)]
    pub database: DatabaseArgs,

    #[command(flatten)]
    pub key: MasterKeyArgs,

    /// The object store of task output, as for `testum serve`: a local one (default: the data
    /// dir's `task-logs`; or `file:///dir`) is backed up and restored; an S3 bucket is not (back
    /// it up with the bucket's own tools).
    #[arg(long, env = "TESTUM_OBJECT_STORE_URL")]
    pub object_store_url: Option<String>,
}

impl Installation {
    /// The database URL in force.
    fn database_url(&self) -> anyhow::Result<String> {
        self.database.url()
    }

    /// The local directory of task-log objects, `None` for an S3 store.
    fn local_logs(&self) -> anyhow::Result<Option<PathBuf>> {
        crate::archive::local_dir(&self.database.data_dir, self.object_store_url.as_deref())
            .context("TESTUM_OBJECT_STORE_URL")
    }

    /// The master key given in the environment or its file, else the data dir's key file
    /// (`None` when there is none).
    fn master_key(&self) -> anyhow::Result<Option<MasterKey>> {
        self.key.load(&self.database.data_dir)
    }

    /// Where the master key in force comes from, for messages.
    fn master_key_source(&self) -> String {
        self.key.source(&self.database.data_dir)
    }

    /// The data dir's key file.
    fn key_file(&self) -> PathBuf {
        self.database.data_dir.join("master.key")
    }
}

/// The passphrase sealing the master key in an archive.
#[derive(Debug, Clone, clap::Args)]
pub struct Passphrase {
    /// Passphrase of the master key in the archive (at least 12 characters). Prefer
    /// `--passphrase-file` or the environment variable to the flag (flags show in `ps`).
    #[arg(long, env = "TESTUM_BACKUP_PASSPHRASE", hide_env_values = true)]
    pub passphrase: Option<Secret>,

    /// File whose content is the passphrase (e.g. a systemd credential; a final newline is not
    /// part of it).
    #[arg(
        long,
        env = "TESTUM_BACKUP_PASSPHRASE_FILE",
        conflicts_with = "passphrase"
    )]
    pub passphrase_file: Option<PathBuf>,
}

impl Passphrase {
    /// The passphrase given, if any.
    fn get(&self) -> anyhow::Result<Option<Secret>> {
        match &self.passphrase_file {
            Some(path) => Ok(Some(
                crate::config::read_secret_file(path)
                    .context("TESTUM_BACKUP_PASSPHRASE_FILE (--passphrase-file)")?,
            )),
            None => Ok(self.passphrase.clone()),
        }
    }

    /// Refuse a passphrase given where nothing is sealed with it (a backup without
    /// `--include-master-key`), rather than ignore it silently.
    fn refuse_unused(&self) -> anyhow::Result<()> {
        if self.passphrase.is_some() || self.passphrase_file.is_some() {
            bail!(
                "a backup passphrase (TESTUM_BACKUP_PASSPHRASE[_FILE] or --passphrase[-file]) \
                 only seals the master key: add --include-master-key, or unset it"
            );
        }
        Ok(())
    }

    /// The passphrase, which `why` needs.
    fn require(&self, why: &str) -> anyhow::Result<Secret> {
        self.get()?.with_context(|| {
            format!("{why}: give the passphrase in TESTUM_BACKUP_PASSPHRASE or --passphrase-file")
        })
    }
}

/// Arguments of `testum backup`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BackupCommand {
    #[command(subcommand)]
    verify: Option<BackupSubcommand>,
    #[command(flatten)]
    create: create::CreateArgs,
}

/// `testum backup verify`.
#[derive(Debug, clap::Subcommand)]
enum BackupSubcommand {
    /// Check an archive without restoring it: the manifest's MAC (when the master key is given
    /// or in the data dir) and every part's size and SHA-256 against the manifest; exit 0
    /// printing what it holds and whether the MAC was checked, exit 1 naming the first difference.
    Verify {
        /// The archive to check.
        file: PathBuf,

        /// Where the master key is (as for `testum serve`): with it the manifest's MAC is
        /// checked too; without one, only the checksums (the output says which).
        #[command(flatten)]
        installation: Installation,
    },
}

impl BackupCommand {
    /// Run `testum backup --to FILE` or `testum backup verify FILE`.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.verify {
            Some(BackupSubcommand::Verify { file, installation }) => verify(&file, &installation),
            None => self.create.run().await,
        }
    }
}

pub use restore::RestoreCommand;

/// `testum backup verify FILE`: the MAC when the master key is at hand (a key of another id is
/// refused, naming both), then the checksums.
fn verify(file: &Path, installation: &Installation) -> anyhow::Result<()> {
    let contents = container::read(file, None)?;
    let authenticated = match installation.master_key()? {
        Some(key) => {
            same_key(&key, &contents.manifest, &installation.master_key_source())?;
            contents.authenticate(&key)?;
            "manifest MAC checked with the master key"
        }
        None => {
            "manifest MAC NOT checked: no master key (set TESTUM_MASTER_KEY[_FILE] or \
             TESTUM_DATA_DIR), checksums only"
        }
    };
    let manifest = contents.check_parts()?;
    println!(
        "backup {} intact ({authenticated}): {} parts, testum {}, {} schema version {}, master \
         key id {} ({}), made {}",
        file.display(),
        manifest.parts.len(),
        manifest.testum_version,
        manifest.backend,
        manifest.schema_version,
        manifest.master_key_id,
        if manifest.master_key_included {
            "key included, sealed"
        } else {
            "key not included"
        },
        manifest.created_at
    );
    for note in &manifest.notes {
        println!("note: {note}");
    }
    Ok(())
}

/// Refuse a master key whose id differs from the archive's.
fn same_key(key: &MasterKey, manifest: &manifest::Manifest, source: &str) -> anyhow::Result<()> {
    if key.key_id() != manifest.master_key_id {
        bail!(
            "wrong master key: {source} has key id {}, but this backup's database was sealed \
             under key id {}",
            key.key_id(),
            manifest.master_key_id
        );
    }
    Ok(())
}

/// A working directory (beside the archive, or in the data dir when restoring), removed with
/// what it holds when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    /// Create `.<what>-<uuid>` in `parent` (mode 0700).
    fn new(parent: &Path, what: &str) -> anyhow::Result<WorkDir> {
        use std::os::unix::fs::DirBuilderExt as _;
        let path = parent.join(format!(".{what}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(WorkDir(path))
    }

    /// Where it is.
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sync directory `dir`, so renames and new files in it survive a crash.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))
}
