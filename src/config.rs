//! Configuration of `testum serve` and `testum worker`: every setting is a flag with a `TESTUM_*`
//! environment variable. [`Settings`] holds what both processes need; [`ServeConfig`] adds the
//! HTTP side.

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::secret::Secret;

/// Settings of `testum serve` (see `testum serve --help`).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeConfig {
    /// Address and port to listen on.
    #[arg(long, env = "TESTUM_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// In-process workers (0 = serve the API only, with `testum worker` processes doing the work;
    /// that needs PostgreSQL).
    #[arg(long, env = "TESTUM_WORKERS", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(0..=16))]
    pub workers: u32,

    /// Password of the first admin user `admin`, used only when the database has no user yet.
    /// Default: a generated one, printed once and saved (mode 0600) as `admin-password` in the
    /// data dir.
    #[arg(long, env = "TESTUM_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<Secret>,

    /// Lifetime of access tokens, in seconds (60 to 86400).
    #[arg(long, env = "TESTUM_ACCESS_TOKEN_TTL_SECS", default_value_t = 900,
          value_parser = clap::value_parser!(u64).range(60..=86_400))]
    pub access_token_ttl_secs: u64,

    /// Lifetime of a refresh token, in seconds (300 to 7776000, i.e. 90 days); each refresh
    /// hands out a new one with a fresh lifetime.
    #[arg(long, env = "TESTUM_REFRESH_TOKEN_TTL_SECS", default_value_t = 7 * 86_400,
          value_parser = clap::value_parser!(u64).range(300..=7_776_000))]
    pub refresh_token_ttl_secs: u64,

    /// Who must sign in with a second factor (TOTP): `none` (only the users an admin marked
    /// `require_totp`), `admin` (every admin too) or `all`. Such a user without TOTP yet can
    /// sign in, but can then only turn it on (and sign out).
    #[arg(long, env = "TESTUM_REQUIRE_TOTP_FOR", value_enum, default_value_t)]
    pub require_totp_for: crate::totp::RequireTotpFor,

    #[command(flatten)]
    pub rate_limits: crate::api::ratelimit::RateLimits,
    /// Bearer token `GET /metrics` requires. Default: none, `/metrics` is public (like
    /// `/healthz`; it shows counts and timings, never names or secrets).
    #[arg(long, env = "TESTUM_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,

    #[command(flatten)]
    pub http: HttpSecurity,

    #[command(flatten)]
    pub ldap: crate::ldap::LdapSettings,

    /// OpenID Connect providers: read from the `TESTUM_OIDC_*` variables by
    /// [`crate::oidc::OidcSettings::from_vars`] (not flags: each provider has its own set).
    #[arg(skip)]
    pub oidc: crate::oidc::OidcSettings,

    #[command(flatten)]
    pub settings: Settings,
}

/// HTTPS and cross-origin settings of `testum serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HttpSecurity {
    /// PEM file with the server's certificate chain, leaf first. With `--tls-key`, testum serves
    /// HTTPS only (rustls, TLS 1.2 and 1.3) and sends `Strict-Transport-Security`.
    #[arg(long, env = "TESTUM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM file with the private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "TESTUM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Browser origins allowed to call the API from another site (CORS), comma-separated, e.g.
    /// `https://ops.example.com,http://localhost:3000`. Default: none, and no CORS headers at
    /// all (only pages served by testum itself can call it from a browser).
    #[arg(long, env = "TESTUM_CORS_ORIGINS", value_delimiter = ',',
          value_parser = crate::api::cors::parse_origin)]
    pub cors_origins: Vec<axum::http::HeaderValue>,
}

/// Settings of `testum worker`: what every process needs, nothing HTTP.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkerCommandConfig {
    #[command(flatten)]
    pub settings: Settings,
}

