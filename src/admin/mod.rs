//! Admin commands that open the database themselves, with no server running:
//! `testum audit verify` ([`audit_verify`]) and `testum rotate-master-key` ([`rotate_key`]).

pub mod audit_verify;
pub mod rotate_key;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::crypto::MasterKey;
use crate::secret::Secret;
use crate::store::{Backend, PoolConfig, Store};

/// Where the master key is: the same variables as `testum serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct MasterKeyArgs {
    /// Master key (base64 of 32 bytes) when it comes from the environment; default: the key file
    /// `master.key` in the data dir.
    #[arg(long, env = "TESTUM_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<Secret>,

    /// File whose content is the master key, instead of TESTUM_MASTER_KEY.
    #[arg(long, env = "TESTUM_MASTER_KEY_FILE", conflicts_with = "master_key")]
    pub master_key_file: Option<PathBuf>,
}

impl MasterKeyArgs {
    /// The master key given in the environment or its file, else the key file `master.key` in
    /// `data_dir` (`None` when there is none).
    pub fn load(&self, data_dir: &Path) -> anyhow::Result<Option<MasterKey>> {
        if let Some(path) = &self.master_key_file {
            let text = crate::config::read_secret_file(path)
                .context("TESTUM_MASTER_KEY_FILE (--master-key-file)")?;
            return Ok(Some(
                MasterKey::from_base64(text.expose()).context("TESTUM_MASTER_KEY_FILE")?,
            ));
        }
        crate::config::existing_master_key(self.master_key.as_ref(), data_dir)
    }

    /// Where the master key in force comes from, for messages.
    pub fn source(&self, data_dir: &Path) -> String {
        match (&self.master_key_file, &self.master_key) {
            (Some(path), _) => path.display().to_string(),
            (None, Some(_)) => "TESTUM_MASTER_KEY".to_string(),
            (None, None) => data_dir.join("master.key").display().to_string(),
        }
    }
}

/// Where the database is: the same variables as `testum serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Data directory of the installation (holds `testum.db` and `master.key` by default).
    #[arg(long, env = "TESTUM_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite://PATH` or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`. Default:
    /// SQLite file `testum.db` in the data dir.
    #[arg(long, env = "TESTUM_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// File whose content is the database URL, instead of TESTUM_DATABASE_URL.
    #[arg(
        long,
        env = "TESTUM_DATABASE_URL_FILE",
        conflicts_with = "database_url"
    )]
    pub database_url_file: Option<PathBuf>,
}

impl DatabaseArgs {
    /// The database URL in force: the one given, else the SQLite file `testum.db` in the data
    /// dir.
    pub fn url(&self) -> anyhow::Result<String> {
        if let Some(path) = &self.database_url_file {
            let url = crate::config::read_secret_file(path)
                .context("TESTUM_DATABASE_URL_FILE (--database-url-file)")?;
            return Ok(url.expose().to_string());
        }
        Ok(self
            .database_url
            .clone()
            .unwrap_or_else(|| Store::sqlite_url(&self.data_dir.join("testum.db"))))
    }

    /// Open the existing database (applying pending migrations, as `serve` would). A SQLite file
    /// that does not exist is an error here, not a new empty database: an admin command pointed
    /// at the wrong directory must say so.
    pub async fn open(&self) -> anyhow::Result<Store> {
        Store::open(&self.existing_url()?, PoolConfig { max_connections: 2 })
            .await
            .context("cannot open the database")
    }

    /// Open the existing database as it is, without migrating it (see [`Store::open_as_is`]).
    pub async fn open_as_is(&self) -> anyhow::Result<Store> {
        Store::open_as_is(&self.existing_url()?, PoolConfig { max_connections: 2 })
            .await
            .context("cannot open the database")
    }

    /// The database URL, after checking that it names a backend and, for SQLite, a file that
    /// exists.
    fn existing_url(&self) -> anyhow::Result<String> {
        let url = self.url()?;
        match Backend::of_url(&url) {
            None => bail!("TESTUM_DATABASE_URL: use sqlite://PATH or postgres://USER@HOST/DB"),
            Some(Backend::Sqlite) => {
                if let Some(path) = Store::sqlite_file(&url).filter(|p| !p.exists()) {
                    bail!(
                        "no testum database at {} (set TESTUM_DATA_DIR or TESTUM_DATABASE_URL)",
                        path.display()
                    );
                }
            }
            Some(Backend::Postgres) => {}
        }
        Ok(url)
    }
}
