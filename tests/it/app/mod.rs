//! Test harness: the real testum service (store, workers, HTTP API) started in-process on a free
//! loopback port over a fresh data dir, and a small HTTP client logged in as the admin.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sqlx::Connection as _;
use testum::archive::OutputArchive;
use testum::config::{ServeConfig, Settings};
use testum::secret::Secret;
use testum::store::Store;
use testum::tasks::{Worker, WorkerConfig};

pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A running service; stops when dropped (the tokio runtime of the test ends it).
pub struct TestApp {
    pub base: String,
    /// The PostgreSQL database of this test, when the suite runs on PostgreSQL.
    pub database_url: Option<String>,
    /// The in-process worker, until [`TestApp::shutdown_worker`].
    pub worker: Option<Worker>,
    pub data_dir: tempfile::TempDir,
    pub token: String,
    pub http: reqwest::Client,
    /// The service's store (for tests that look behind the API); `None` when attached.
    in_process_store: Option<Store>,
    /// Where the service archives ended tasks' output; `None` when attached.
    in_process_archive: Option<OutputArchive>,
}

/// The database for one test: a fresh SQLite file in the data dir, or, when
/// `TESTUM_TEST_DATABASE_URL` names a PostgreSQL server (e.g. `postgres://postgres@127.0.0.1:5432`),
/// a fresh database `testum_t_[<run>_]<uuid>` created on it (the Makefile drops them after the
/// run; see `new_postgres_database`).
pub async fn test_database_url() -> Option<String> {
    let server = std::env::var("TESTUM_TEST_DATABASE_URL").ok()?;
    Some(new_postgres_database(&server).await)
}

/// A fresh database on the PostgreSQL server at `server`; its URL. Named `testum_t_<uuid>`, or
/// `testum_t_<run>_<uuid>` when `TESTUM_TEST_RUN` (letters and digits) names the run: the
/// Makefile sets it so that its clean-up drops this run's databases only, and two runs (say
/// `make faults` and `make test`) can share one server.
pub async fn new_postgres_database(server: &str) -> String {
    let server = server.trim_end_matches('/');
    let run = match std::env::var("TESTUM_TEST_RUN") {
        Ok(run) if !run.is_empty() => {
            assert!(
                run.chars().all(|c| c.is_ascii_alphanumeric()),
                "TESTUM_TEST_RUN must be letters and digits, not {run:?}"
            );
            format!("{}_", run.to_ascii_lowercase())
        }
        _ => String::new(),
    };
    let name = format!("testum_t_{run}{}", uuid::Uuid::new_v4().simple());
    let (admin_url, _) = split_database(server);
    let mut admin = sqlx::PgConnection::connect(&format!("{admin_url}/postgres"))
        .await
        .expect("connect to the test PostgreSQL server");
    sqlx::Executor::execute(
        &mut admin,
        sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
    )
    .await
    .expect("create the test database");
    format!("{admin_url}/{name}")
}

/// `postgres://user@host:port[/db]` → (`postgres://user@host:port`, db).
fn split_database(url: &str) -> (&str, Option<&str>) {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    match url[after_scheme..].find('/') {
        Some(slash) => (
            &url[..after_scheme + slash],
            Some(&url[after_scheme + slash + 1..]),
        ),
        None => (url, None),
    }
}

