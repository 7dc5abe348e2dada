//! Real `testum serve` and `testum worker` OS processes over one database, for tests that kill
//! them (SIGKILL) or restart them: the processes share the database, the master key (in the
//! environment) and a task-log directory; each has its own data dir and log file.

use crate::app;

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use app::TestApp;
use base64::Engine as _;
use reqwest::StatusCode;

/// Lease of the test processes: short, so a killed worker's targets come back quickly, but with
/// headroom for heartbeats on a loaded 2-core CI machine (4 s once lost a live worker's lease
/// there while every worker also ran the scheduler and webhook loops).
pub const LEASE_SECS: &str = "8";

/// One database and the master key every process of a test shares.
pub struct Cluster {
    pub database_url: String,
    master_key: String,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// A cluster on a fresh PostgreSQL database (`TESTUM_TEST_DATABASE_URL`, default
    /// `postgres://postgres@127.0.0.1:5432`), whatever pass of the suite runs.
    pub async fn new() -> Cluster {
        let server = std::env::var("TESTUM_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        Cluster::with_database(Some(app::new_postgres_database(&server).await))
    }

    /// A cluster on the suite's backend: a fresh PostgreSQL database in the PostgreSQL pass, else
    /// a SQLite file (one process at a time on it: the README's SQLite setup).
    pub async fn on_test_backend() -> Cluster {
        Cluster::with_database(app::test_database_url().await)
    }

    fn with_database(database_url: Option<String>) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let database_url = database_url
            .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("testum.db").display()));
        Cluster {
            database_url,
            master_key: base64::engine::general_purpose::STANDARD.encode(rand_bytes()),
            dir,
        }
    }

    /// `true` on PostgreSQL, where API servers and workers may be separate processes.
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    pub fn spawn(&self, name: &str, args: &[&str]) -> Proc {
        self.spawn_with(name, args, &[])
    }

    /// [`Cluster::spawn`] with `env` set after the cluster's own variables.
    pub fn spawn_with(&self, name: &str, args: &[&str], env: &[(&str, &str)]) -> Proc {
        let data_dir = self.dir.path().join(name);
        std::fs::create_dir_all(&data_dir).unwrap();
        let log_path = self.dir.path().join(format!("{name}.log"));
        let log = File::create(&log_path).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_testum"))
            .args(args)
            .env("TESTUM_DATABASE_URL", &self.database_url)
            .env("TESTUM_MASTER_KEY", &self.master_key)
            .env("TESTUM_DATA_DIR", &data_dir)
            .env("TESTUM_ADMIN_PASSWORD", app::ADMIN_PASSWORD)
            .env("TESTUM_LEASE_SECS", LEASE_SECS)
            .env("TESTUM_SHUTDOWN_GRACE_SECS", "5")
            .env("TESTUM_LOG", "info")
            .env(
                "TESTUM_OBJECT_STORE_URL",
                format!("file://{}", self.logs().display()),
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start testum");
        Proc {
            child,
            log: log_path,
        }
    }

    /// An API server with `workers` in-process workers on a free port, ready, with a logged-in
    /// client.
    pub async fn server(&self, name: &str, workers: &str) -> (Proc, TestApp) {
        self.server_on(name, workers, free_port(), &[]).await
    }

    /// [`Cluster::server`] on 127.0.0.1:`port` (e.g. the port of a server that was killed), with
    /// `env` as in [`Cluster::spawn_with`].
    pub async fn server_on(
        &self,
        name: &str,
        workers: &str,
        port: u16,
        env: &[(&str, &str)],
    ) -> (Proc, TestApp) {
        let bind = format!("127.0.0.1:{port}");
        let proc = self.spawn_with(name, &["serve", "--bind", &bind, "--workers", workers], env);
        let base = format!("http://{bind}");
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await
                && r.status() == StatusCode::OK
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} did not start: {}",
                proc.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (proc, TestApp::attach(base).await)
    }

    /// The task-log directory every process of the cluster shares.
    pub fn logs(&self) -> PathBuf {
        self.dir.path().join("task-logs")
    }

    pub fn worker(&self, name: &str) -> Proc {
        self.spawn(name, &["worker"])
    }
}

pub fn rand_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (i, chunk) in uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(uuid::Uuid::new_v4().as_bytes())
        .enumerate()
    {
        bytes[i] = *chunk;
    }
    bytes
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A testum process, SIGKILLed when dropped.
pub struct Proc {
    pub child: Child,
    log: PathBuf,
}

impl Proc {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: the process gets no chance to clean up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}
