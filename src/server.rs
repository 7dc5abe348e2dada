//! `testum serve`: start-up (data dir, master key, database, first admin), the in-process worker
//! and the HTTP server, with graceful shutdown on SIGTERM or Ctrl-C.

use std::os::unix::fs::DirBuilderExt as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use rand::RngCore as _;
use tracing_subscriber::EnvFilter;

use crate::api::{self, AppState};
use crate::archive::OutputArchive;
use crate::config::{ServeConfig, write_private_file};
use crate::crypto::{MasterKey, hash_password};
use crate::secret::Secret;
use crate::store::{Backend, PoolConfig, Store};
use crate::tasks::{EventBus, Worker, WorkerConfig};

/// Set up logging as configured; the filter comes from `--log`/`TESTUM_LOG`, else `RUST_LOG`.
fn init_tracing(config: &ServeConfig) {
    let filter = config
        .log
        .as_deref()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
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

/// Everything `serve` needs, opened and checked; used by `serve` and by tests that run the
/// service in-process.
pub async fn prepare(config: &ServeConfig) -> anyhow::Result<AppState> {
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
    bootstrap_admin(&store, config).await?;
    let archive = OutputArchive::from_config(&config.data_dir, config.object_store_url.as_deref())
        .context("TESTUM_OBJECT_STORE_URL")?;
    AppState::new(
        store,
        master_key,
        Arc::new(config.clone()),
        EventBus::new(),
        archive,
    )
    .context("cannot set up access token keys")
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
    if generated {
        let path = config.data_dir.join("admin-password");
        write_private_file(&path, format!("{}\n", password.expose()).as_bytes())
            .with_context(|| format!("cannot save the admin password to {}", path.display()))?;
        println!(
            "testum: created user 'admin' with password {} (also saved in {})",
            password.expose(),
            path.display()
        );
    }
    store
        .create_user("admin", &hash, "admin")
        .await
        .context("cannot create the first admin")?;
    tracing::info!("created the first admin user 'admin'");
    Ok(())
}

/// Run the service until SIGTERM or Ctrl-C.
pub async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    init_tracing(&config);
    let state = prepare(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let worker = Worker::start(
        state.store.clone(),
        state.master_key.clone(),
        state.events.clone(),
        WorkerConfig {
            archive: Some(state.archive.clone()),
            ..WorkerConfig::from(&config)
        },
    );
    tracing::info!(address = %config.bind, "testum is listening");
    api::serve(listener, state, shutdown_signal()).await?;
    worker
        .shutdown(Duration::from_secs(config.shutdown_grace_secs))
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