/// Settings shared by `testum serve` and `testum worker`.
#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Directory for the SQLite database, the master key file and the generated admin password.
    #[arg(long, env = "TESTUM_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Database URL: `sqlite://PATH` or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`. Default:
    /// SQLite file `testum.db` in the data dir.
    #[arg(long, env = "TESTUM_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// File whose content is the database URL (it holds the password): a compose secret or a
    /// systemd credential, instead of TESTUM_DATABASE_URL.
    #[arg(
        long,
        env = "TESTUM_DATABASE_URL_FILE",
        conflicts_with = "database_url"
    )]
    pub database_url_file: Option<PathBuf>,

    /// Most database connections this process opens.
    #[arg(long, env = "TESTUM_DB_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,

    /// Master key sealing stored credentials: base64 of 32 bytes. Default: the key file
    /// `master.key` in the data dir, created (mode 0600) on first start. Prefer the environment
    /// variable to the flag (flags show in `ps`).
    #[arg(long, env = "TESTUM_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<Secret>,

    /// File whose content is the master key (base64 of 32 bytes): a systemd credential
    /// (`%d/master-key`) or a compose secret (`/run/secrets/master_key`), instead of
    /// TESTUM_MASTER_KEY.
    #[arg(long, env = "TESTUM_MASTER_KEY_FILE", conflicts_with = "master_key")]
    pub master_key_file: Option<PathBuf>,

    /// Log filter (tracing's EnvFilter syntax, e.g. `info,testum=debug`); falls back to
    /// `RUST_LOG`, then `info,sqlx=warn`.
    #[arg(long, env = "TESTUM_LOG")]
    pub log: Option<String>,

    /// Log format: `text` or `json`.
    #[arg(long, env = "TESTUM_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,

    /// SSH sessions in flight at most in this process's workers (1 to 10000).
    #[arg(long, env = "TESTUM_WORKER_CONCURRENCY", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub worker_concurrency: u32,

    /// Seconds a worker's claim on a target lasts without a heartbeat.
    #[arg(long, env = "TESTUM_LEASE_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub lease_secs: u64,

    /// Seconds to wait for an SSH connection and handshake.
    #[arg(long, env = "TESTUM_CONNECT_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub connect_timeout_secs: u64,

    /// Seconds a shutdown (SIGTERM, Ctrl-C) waits for running targets before it ends the
    /// commands still running on their hosts.
    #[arg(long, env = "TESTUM_SHUTDOWN_GRACE_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace_secs: u64,

    /// Most output bytes kept per target (stdout and stderr together); past it the command runs
    /// on but its output is dropped, with a note in its stderr.
    #[arg(long, env = "TESTUM_MAX_OUTPUT_BYTES", default_value_t = 16 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024..=1024 * 1024 * 1024))]
    pub max_output_bytes: u64,

    /// Most output bytes kept per task (all its targets together); past it the commands run on
    /// but their output is dropped, with a note in each affected target's stderr.
    #[arg(long, env = "TESTUM_MAX_TASK_OUTPUT_BYTES", default_value_t = 4 * 1024 * 1024 * 1024,
          value_parser = clap::value_parser!(u64).range(1024 * 1024..=1024 * 1024 * 1024 * 1024))]
    pub max_task_output_bytes: u64,

    /// Days a task's output is kept after the task ended; then a background job deletes it from
    /// the database and the object store (the task and its targets stay, marked expired).
    /// 0 keeps output forever.
    #[arg(long, env = "TESTUM_OUTPUT_RETENTION_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub output_retention_days: u32,

    /// Milliseconds before a failed webhook delivery is tried again the first time; later
    /// retries wait 3, 12, 60, 180, 360 and 720 times as long (8 attempts in all).
    #[arg(long, env = "TESTUM_NOTIFY_RETRY_BASE_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub notify_retry_base_ms: u64,

    /// Where finished tasks' output goes: `s3://bucket/prefix` (S3, MinIO; credentials, region,
    /// endpoint and `AWS_ALLOW_HTTP` from the `AWS_*` variables) or `file:///absolute/dir`.
    /// Default: on SQLite the directory `task-logs` in the data dir; on PostgreSQL none (output
    /// stays in the database), as every process must share the store.
    #[arg(long, env = "TESTUM_OBJECT_STORE_URL")]
    pub object_store_url: Option<String>,

    /// Schedules and expiry (the scheduler loop every worker process runs).
    #[command(flatten)]
    pub scheduler: crate::schedule::SchedulerSettings,
}

impl Settings {
    /// The database URL in force (explicit, or the SQLite file in the data dir).
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| crate::store::Store::sqlite_url(&self.data_dir.join("testum.db")))
    }

    /// Read the `*_FILE` settings into the values they stand for (once, after parsing, before
    /// anything uses them). Errors name the file that cannot be read.
    pub fn read_files(&mut self) -> anyhow::Result<()> {
        if let Some(path) = self.master_key_file.take() {
            self.master_key = Some(read_secret_file(&path)?);
        }
        if let Some(path) = self.database_url_file.take() {
            self.database_url = Some(read_secret_file(&path)?.expose().to_string());
        }
        Ok(())
    }

    /// The worker lease.
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret::new(s))
    }
}

/// The master key an admin command uses: `given` (the value of `TESTUM_MASTER_KEY`, or of its
/// file), else the data dir's `master.key`; `None` when neither exists. Unlike `serve`, never
/// creates a key. Errors: a value or file that is not base64 of 32 bytes.
pub fn existing_master_key(
    given: Option<&Secret>,
    data_dir: &Path,
) -> anyhow::Result<Option<crate::crypto::MasterKey>> {
    use anyhow::Context as _;
    match given {
        Some(text) => Ok(Some(
            crate::crypto::MasterKey::from_base64(text.expose()).context("TESTUM_MASTER_KEY")?,
        )),
        None => Ok(crate::crypto::MasterKey::load(
            &data_dir.join("master.key"),
        )?),
    }
}

/// The content of the secret file at `path`, without its trailing newline.
pub fn read_secret_file(path: &Path) -> anyhow::Result<Secret> {
    use anyhow::Context as _;
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
}

/// Create `path` with mode 0600 and write `content`; fails if the file already exists (a secret
/// file is never silently replaced).
pub fn write_private_file(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let mut file = new_private_file(path)?;
    file.write_all(content)?;
    file.sync_all()
}

/// Create `path` with mode 0600 for writing; fails if the file already exists.
pub fn new_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}
