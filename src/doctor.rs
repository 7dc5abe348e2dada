//! `testum doctor`: check an installation with the settings `testum serve` would use, one line
//! per check (`ok`, `FAIL` or `skip`, the check's name, what was found), exit status 0 when no
//! check failed and 1 otherwise. It writes nothing but the object store's probe object (deleted
//! again, with the folder it made in a local store): it never creates a data dir, database, task-log directory or master key, and never
//! migrates the database.
//!
//! Checks: configuration (database URL, TLS files, object store URL); free disk in the data dir;
//! database connectivity and schema version (against the versions this binary knows); the master
//! key against the database's key check; the object store (write, read, delete a probe object);
//! clock skew against PostgreSQL.

use std::path::Path;

use anyhow::{Context as _, anyhow, bail};

use crate::archive::OutputArchive;
use crate::config::ServeConfig;
use crate::master_key_check::{MASTER_KEY_CHECK, judge_master_key};
use crate::store::{Backend, PoolConfig, Store};

/// Arguments of `testum doctor`: the settings of `testum serve`, and two thresholds.
#[derive(Debug, clap::Args)]
pub struct Doctor {
    /// Least free space in the data dir, in MiB; less fails the disk check.
    #[arg(long, env = "TESTUM_DOCTOR_MIN_FREE_MIB", default_value_t = 1024)]
    min_free_mib: u64,

    /// Largest difference between this machine's clock and PostgreSQL's, in milliseconds;
    /// more fails the clock check (leases and expiry times compare the two).
    #[arg(long, env = "TESTUM_DOCTOR_MAX_CLOCK_SKEW_MS", default_value_t = 2000)]
    max_clock_skew_ms: u64,

    #[command(flatten)]
    config: ServeConfig,
}

/// How one check ended.
enum Outcome {
    Ok(String),
    Fail(String),
    Skip(String),
}

impl From<anyhow::Result<String>> for Outcome {
    fn from(result: anyhow::Result<String>) -> Outcome {
        match result {
            Ok(detail) => Outcome::Ok(detail),
            Err(e) => Outcome::Fail(crate::cli::one_line(&e)),
        }
    }
}

/// The lines printed so far, and how many failed.
#[derive(Default)]
struct Report {
    failed: usize,
}

impl Report {
    fn line(&mut self, name: &str, outcome: impl Into<Outcome>) {
        let (status, detail) = match outcome.into() {
            Outcome::Ok(detail) => ("ok", detail),
            Outcome::Fail(detail) => {
                self.failed += 1;
                ("FAIL", detail)
            }
            Outcome::Skip(detail) => ("skip", detail),
        };
        println!("{status:<4} {name}: {detail}");
    }
}

impl Doctor {
    /// Run every check, print one line each; `Err` (exit 1) when any failed.
    pub async fn run(mut self) -> anyhow::Result<()> {
        self.config.settings.read_files()?;
        let mut report = Report::default();
        let settings = &self.config.settings;
        let url = settings.database_url();
        let configured = self.configuration(&url);
        let backend = configured.as_ref().ok().copied();
        report.line(
            "configuration",
            configured.map(|backend| {
                format!(
                    "{} database, data dir {}, bind {}",
                    backend_name(backend),
                    settings.data_dir.display(),
                    self.config.bind
                )
            }),
        );
        report.line("disk", self.disk(&settings.data_dir));

        let Some(backend) = backend else {
            for name in ["database", "master key", "object store", "clock"] {
                report.line(
                    name,
                    Outcome::Skip("the configuration is not usable".into()),
                );
            }
            bail!("{} check(s) failed", report.failed);
        };
        let store = match schema(&url, backend).await {
            Ok((line, store)) => {
                report.line("database", Outcome::Ok(line));
                store
            }
            Err(e) => {
                report.line("database", Err::<String, _>(e));
                None
            }
        };
        match &store {
            Some(store) => report.line("master key", self.master_key(store).await),
            None => report.line(
                "master key",
                Outcome::Skip("needs a database at this testum's schema version".into()),
            ),
        }
        report.line("object store", self.object_store(backend).await);
        report.line("clock", self.clock(store.as_ref()).await);
        if let Some(store) = store {
            store.close().await;
        }
        if report.failed > 0 {
            bail!("{} check(s) failed", report.failed);
        }
        Ok(())
    }

    /// The settings that can be wrong without touching anything: database URL, TLS files,
    /// object store URL, workers without PostgreSQL.
    fn configuration(&self, url: &str) -> anyhow::Result<Backend> {
        let settings = &self.config.settings;
        let backend = Backend::of_url(url)
            .context("TESTUM_DATABASE_URL: use sqlite://PATH or postgres://USER@HOST/DB")?;
        crate::api::tls::server_config(&self.config.http)?;
        crate::archive::local_dir(&settings.data_dir, settings.object_store_url.as_deref())
            .context("TESTUM_OBJECT_STORE_URL")?;
        if self.config.workers == 0 && backend == Backend::Sqlite {
            bail!("TESTUM_WORKERS=0 needs TESTUM_DATABASE_URL=postgres://...");
        }
        Ok(backend)
    }