pub fn config(data_dir: PathBuf) -> ServeConfig {
    ServeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        workers: 1,
        admin_password: Some(Secret::new(ADMIN_PASSWORD)),
        access_token_ttl_secs: 900,
        metrics_token: None,
        http: Default::default(),
        ldap: Default::default(),
        oidc: Default::default(),
        refresh_token_ttl_secs: 7 * 86_400,
        require_totp_for: Default::default(),
        // Every test client is 127.0.0.1 and tests sign in often: generous limits, so walking
        // the routes or signing in several users is not throttled. Rate-limit tests set theirs.
        rate_limits: testum::api::ratelimit::RateLimits {
            auth_rate_per_ip_per_min: 600,
            auth_rate_per_ip_burst: 100,
            login_rate_per_user_per_min: 60,
        },
        settings: Settings {
            data_dir,
            database_url: None,
            database_url_file: None,
            db_max_connections: 10,
            master_key: None,
            master_key_file: None,
            log: None,
            log_format: "text".into(),
            worker_concurrency: 100,
            lease_secs: 30,
            // Generous: on 2 cores busy with the whole suite a fresh sshd's first handshake
            // has taken more than 10 s (a connect-timeout failure no test means to check).
            connect_timeout_secs: 30,
            shutdown_grace_secs: 30,
            max_output_bytes: 16 * 1024 * 1024,
            max_task_output_bytes: 4 * 1024 * 1024 * 1024,
            output_retention_days: 90,
            notify_retry_base_ms: 10_000,
            object_store_url: None,
            scheduler: Default::default(),
        },
    }
}

impl TestApp {
    /// Start the service with its in-process worker and log in as `admin`.
    pub async fn start() -> TestApp {
        TestApp::start_with(|_| {}).await
    }

    /// [`TestApp::start`] with the configuration changed by `adjust` first.
    pub async fn start_with(adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
        TestApp::start_with_archive(adjust, None, true).await
    }

    /// [`TestApp::start_with`], with ended tasks' output archived into `archive` instead of the
    /// default (the data dir's `task-logs`), by the worker when `archive_on_finish`, else only
    /// when the test calls `testum::archive::archive_task`.
    pub async fn start_with_archive(
        adjust: impl FnOnce(&mut ServeConfig),
        archive: Option<OutputArchive>,
        archive_on_finish: bool,
    ) -> TestApp {
        TestApp::start_full(None, adjust, archive, archive_on_finish).await
    }

