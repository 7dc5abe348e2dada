//! `testum serve` and `testum worker`: start-up (data dir, master key, database, first admin),
//! workers, the HTTP server and, on PostgreSQL, the LISTEN/NOTIFY bridge that carries events
//! between processes; graceful shutdown on SIGTERM or Ctrl-C.
//!
//! Layering: the top; it assembles `api`, `tasks` and `store`, and nothing but the CLI uses it
//! (the master key check the other commands share lives in `master_key_check`).

use std::os::unix::fs::DirBuilderExt as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use rand::RngCore as _;
use tracing_subscriber::EnvFilter;

use crate::api::{self, AppState};
use crate::archive::OutputArchive;
use crate::config::{ServeConfig, Settings, WorkerCommandConfig, write_private_file};
use crate::crypto::{MasterKey, hash_password};
use crate::role::Role;
use crate::secret::Secret;
use crate::store::{Actor, Backend, PoolConfig, Store, StoreError};
use crate::tasks::{EventBus, Worker, WorkerConfig};

/// Set up logging as configured; the filter comes from `--log`/`TESTUM_LOG`, else `RUST_LOG`.
fn init_tracing(config: &Settings) {
    let filter = config
        .log
        .as_deref()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn"));
    use std::io::IsTerminal as _;
    // Logs go to stderr, coloured only on a terminal (a log file or journald gets plain text).
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // `try_init` fails only when a subscriber is already set (tests that start several servers).
    let _ = if config.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// What every process opens: the data dir, the master key and the database.
async fn open(config: &Settings) -> anyhow::Result<(Store, MasterKey)> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let master_key = match &config.master_key {
        Some(text) => MasterKey::from_base64(text.expose()).context("TESTUM_MASTER_KEY")?,
        None => MasterKey::load_or_create(&config.data_dir.join("master.key"))?,
    };
    let url = config.database_url();
    if Backend::of_url(&url).is_none() {
        bail!(
            "TESTUM_DATABASE_URL: use sqlite://PATH or postgres://USER@HOST/DB (got a URL with \
             scheme {:?})",
            url.split(':').next().unwrap_or_default()
        );
    }
    if url.starts_with("sqlite:") && config.database_url.is_none() {
        create_private_file(&config.data_dir.join("testum.db"))?;
    }
    let pool = PoolConfig {
        max_connections: config.db_max_connections,
    };
    let store = Store::open(&url, pool)
        .await
        .with_context(|| format!("cannot open database {}", redact_url(&url)))?;
    let store = crate::master_key_check::unlock(store, &master_key).await?;
    crate::schedule::ensure_daily_sync(
        &store,
        &config.scheduler.daily_sync_cron,
        chrono::Utc::now(),
    )
    .await?;
    Ok((store, master_key))
}

/// The event bus of a process: in-process, fed from PostgreSQL's LISTEN/NOTIFY too when the
/// database is PostgreSQL (so a WebSocket on one server follows a task a worker elsewhere runs).
fn event_bus(store: &Store, config: &Settings) -> EventBus {
    let bus = EventBus::new();
    if store.backend() == Backend::Postgres {
        bus.bridge_postgres(config.database_url());
    }
    bus
}

/// Where finished tasks' output goes (see [`OutputArchive::from_config`]).
fn archive(config: &Settings) -> anyhow::Result<OutputArchive> {
    OutputArchive::from_config(&config.data_dir, config.object_store_url.as_deref())
        .context("TESTUM_OBJECT_STORE_URL")
}

/// The archive this process's workers move ended tasks' output into, if any. On PostgreSQL,
/// processes usually have data dirs of their own, so a default local directory would hide one
/// process's archives from the others: there output moves only to an explicitly configured
/// store that every process shares, and otherwise stays in the database.
fn worker_archive(
    store: &Store,
    config: &Settings,
    archive: &OutputArchive,
) -> Option<OutputArchive> {
    if store.backend() == Backend::Postgres && config.object_store_url.is_none() {
        tracing::info!(
            "task output stays in the database: set TESTUM_OBJECT_STORE_URL (s3://... or \
             file:///shared/dir) to move it to storage every process shares"
        );
        return None;
    }
    Some(archive.clone())
}

/// Everything `serve` needs, opened and checked; used by `serve` and by tests that run the
/// service in-process.
pub async fn prepare(config: &ServeConfig) -> anyhow::Result<AppState> {
    // Settings that can be wrong are checked before anything is created.
    let archive = archive(&config.settings)?;
    let tls = api::tls::server_config(&config.http)?;
    let ldap = crate::ldap::Directory::open(&config.ldap)
        .await
        .map_err(anyhow::Error::msg)?;
    let oidc = crate::oidc::Providers::open(&config.oidc)
        .await
        .map_err(anyhow::Error::msg)?;
    let (store, master_key) = open(&config.settings).await?;
    if config.workers == 0 && store.backend() == Backend::Sqlite {
        bail!(
            "TESTUM_WORKERS=0 needs TESTUM_DATABASE_URL=postgres://... (with SQLite the workers \
             run inside serve; nothing else could run the tasks)"
        );
    }
    bootstrap_admin(&store, config).await?;
    crate::metrics::install();
    let events = event_bus(&store, &config.settings);
    let mut state = AppState::new(store, master_key, Arc::new(config.clone()), events, archive)
        .context("cannot set up access token keys")?;
    state.tls = tls;
    state.ldap = ldap.map(Arc::new);
    state.oidc = Arc::new(oidc);
    Ok(state)
}

