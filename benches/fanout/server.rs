//! testum as a real separate process (the release binary, `testum serve`), so that its memory
//! and CPU are its own: started over a temporary data dir on SQLite or on a fresh PostgreSQL
//! database, measured through /proc, killed (and its database dropped) on drop.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use sqlx::Connection as _;

/// Password of testum's first admin user in the benchmark.
pub const ADMIN_PASSWORD: &str = "bench horse battery staple";

/// Where testum keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Parse `sqlite` or `postgres` (also `pg`, `postgresql`).
    pub fn parse(text: &str) -> anyhow::Result<Backend> {
        match text.trim() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" | "pg" => Ok(Backend::Postgres),
            other => bail!("unknown backend {other:?} (sqlite or postgres)"),
        }
    }

    /// Its name in the printed figures.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A fresh PostgreSQL database `testum_bench_<uuid>`, dropped (with `psql`) on drop.
struct PgDatabase {
    server: String,
    name: String,
}

impl PgDatabase {
    fn create(server: &str) -> anyhow::Result<PgDatabase> {
        let db = PgDatabase {
            server: server.trim_end_matches('/').to_string(),
            name: format!("testum_bench_{}", uuid::Uuid::new_v4().simple()),
        };
        db.psql(&format!("CREATE DATABASE {}", db.name))?;
        Ok(db)
    }

    fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    fn psql(&self, statement: &str) -> anyhow::Result<()> {
        let out = Command::new("psql")
            .arg(format!("{}/postgres", self.server))
            .args(["-v", "ON_ERROR_STOP=1", "-qc", statement])
            .stdin(Stdio::null())
            .output()
            .context("run psql")?;
        if !out.status.success() {
            bail!(
                "psql {statement:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Err(e) = self.psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )) {
            eprintln!("# could not drop the bench database {}: {e:#}", self.name);
        }
    }
}

/// A running `testum serve`; killed on drop (then its database is dropped and its data dir
/// removed).
pub struct Testum {
    child: Child,
    pub backend: Backend,
    pub base: String,
    log: PathBuf,
    // Dropped after the child is killed (fields drop after `Drop::drop`), in this order.
    database: Option<PgDatabase>,
    data_dir: tempfile::TempDir,
}

impl Testum {
    /// Start `testum serve` on a free loopback port with `worker_concurrency` SSH sessions, on
    /// `backend` (PostgreSQL: a fresh database on `pg_server`, task output archived to a
    /// directory of the data dir, as SQLite does by default), and wait until `/healthz` answers.
    pub async fn start(
        backend: Backend,
        pg_server: &str,
        worker_concurrency: usize,
    ) -> anyhow::Result<Testum> {
        let data_dir = tempfile::Builder::new()
            .prefix("testum-bench-")
            .tempdir()
            .context("create the data dir")?;
        let database = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgDatabase::create(pg_server)?),
        };
        let bind = format!("127.0.0.1:{}", free_port()?);
        let log = data_dir.path().join("testum.log");
        let log_file = File::create(&log).context("create the log file")?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_testum"));
        command
            .arg("serve")
            .env_remove("TESTUM_DATABASE_URL")
            .env_remove("TESTUM_OBJECT_STORE_URL")
            .env_remove("TESTUM_MASTER_KEY")
            .env("TESTUM_DATA_DIR", data_dir.path())
            .env("TESTUM_BIND", &bind)
            .env("TESTUM_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("TESTUM_WORKER_CONCURRENCY", worker_concurrency.to_string())
            // The whole run under one login.
            .env("TESTUM_ACCESS_TOKEN_TTL_SECS", "86400")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        if let Some(db) = &database {
            let logs = data_dir.path().join("task-logs");
            command.env("TESTUM_DATABASE_URL", db.url()).env(
                "TESTUM_OBJECT_STORE_URL",
                format!("file://{}", logs.display()),
            );
            std::fs::create_dir_all(&logs)?;
        }
        let child = command.spawn().context("start testum serve")?;
        let mut testum = Testum {
            child,
            backend,
            base: format!("http://{bind}"),
            log,
            database,
            data_dir,
        };
        testum.wait_ready().await?;
        Ok(testum)
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("testum serve exited ({status}): {}", self.log_tail(20));
            }
            if let Ok(r) = http.get(format!("{}/healthz", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "testum serve did not answer /healthz in 60 s: {}",
                    self.log_tail(20)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last `lines` lines of its log, on one line each, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The database URL it uses, as a client outside it reaches it.
    pub fn database_url(&self) -> String {
        match &self.database {
            Some(db) => db.url(),
            None => format!(
                "sqlite://{}?mode=ro",
                self.data_dir.path().join("testum.db").display()
            ),
        }
    }

    fn status_kib(&self, field: &str) -> Option<f64> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = text.lines().find(|l| l.starts_with(field))?;
        line[field.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    }

    /// Resident memory now, in MB (10^6 bytes).
    pub fn rss_mb(&self) -> Option<f64> {
        self.status_kib("VmRSS:").map(|kib| kib * 1024.0 / 1e6)
    }

    /// Peak resident memory since the last [`Testum::reset_peak`] (or the start), in MB.
    pub fn peak_rss_mb(&self) -> Option<f64> {
        self.status_kib("VmHWM:").map(|kib| kib * 1024.0 / 1e6)
    }

    /// Reset the peak resident memory to the current one (`5` into /proc/PID/clear_refs).
    pub fn reset_peak(&self) {
        let path = format!("/proc/{}/clear_refs", self.child.id());
        if let Err(e) = std::fs::write(&path, "5") {
            eprintln!("# cannot reset the peak RSS through {path}: {e}");
        }
    }

    /// CPU time used so far (user + system), in seconds.
    pub fn cpu_s(&self) -> Option<f64> {
        process_cpu_s(&self.child.id().to_string())
    }

    /// Whether task `task`'s output has been archived (`tasks.archived_at` set), read from the
    /// database behind testum's back: the API does not show it.
    pub async fn archived(&self, task: &str) -> anyhow::Result<bool> {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.database_url()).await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM tasks WHERE CAST(id AS TEXT) = $1 AND archived_at IS NOT NULL",
        )
        .bind(task)
        .fetch_one(&mut conn)
        .await?;
        conn.close().await?;
        Ok(n > 0)
    }
}

impl Drop for Testum {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time (user + system) of process `pid` (`self` for this one) so far, in seconds, from
/// /proc/PID/stat.
pub fn process_cpu_s(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After "pid (comm) ": field 3 (state) is index 0, utime (14) index 11, stime index 12.
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / clock_ticks())
}

/// CPU clock ticks per second (`getconf CLK_TCK`, asked once; 100 when that fails).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A loopback port free right now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