    /// Free space in the data dir (or the nearest existing parent).
    fn disk(&self, data_dir: &Path) -> anyhow::Result<String> {
        let dir = data_dir
            .ancestors()
            .find(|d| d.exists())
            .unwrap_or(Path::new("."));
        let stat =
            rustix::fs::statvfs(dir).with_context(|| format!("statvfs {}", dir.display()))?;
        let free_mib = stat.f_bavail.saturating_mul(stat.f_frsize) / (1024 * 1024);
        if free_mib < self.min_free_mib {
            bail!(
                "{free_mib} MiB free in {}, less than {} MiB (TESTUM_DOCTOR_MIN_FREE_MIB)",
                dir.display(),
                self.min_free_mib
            );
        }
        Ok(format!("{free_mib} MiB free in {}", dir.display()))
    }

    /// The master key in force (environment or key file) opens the database's key check.
    async fn master_key(&self, store: &Store) -> anyhow::Result<String> {
        let settings = &self.config.settings;
        let key =
            crate::config::existing_master_key(settings.master_key.as_ref(), &settings.data_dir)?
                .with_context(|| {
                format!(
                    "TESTUM_MASTER_KEY is unset and there is no {}",
                    settings.data_dir.join("master.key").display()
                )
            })?;
        match store.setting(MASTER_KEY_CHECK).await? {
            Some(stored) => {
                judge_master_key(&key, &stored)?;
                Ok(format!(
                    "key id {} opens the database's key check",
                    key.key_id()
                ))
            }
            None => Ok(format!(
                "key id {} (the database has no key check yet: never served)",
                key.key_id()
            )),
        }
    }

    /// Write, read and delete a probe object in the configured object store.
    async fn object_store(&self, backend: Backend) -> Outcome {
        let settings = &self.config.settings;
        if backend == Backend::Postgres && settings.object_store_url.is_none() {
            return Outcome::Skip(
                "none configured: on PostgreSQL task output stays in the database".into(),
            );
        }
        if let Ok(Some(dir)) =
            crate::archive::local_dir(&settings.data_dir, settings.object_store_url.as_deref())
            && !dir.exists()
        {
            return Outcome::Skip(format!(
                "{} does not exist yet (testum serve creates it)",
                dir.display()
            ));
        }
        let probe = async {
            let archive = OutputArchive::from_config(
                &settings.data_dir,
                settings.object_store_url.as_deref(),
            )?;
            archive.probe().await?;
            Ok::<_, anyhow::Error>(format!(
                "{}: probe object written, read and deleted",
                archive.location()
            ))
        };
        probe.await.into()
    }

    /// This machine's clock against PostgreSQL's.
    async fn clock(&self, store: Option<&Store>) -> Outcome {
        let Some(store) = store else {
            return Outcome::Skip("needs the database".into());
        };
        match store.clock_skew_ms().await {
            Ok(None) => Outcome::Skip("SQLite: no database server clock to compare".into()),
            Ok(Some(skew)) if skew.unsigned_abs() > self.max_clock_skew_ms => {
                Outcome::Fail(format!(
                    "PostgreSQL's clock is {skew} ms off this machine's, more than {} ms \
                 (TESTUM_DOCTOR_MAX_CLOCK_SKEW_MS): run NTP on both",
                    self.max_clock_skew_ms
                ))
            }
            Ok(Some(skew)) => Outcome::Ok(format!(
                "PostgreSQL's clock is {skew} ms off this machine's"
            )),
            Err(e) => Outcome::Fail(e.to_string()),
        }
    }
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    }
}

/// Connect, read the schema version, and open the store when the version is this binary's
/// (nothing to migrate): the line to print and the store.
async fn schema(url: &str, backend: Backend) -> anyhow::Result<(String, Option<Store>)> {
    if let Some(path) = Store::sqlite_file(url).filter(|p| !p.exists()) {
        bail!(
            "no database at {} (testum serve creates it on first start)",
            path.display()
        );
    }
    let found = Store::probe_schema_version(url)
        .await
        .map_err(|e| anyhow!("cannot connect: {e}"))?;
    let known = backend.known_schema_version();
    if found > known {
        bail!(
            "schema version {found} is newer than this testum knows ({known}): it was written \
             by a newer testum"
        );
    }
    if found < known {
        return Ok((
            format!("connected; schema version {found}, migrated to {known} at the next start"),
            None,
        ));
    }
    let store = Store::open_as_is(url, PoolConfig { max_connections: 2 }).await?;
    Ok((
        format!("connected; schema version {found} (current)"),
        Some(store),
    ))
}