/// Create `path` empty with mode 0600 when it does not exist, so the database (which holds password
/// hashes and sealed credentials) is readable by the service's user only; SQLite gives its WAL
/// and shared-memory files the same mode.
fn create_private_file(path: &std::path::Path) -> anyhow::Result<()> {
    match write_private_file(path, b"") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// `url` without the password of its user part, for messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let user = &url[scheme + 3..at];
            let user = user.split(':').next().unwrap_or_default();
            format!("{}://{}@{}", &url[..scheme], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

/// Create the first admin when the database has no user: with `TESTUM_ADMIN_PASSWORD`, or a
/// generated password that is printed once and saved (0600) in the data dir.
async fn bootstrap_admin(store: &Store, config: &ServeConfig) -> anyhow::Result<()> {
    let data_dir = &config.settings.data_dir;
    if store.count_users().await? > 0 {
        return Ok(());
    }
    let (password, generated) = match &config.admin_password {
        Some(p) if !p.expose().is_empty() => (p.clone(), false),
        _ => {
            let mut bytes = [0u8; 18];
            rand::rng().fill_bytes(&mut bytes);
            (
                Secret::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)),
                true,
            )
        }
    };
    let hash = hash_password(password.expose()).map_err(anyhow::Error::msg)?;
    // The file is written before the user exists, so a generated password is never lost.
    let saved = data_dir.join("admin-password");
    if generated {
        let line = zeroize::Zeroizing::new(format!("{}\n", password.expose()));
        write_private_file(&saved, line.as_bytes())
            .with_context(|| format!("cannot save the admin password to {}", saved.display()))?;
    }
    match store
        .create_user(&Actor::system(), "admin", &hash, Role::Admin)
        .await
    {
        Ok(_) => {}
        // Several processes starting at once on an empty database: one of them wins.
        Err(StoreError::Conflict(_)) => {
            if generated {
                let _ = std::fs::remove_file(&saved);
            }
            tracing::info!("another process created the first admin user");
            return Ok(());
        }
        Err(e) => return Err(e).context("cannot create the first admin"),
    }
    if generated {
        println!(
            "testum: created user 'admin' with password {} (also saved in {}; note it and \
             delete the file)",
            password.expose(),
            saved.display()
        );
    }
    tracing::info!("created the first admin user 'admin'");
    Ok(())
}

/// Run the service until SIGTERM or Ctrl-C.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    init_tracing(&config.settings);
    let state = prepare(&config).await?;
    // Held until the process ends: `testum rotate-master-key` refuses to run meanwhile.
    let _in_use = state.store.mark_in_use().await?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let workers: Vec<Worker> = (0..config.workers)
        .map(|_| {
            Worker::start(
                state.store.clone(),
                state.master_key.clone(),
                state.events.clone(),
                WorkerConfig {
                    archive: worker_archive(&state.store, &config.settings, &state.archive),
                    health: state.workers.clone(),
                    ..WorkerConfig::from(&config.settings)
                },
            )
        })
        .collect();
    let scheme = if state.tls.is_some() { "https" } else { "http" };
    tracing::info!(address = %config.bind, scheme, workers = config.workers, "testum is listening");
    api::serve(listener, state, shutdown_signal()).await?;
    let grace = Duration::from_secs(config.settings.shutdown_grace_secs);
    futures::future::join_all(workers.into_iter().map(|w| w.shutdown(grace))).await;
    tracing::info!("stopped");
    Ok(())
}

/// Run a worker process (no HTTP) until SIGTERM or Ctrl-C: it claims targets from the shared
/// PostgreSQL queue.
pub async fn work(config: WorkerCommandConfig) -> anyhow::Result<()> {
    let settings = &config.settings;
    init_tracing(settings);
    let archive = archive(settings)?;
    let (store, master_key) = open(settings).await?;
    if store.backend() == Backend::Sqlite {
        bail!(
            "testum worker needs TESTUM_DATABASE_URL=postgres://... (with SQLite the workers run \
             inside testum serve)"
        );
    }
    let _in_use = store.mark_in_use().await?;
    let events = event_bus(&store, settings);
    let config = WorkerConfig {
        archive: worker_archive(&store, settings, &archive),
        ..WorkerConfig::from(settings)
    };
    let worker = Worker::start(store, master_key, events, config);
    tracing::info!("testum worker is running");
    shutdown_signal().await;
    worker
        .shutdown(Duration::from_secs(settings.shutdown_grace_secs))
        .await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn database_passwords_are_not_shown() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/testum"),
            "postgres://app@db:5432/testum"
        );
        assert_eq!(
            redact_url("sqlite://./data/testum.db"),
            "sqlite://./data/testum.db"
        );
    }
}