    /// [`TestApp::start_with`], serving on `listener`: for a test that must know the service's
    /// address before it starts (an OpenID provider registers its redirect URI).
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        adjust: impl FnOnce(&mut ServeConfig),
    ) -> TestApp {
        TestApp::start_full(Some(listener), adjust, None, true).await
    }

    async fn start_full(
        listener: Option<tokio::net::TcpListener>,
        adjust: impl FnOnce(&mut ServeConfig),
        archive: Option<OutputArchive>,
        archive_on_finish: bool,
    ) -> TestApp {
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = config(data_dir.path().to_path_buf());
        config.settings.database_url = test_database_url().await;
        adjust(&mut config);
        let mut state = testum::server::prepare(&config).await.unwrap();
        if let Some(archive) = archive {
            state.archive = archive;
        }
        let worker = Worker::start(
            state.store.clone(),
            state.master_key.clone(),
            state.events.clone(),
            WorkerConfig {
                archive: archive_on_finish.then(|| state.archive.clone()),
                health: state.workers.clone(),
                ..WorkerConfig::from(&config.settings)
            },
        );
        TestApp::serve(state, &config, data_dir, Some(worker), listener).await
    }

    /// The service's HTTP API without a worker in process (as when `testum worker` processes do
    /// the work): tasks stay queued and no host is ever dialled, for tests that register
    /// platforms at arbitrary addresses (the fuzzing in `schemathesis`). `adjust` changes the
    /// configuration first.
    pub async fn start_without_worker(adjust: impl FnOnce(&mut ServeConfig)) -> TestApp {
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = config(data_dir.path().to_path_buf());
        config.settings.database_url = test_database_url().await;
        adjust(&mut config);
        let state = testum::server::prepare(&config).await.unwrap();
        TestApp::serve(state, &config, data_dir, None, None).await
    }

    /// Serve `state` on `listener` (default: a free loopback port) and log in as `admin`.
    async fn serve(
        state: testum::api::AppState,
        config: &ServeConfig,
        data_dir: tempfile::TempDir,
        worker: Option<Worker>,
        listener: Option<tokio::net::TcpListener>,
    ) -> TestApp {
        let listener = match listener {
            Some(listener) => listener,
            None => tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        };
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (store, archive) = (state.store.clone(), state.archive.clone());
        tokio::spawn(testum::api::serve(listener, state, std::future::pending()));
        let mut app = TestApp {
            in_process_store: Some(store),
            in_process_archive: Some(archive),
            base,
            database_url: config.settings.database_url.clone(),
            worker,
            data_dir,
            token: String::new(),
            http: reqwest::Client::new(),
        };
        app.login().await;
        app
    }

    /// Log in as `admin` and keep the access token.
    async fn login(&mut self) {
        let (status, body) = self
            .call_anon(
                Method::POST,
                "/api/auth/login",
                Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        self.token = body["access_token"].as_str().unwrap().to_string();
    }

    /// The in-process service's store.
    pub fn store(&self) -> &Store {
        self.in_process_store
            .as_ref()
            .expect("an in-process TestApp")
    }

    /// The in-process service's output archive.
    pub fn archive(&self) -> &OutputArchive {
        self.in_process_archive
            .as_ref()
            .expect("an in-process TestApp")
    }

    /// A client of a service running elsewhere (another process) at `base`, logged in as admin.
    pub async fn attach(base: String) -> TestApp {
        let mut app = TestApp {
            base,
            database_url: None,
            worker: None,
            in_process_store: None,
            in_process_archive: None,
            data_dir: tempfile::tempdir().unwrap(),
            token: String::new(),
            http: reqwest::Client::new(),
        };
        app.login().await;
        app
    }

    /// Register a password platform `name` at 127.0.0.1:`port`; its id.
    pub async fn add_password_platform(
        &self,
        name: &str,
        port: u16,
        username: &str,
        password: &str,
    ) -> String {
        let (status, platform) = self
            .post(
                "/api/platforms",
                json!({"name": name, "host": "127.0.0.1", "port": port, "username": username,
                       "auth_method": "password", "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{platform}");
        platform["id"].as_str().unwrap().to_string()
    }

    /// Register public key `line` as `name`; its id.
    pub async fn add_key(&self, name: &str, line: &str) -> String {
        self.register_key(json!({"name": name, "public_key": line}))
            .await
    }

    /// Register public key `line` as `name` belonging to `owner`; its id.
    pub async fn add_owned_key(&self, name: &str, owner: &str, line: &str) -> String {
        self.register_key(json!({"name": name, "public_key": line, "owner": owner}))
            .await
    }

    async fn register_key(&self, body: Value) -> String {
        let (status, key) = self.post("/api/keys", body).await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        key["id"].as_str().unwrap().to_string()
    }

    /// POST a task (`path`, `body`) that must be accepted; its id.
    pub async fn queue(&self, path: &str, body: Value) -> String {
        let (status, accepted) = self.post(path, body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        accepted["task_id"].as_str().unwrap().to_string()
    }

    /// [`TestApp::queue`], then wait for the task's end; its JSON.
    pub async fn run_task(&self, path: &str, body: Value) -> Value {
        let task = self.queue(path, body).await;
        self.wait_task(&task).await
    }

    /// Every frame of task `task`'s WebSocket until `done` (bounded: 60 s).
    pub async fn ws_frames(&self, task: &str) -> Vec<Value> {
        self.ws_frames_with(task, "").await
    }

    /// [`TestApp::ws_frames`] with more of the query (`&output=none`, `&platform_id=...`).
    pub async fn ws_frames_with(&self, task: &str, query: &str) -> Vec<Value> {
        use futures::StreamExt as _;
        use tokio_tungstenite::tungstenite::Message;
        let url = format!(
            "{}/ws/tasks/{task}?access_token={}{query}",
            self.base.replace("http://", "ws://"),
            self.token
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut frames = Vec::new();
        let read = async {
            while let Some(message) = socket.next().await {
                if let Message::Text(text) = message.unwrap() {
                    let frame: Value = serde_json::from_str(&text).unwrap();
                    let done = frame["type"] == "done";
                    frames.push(frame);
                    if done {
                        break;
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(60), read)
            .await
            .expect("the WebSocket reached done in time");
        frames
    }

    /// Wait (bounded: 30 s) until `platform`'s stdout in `task` is exactly `expected`.
    pub async fn wait_stdout(&self, task: &str, platform: &str, expected: &[u8]) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.raw_output(task, platform, "stdout").await != expected {
            assert!(
                tokio::time::Instant::now() < deadline,
                "stdout never became {expected:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Shut the worker down as `serve` does on SIGTERM, with `grace`.
    pub async fn shutdown_worker(&mut self, grace: Duration) {
        if let Some(worker) = self.worker.take() {
            worker.shutdown(grace).await;
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value, headers)
    }

    /// Call the API as the admin.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, value, _) = self.send(method, path, body, Some(&self.token)).await;
        (status, value)
    }

    /// Call the API as the admin, also returning the response headers.
    pub async fn call_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        self.send(method, path, body, Some(&self.token)).await
    }

    /// Call the API without a token.
    pub async fn call_anon(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, value, _) = self.send(method, path, body, None).await;
        (status, value)
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Wait until task `id` ends (bounded: 120 s), returning its JSON.
    pub async fn wait_task(&self, id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            let task = self.get(&format!("/api/tasks/{id}")).await;
            if ["succeeded", "failed", "cancelled"].contains(&task["status"].as_str().unwrap()) {
                return task;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "task {id} did not end: {task}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// GET `path` as the admin and read the body as text (CSV and other non-JSON answers).
    pub async fn get_text(&self, path: &str) -> (StatusCode, reqwest::header::HeaderMap, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        (status, headers, response.text().await.unwrap())
    }

    /// Exact bytes of one stream of one platform of a task.
    pub async fn raw_output(&self, task: &str, platform: &str, stream: &str) -> Vec<u8> {
        let response = self
            .http
            .get(format!(
                "{}/api/tasks/{task}/output?platform_id={platform}&stream={stream}",
                self.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.bytes().await.unwrap().to_vec()
    }

    /// The database URL of this service as a client outside it uses it.
    pub fn database_url_in_force(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| Store::sqlite_url(&self.data_dir.path().join("testum.db")))
    }

    /// Run the real `testum` binary with `args` (an admin command such as `audit verify`) against
    /// this service's data dir and database, with `env` added; no master key in its environment
    /// unless `env` gives one.
    pub async fn admin_command(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_testum"));
        command
            .args(args)
            .env_remove("TESTUM_MASTER_KEY")
            .env_remove("TESTUM_NEW_MASTER_KEY")
            .env("TESTUM_DATA_DIR", self.data_dir.path())
            .env("TESTUM_DATABASE_URL", self.database_url_in_force())
            .envs(env.iter().copied());
        tokio::task::spawn_blocking(move || command.output().expect("run testum"))
            .await
            .unwrap()
    }

    /// Run one SQL statement on this service's database behind its back (to tamper with it).
    pub async fn sql(&self, statement: &str) {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.database_url_in_force())
            .await
            .unwrap();
        sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(statement.to_string()))
            .await
            .unwrap();
    }

    /// Record a migration `version` this binary does not have, as a newer testum would have
    /// applied it.
    pub async fn mark_migrated_by_newer_testum(&self, version: i64) {
        let checksum = match self.database_url {
            None => "X'00'",
            Some(_) => "decode('00', 'hex')",
        };
        self.sql(&format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
             execution_time) VALUES ({version}, 'from a newer testum', TRUE, {checksum}, 1)"
        ))
        .await;
    }
}

/// The UI page at `url` as the browser session `cookie` (`testum_session=...`) sees it.
pub async fn ui_page(client: &reqwest::Client, url: &str, cookie: &str) -> String {
    client
        .get(url)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The CSRF token a UI page carries in `<meta name="csrf-token">` (the page of a signed-in
/// browser session); `None` when absent.
pub fn page_csrf(page: &str) -> Option<String> {
    page.split(r#"<meta name="csrf-token" content=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_string)
}
