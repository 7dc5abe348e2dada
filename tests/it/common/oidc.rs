//! A real OpenID provider per test: `oidc-provider` from npm, run by Node with
//! `tests/oidc/provider.mjs` on a free loopback port (see that file for what it serves). Node is
//! installed with apt-get and the npm package with `npm ci` when missing, or the test FAILS; it
//! never skips. The child is killed on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use serde_json::{Value, json};

use super::sshd::ensure_tool;

/// The client id testum is registered under at the test provider.
pub const CLIENT_ID: &str = "testum";
/// Its client secret.
pub const CLIENT_SECRET: &str = "test-provider-client-secret";

/// Serialises `npm ci` between tests.
static NPM: Mutex<()> = Mutex::new(());

/// A running test provider.
pub struct TestProvider {
    child: Child,
    /// Its issuer URL, `http://127.0.0.1:P`.
    pub issuer: String,
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tests/oidc`, where the provider script and its `node_modules` are.
fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Install the npm package when it is not there (as `make deps` does).
fn ensure_package() {
    let _guard = NPM.lock().unwrap_or_else(|e| e.into_inner());
    if dir()
        .join("node_modules/oidc-provider/package.json")
        .exists()
    {
        return;
    }
    ensure_tool("/usr/bin/npm", "npm");
    let out = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir())
        .output()
        .expect("run npm ci");
    assert!(
        out.status.success() && dir().join("node_modules/oidc-provider").exists(),
        "`npm ci` in tests/oidc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestProvider {
    /// Start a provider whose one client is testum ([`CLIENT_ID`], [`CLIENT_SECRET`]) with
    /// redirect URI `redirect_uri`, and `users` (`{login: {password, username?, groups?}}`).
    /// `more` adds settings (`clock_offset_secs`, `id_token_ttl_secs`).
    pub fn start(redirect_uri: &str, users: Value, more: Value) -> TestProvider {
        ensure_tool("/usr/bin/node", "nodejs");
        ensure_package();
        let mut config = json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                                "redirect_uri": redirect_uri, "users": users});
        if let (Some(config), Value::Object(more)) = (config.as_object_mut(), more) {
            config.extend(more);
        }
        let mut child = Command::new("node")
            .arg(dir().join("provider.mjs"))
            .env("OIDC_TEST_CONFIG", config.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start node");
        // Read its output away (a full pipe would stall it); the first line names the issuer.
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("listening ") {
                    let _ = tx.send(issuer.to_string());
                }
            }
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let (err_tx, err_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !line.contains("WARNING") {
                    eprintln!("test OpenID provider: {line}");
                    seen.push_str(&line);
                    seen.push('\n');
                }
            }
            let _ = err_tx.send(seen);
        });
        let Ok(issuer) = rx.recv_timeout(std::time::Duration::from_secs(60)) else {
            let _ = child.kill();
            let err = err_rx.recv().unwrap_or_default();
            panic!("the test OpenID provider did not start: {err}");
        };
        TestProvider { child, issuer }
    }
}
