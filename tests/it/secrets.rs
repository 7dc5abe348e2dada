//! Secrets at rest: `testum rotate-master-key` (the real binary) re-seals every credential, after
//! which real deploys still log in with the same credentials and the old key opens nothing; a
//! failed rotation changes nothing; and a secret scan finds no secret in clear in the debug logs,
//! the API responses or the database (passwords, master key, platform credentials, access,
//! refresh and API tokens). SQLite, and PostgreSQL with `TESTUM_TEST_DATABASE_URL`.

use crate::app;
use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use app::TestApp;
use base64::Engine as _;
use common::{KeyKind, TestHost};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testum::crypto::{CryptoError, MasterKey};
use uuid::Uuid;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Register `host` as a private-key platform logging in with `login`; its id.
async fn add_key_platform(app: &TestApp, host: &TestHost, name: &str, pem: &str) -> String {
    let (status, platform) = app
        .post(
            "/api/platforms",
            json!({"name": name, "host": "127.0.0.1", "port": host.sshd.port(),
                   "username": host.user.name, "auth_method": "private_key",
                   "private_key": pem}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{platform}");
    platform["id"].as_str().unwrap().to_string()
}

/// Whether `key` opens the stored credential of `platform`.
async fn opens(app: &TestApp, key: &MasterKey, platform: &str) -> Result<(), CryptoError> {
    let id = Uuid::parse_str(platform).unwrap();
    let sealed = app.store().platform_credential(id).await.unwrap();
    testum::credential::open(key, id, &sealed).map(|_| ())
}

#[tokio::test]
async fn rotated_key_file_keeps_real_deploys_working_and_the_old_key_opens_nothing() {
    let (pw_host, pk_host) = (TestHost::start(), TestHost::start());
    let mut app = TestApp::start().await;
    let pw = app
        .add_password_platform(
            "pw",
            pw_host.sshd.port(),
            &pw_host.user.name,
            &pw_host.user.password,
        )
        .await;
    let login = pk_host.authorized_key(KeyKind::Ed25519);
    let pk = add_key_platform(&app, &pk_host, "pk", &login.private_pem).await;
    let (status, hook) = app
        .post(
            "/api/notifications",
            json!({"name": "ops", "url": "https://hooks.example.com/T0/B0/tok3n",
                   "events": ["task.failed"], "secret": "hook-secret"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    let hook = Uuid::parse_str(hook["id"].as_str().unwrap()).unwrap();
    let key_file = app.data_dir.path().join("master.key");
    let old = MasterKey::load(&key_file).unwrap().unwrap();
    // The service's own worker holds the old key: stop it, as operators stop their servers.
    app.shutdown_worker(Duration::from_secs(5)).await;

    let rotated = app.admin_command(&["rotate-master-key"], &[]).await;
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    assert!(
        text(&rotated.stdout).contains("re-sealed 2 platform credentials"),
        "{}",
        text(&rotated.stdout)
    );
    let new = MasterKey::load(&key_file).unwrap().unwrap();
    assert_ne!(new.key_id(), old.key_id());
    assert!(!app.data_dir.path().join("master.key.new").exists());
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    for platform in [&pw, &pk] {
        assert!(matches!(
            opens(&app, &old, platform).await,
            Err(CryptoError::WrongKey(_))
        ));
        opens(&app, &new, platform).await.unwrap();
    }
    // The webhook's URL and secret were re-sealed too.
    let sealed = app
        .store()
        .notification_endpoint_sealed(hook)
        .await
        .unwrap()
        .unwrap();
    assert!(testum::notify::open_target(&old, hook, &sealed).is_err());
    let target = testum::notify::open_target(&new, hook, &sealed).unwrap();
    assert_eq!(target.url.expose(), "https://hooks.example.com/T0/B0/tok3n");
    assert_eq!(target.secret.unwrap().expose(), "hook-secret");
    // A process given the old key refuses to start.
    let old_text = old.to_base64();
    let refused = testum::server::prepare(&{
        let mut config = app::config(app.data_dir.path().to_path_buf());
        config.settings.database_url = app.database_url.clone();
        config.settings.master_key = Some(testum::secret::Secret::new(old_text.as_str()));
        config
    })
    .await;
    let error = format!("{:#}", refused.err().expect("the old key is refused"));
    assert!(error.contains("not the one"), "{error}");

    // A service started afterwards (new key from the file) deploys with both credentials.
    let (dir, url) = (app.data_dir.path().to_path_buf(), app.database_url.clone());
    let after = TestApp::start_with(|config| {
        config.settings.data_dir = dir;
        config.settings.database_url = url;
    })
    .await;
    let client = common::ClientKey::generate(KeyKind::Ed25519, None);
    let key = after.add_key("alice", &client.public_line).await;
    for platform in [&pw, &pk] {
        let task = after
            .run_task(
                &format!("/api/platforms/{platform}/deploy_keys"),
                json!({"key_ids": [key]}),
            )
            .await;
        assert_eq!(task["status"], "succeeded", "{task}");
    }
    assert!(pw_host.ssh_login_works(&client));
    assert!(pk_host.ssh_login_works(&client));
    let audit = after.get("/api/audit?action=master_key.rotate").await;
    assert_eq!(audit["items"][0]["details"]["new_key_id"], new.key_id());
    let verified = app.admin_command(&["audit", "verify"], &[]).await;
    assert!(verified.status.success(), "{}", text(&verified.stderr));
}

#[tokio::test]
async fn a_failed_rotation_changes_nothing_and_an_environment_key_needs_the_new_one() {
    let old = MasterKey::generate();
    let old_text = old.to_base64().to_string();
    let app = TestApp::start_with(|config| {
        config.settings.master_key = Some(testum::secret::Secret::new(old_text.as_str()));
    })
    .await;
    let a = app.add_password_platform("a", 22, "ua", "secret-a").await;
    let b = app.add_password_platform("b", 22, "ub", "secret-b").await;
    let new = MasterKey::generate();
    let new_text = new.to_base64().to_string();

    let refused = app
        .admin_command(&["rotate-master-key"], &[("TESTUM_MASTER_KEY", &old_text)])
        .await;
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("TESTUM_NEW_MASTER_KEY"),
        "{}",
        text(&refused.stderr)
    );

    // b's credential moved from a's row: it cannot be opened, so the whole rotation rolls back.
    app.sql(
        "UPDATE platforms SET credential = (SELECT credential FROM platforms WHERE name = 'a') \
         WHERE name = 'b'",
    )
    .await;
    let id_a = Uuid::parse_str(&a).unwrap();
    let before = app.store().platform_credential(id_a).await.unwrap();
    let env = [
        ("TESTUM_MASTER_KEY", old_text.as_str()),
        ("TESTUM_NEW_MASTER_KEY", new_text.as_str()),
    ];
    let failed = app.admin_command(&["rotate-master-key"], &env).await;
    assert!(!failed.status.success());
    let stderr = text(&failed.stderr);
    assert!(stderr.contains(&format!("platform {b}")), "{stderr}");
    assert_eq!(app.store().platform_credential(id_a).await.unwrap(), before);
    opens(&app, &old, &a).await.unwrap();
    assert_eq!(
        app.get("/api/audit?action=master_key.rotate").await["items"],
        json!([])
    );

    let (status, _) = app
        .call(Method::DELETE, &format!("/api/platforms/{b}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let rotated = app.admin_command(&["rotate-master-key"], &env).await;
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    assert!(
        text(&rotated.stdout)
            .contains("set TESTUM_MASTER_KEY to the value of TESTUM_NEW_MASTER_KEY"),
        "{}",
        text(&rotated.stdout)
    );
    opens(&app, &new, &a).await.unwrap();
    assert!(opens(&app, &old, &a).await.is_err());
    // Running it again (e.g. unsure whether it finished) is harmless.
    let again = app.admin_command(&["rotate-master-key"], &env).await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    opens(&app, &new, &a).await.unwrap();
}

/// A `testum serve` process with debug logs captured in a file; SIGKILLed when dropped.
/// From a fresh-user trial: rotating under a running server lost a credential the server sealed
/// under the old key afterwards. rotate-master-key now refuses while any serve or worker runs.
#[tokio::test]
async fn rotate_master_key_refuses_while_a_server_uses_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = app::test_database_url().await;
    let data_dir = dir.path().join("data");
    let rotate = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_testum"));
        command
            .arg("rotate-master-key")
            .env_remove("TESTUM_MASTER_KEY")
            .env_remove("TESTUM_NEW_MASTER_KEY")
            .env_remove("TESTUM_DATABASE_URL")
            .env("TESTUM_DATA_DIR", &data_dir);
        if let Some(url) = &database_url {
            command.env("TESTUM_DATABASE_URL", url);
        }
        command.output().expect("run testum")
    };
    let server = Server::start(
        dir.path(),
        database_url.as_deref(),
        &[("TESTUM_ADMIN_PASSWORD", "an admin password")],
    )
    .await;
    let key_before = std::fs::read(data_dir.join("master.key")).unwrap();
    let refused = rotate();
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("is using this database"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(
        std::fs::read(data_dir.join("master.key")).unwrap(),
        key_before
    );
    drop(server);
    let rotated = rotate();
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    assert_ne!(
        std::fs::read(data_dir.join("master.key")).unwrap(),
        key_before
    );
}

struct Server {
    child: Child,
    log: PathBuf,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(dir: &Path, database_url: Option<&str>, env: &[(&str, &str)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let bind = format!("127.0.0.1:{port}");
        let log = dir.join("serve.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_testum"));
        command
            .args(["serve", "--bind", &bind])
            .env_remove("TESTUM_DATABASE_URL")
            .env_remove("TESTUM_MASTER_KEY")
            .env("TESTUM_DATA_DIR", dir.join("data"))
            .env("TESTUM_LOG", "debug")
            .env("RUST_LOG", "debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        if let Some(url) = database_url {
            command.env("TESTUM_DATABASE_URL", url);
        }
        let server = Server {
            child: command.spawn().expect("start testum"),
            log,
            base: format!("http://{bind}"),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !reqwest::get(format!("{}/healthz", server.base))
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "testum did not start: {}",
                std::fs::read_to_string(&server.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        server
    }
}

/// Every form a secret could leak in: clear, base64 (both alphabets, padded or not) and hex (how
/// PostgreSQL prints bytes).
fn forms(secret: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let bytes = secret.as_bytes();
    vec![
        secret.to_string(),
        STANDARD.encode(bytes),
        STANDARD_NO_PAD.encode(bytes),
        URL_SAFE_NO_PAD.encode(bytes),
        bytes.iter().map(|b| format!("{b:02x}")).collect(),
    ]
}

/// Everything the database holds, as bytes: the SQLite files, or every PostgreSQL row as text.
async fn database_dump(data_dir: &Path, database_url: Option<&str>) -> Vec<u8> {
    match database_url {
        None => ["testum.db", "testum.db-wal", "testum.db-shm"]
            .iter()
            .flat_map(|f| std::fs::read(data_dir.join(f)).unwrap_or_default())
            .collect(),
        Some(url) => {
            use sqlx::Connection as _;
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = 'public'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            let mut dump = Vec::new();
            for table in tables {
                let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT t::text FROM \"{table}\" t"
                )))
                .fetch_all(&mut conn)
                .await
                .unwrap();
                for row in rows {
                    dump.extend_from_slice(row.as_bytes());
                    dump.push(b'\n');
                }
            }
            dump
        }
    }
}

#[tokio::test]
async fn no_secret_in_clear_in_debug_logs_api_responses_or_the_database() {
    let (pw_host, pk_host) = (TestHost::start(), TestHost::start());
    let dir = tempfile::tempdir().unwrap();
    let database_url = app::test_database_url().await;
    let master_key = MasterKey::generate().to_base64().to_string();
    let admin_password = format!("admin-{}", Uuid::new_v4().simple());
    let wrong_password = format!("typo-{}", Uuid::new_v4().simple());
    let server = Server::start(
        dir.path(),
        database_url.as_deref(),
        &[
            ("TESTUM_ADMIN_PASSWORD", &admin_password),
            ("TESTUM_MASTER_KEY", &master_key),
        ],
    )
    .await;
    let http = reqwest::Client::new();
    let mut bodies: Vec<String> = Vec::new();
    let mut call = async |method: Method, path: &str, token: Option<&str>, body: Option<Value>| {
        let mut request = http.request(method, format!("{}{path}", server.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = format!("{:?}", response.headers());
        let text = response.text().await.unwrap();
        bodies.push(format!("{path}\n{headers}\n{text}"));
        (
            status,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
        )
    };

    let (status, _) = call(
        Method::POST,
        "/api/auth/login",
        None,
        Some(json!({"username": "admin", "password": wrong_password})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Responses that carry a secret by design (login, refresh, a new API token) are read here,
    // outside `call`, and left out of the scan; every other response is scanned.
    let issue = async |path: &str, token: Option<&str>, body: Value| -> Value {
        let mut request = http.post(format!("{}{path}", server.base)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    };
    let login = issue(
        "/api/auth/login",
        None,
        json!({"username": "admin", "password": admin_password}),
    )
    .await;
    let first_refresh = login["refresh_token"].as_str().unwrap().to_string();
    let pair = issue(
        "/api/auth/refresh",
        None,
        json!({"refresh_token": first_refresh}),
    )
    .await;
    let token = pair["access_token"].as_str().unwrap().to_string();
    let refresh = pair["refresh_token"].as_str().unwrap().to_string();
    let first_token = login["access_token"].as_str().unwrap().to_string();
    let auth = Some(token.as_str());

    // A second user, who changes its password and makes an API token.
    let bob_password = format!("bob-{}", Uuid::new_v4().simple());
    let bob_new_password = format!("bob-new-{}", Uuid::new_v4().simple());
    let (status, bob) = call(
        Method::POST,
        "/api/users",
        auth,
        Some(json!({"username": "bob", "password": bob_password, "role": "operator"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{bob}");
    let bob_login = issue(
        "/api/auth/login",
        None,
        json!({"username": "bob", "password": bob_password}),
    )
    .await;
    let bob_token = bob_login["access_token"].as_str().unwrap().to_string();
    let (status, changed) = call(
        Method::POST,
        "/api/users/me/password",
        Some(&bob_token),
        Some(json!({"current_password": bob_password, "new_password": bob_new_password})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{changed}");
    let bob_login = issue(
        "/api/auth/login",
        None,
        json!({"username": "bob", "password": bob_new_password}),
    )
    .await;
    let bob_token = bob_login["access_token"].as_str().unwrap().to_string();
    let created = issue(
        "/api/tokens",
        Some(&bob_token),
        json!({"name": "ci", "role": "viewer"}),
    )
    .await;
    let api_token = created["token"].as_str().unwrap().to_string();
    assert!(api_token.starts_with("tsm_"), "{created}");
    let (status, _) = call(Method::GET, "/api/keys", Some(&api_token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(Method::GET, "/api/tokens", Some(&bob_token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(Method::POST, "/api/auth/logout", Some(&bob_token), None).await;
    assert!(status.is_success(), "logout: {status}");

    // A browser session: the cookie and the page's CSRF token are secrets handed out by design
    // (read here, outside `call`); a cookie-authenticated write is scanned like the rest.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = serde_urlencoded::to_string([("username", "admin"), ("password", &admin_password)])
        .unwrap();
    let response = browser
        .post(format!("{}/ui/login", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "browser login");
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .and_then(|v| v.strip_prefix("testum_session="))
        .expect("a session cookie")
        .to_string();
    let page = app::ui_page(
        &browser,
        &format!("{}/ui/keys", server.base),
        &format!("testum_session={cookie}"),
    )
    .await;
    let csrf = app::page_csrf(&page).expect("the page carries a CSRF token");
    let response = browser
        .post(format!("{}/api/keys", server.base))
        .header("cookie", format!("testum_session={cookie}"))
        .header("x-csrf-token", &csrf)
        .json(&json!({"name": "from-browser",
                      "public_key": common::ClientKey::generate(KeyKind::Ed25519, None).public_line}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "cookie-authenticated write"
    );
    let headers = format!("{:?}", response.headers());
    let browser_write = format!(
        "/api/keys (cookie)\n{headers}\n{}",
        response.text().await.unwrap()
    );

    let login_key = pk_host.authorized_key(KeyKind::Rsa);
    let (status, pw) = call(
        Method::POST,
        "/api/platforms",
        auth,
        Some(
            json!({"name": "pw", "host": "127.0.0.1", "port": pw_host.sshd.port(),
                     "username": pw_host.user.name, "auth_method": "password",
                     "password": pw_host.user.password}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{pw}");
    let (status, pk) = call(
        Method::POST,
        "/api/platforms",
        auth,
        Some(
            json!({"name": "pk", "host": "127.0.0.1", "port": pk_host.sshd.port(),
                     "username": pk_host.user.name, "auth_method": "private_key",
                     "private_key": login_key.private_pem}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{pk}");
    let client = common::ClientKey::generate(KeyKind::Ed25519, None);
    let (status, key) = call(
        Method::POST,
        "/api/keys",
        auth,
        Some(json!({"name": "alice", "public_key": client.public_line})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    for platform in [&pw, &pk] {
        let id = platform["id"].as_str().unwrap();
        let (status, accepted) = call(
            Method::POST,
            &format!("/api/platforms/{id}/deploy_keys"),
            auth,
            Some(json!({"key_ids": [key["id"]]})),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        let task = format!("/api/tasks/{}", accepted["task_id"].as_str().unwrap());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let (_, state) = call(Method::GET, &task, auth, None).await;
            if state["status"] == "succeeded" {
                break;
            }
            assert_ne!(state["status"], "failed", "{state}");
            assert!(tokio::time::Instant::now() < deadline, "{state}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for path in [
            format!("/api/platforms/{id}"),
            format!("/api/platforms/{id}/keys"),
            format!("{task}/output"),
        ] {
            call(Method::GET, &path, auth, None).await;
        }
    }
    assert!(pw_host.ssh_login_works(&client));
    assert!(pk_host.ssh_login_works(&client));
    let patched_password = format!("patched-{}", Uuid::new_v4().simple());
    let (status, patched) = call(
        Method::PATCH,
        &format!("/api/platforms/{}", pw["id"].as_str().unwrap()),
        auth,
        Some(json!({"auth_method": "password", "password": patched_password})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    for path in [
        "/api/platforms",
        "/api/keys",
        "/api/tasks",
        "/api/audit?limit=500",
    ] {
        call(Method::GET, path, auth, None).await;
    }
    // Requests that fail must not echo what they were sent either.
    call(
        Method::POST,
        "/api/platforms",
        auth,
        Some(
            json!({"name": "bad name!", "host": "127.0.0.1", "port": 0, "username": "x",
                     "auth_method": "password", "password": patched_password}),
        ),
    )
    .await;

    // Every secret this test handed to testum or got from it.
    let mut secrets = vec![
        ("browser session cookie", cookie.clone()),
        ("CSRF token", csrf.clone()),
        ("admin password", admin_password.clone()),
        ("user password", bob_password.clone()),
        ("changed user password", bob_new_password.clone()),
        ("first access token", first_token.clone()),
        ("refresh token", first_refresh.clone()),
        ("rotated refresh token", refresh.clone()),
        ("user access token", bob_token.clone()),
        ("API token", api_token.clone()),
        ("mistyped password", wrong_password.clone()),
        ("master key", master_key.clone()),
        ("platform password", pw_host.user.password.clone()),
        ("patched platform password", patched_password.clone()),
        ("access token", token.clone()),
    ];
    // A private key: its PEM body lines (each a long run of base64 of key material).
    for line in login_key
        .private_pem
        .lines()
        .filter(|l| l.len() >= 40 && !l.starts_with("-----"))
    {
        secrets.push(("platform private key", line.to_string()));
    }
    drop(server);
    let log = std::fs::read(dir.path().join("serve.log")).unwrap();
    assert!(
        text(&log).contains("DEBUG"),
        "the server did not log at debug level"
    );
    let data_dir = dir.path().join("data");
    let database = database_dump(&data_dir, database_url.as_deref()).await;
    bodies.push(browser_write);
    let responses = bodies.join("\n").into_bytes();
    let contains = |haystack: &[u8], needle: &str| {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    };
    // The scan sees what it should: the public key (not a secret) is in the database and the
    // responses, as stored and served.
    let public_blob = client.public_line.split(' ').nth(1).unwrap();
    assert!(
        contains(&database, public_blob),
        "the database dump is empty"
    );
    assert!(
        contains(&responses, public_blob),
        "no response was captured"
    );
    let mut found = Vec::new();
    for (what, secret) in &secrets {
        let places = [
            ("log", &log),
            ("API responses", &responses),
            ("database", &database),
        ];
        for form in forms(secret) {
            for (place, haystack) in places {
                if contains(haystack, &form) {
                    found.push(format!("{what} in {place}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "secrets in clear: {found:?}");
}
