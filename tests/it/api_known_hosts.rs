//! known_hosts import through the API against a real OpenSSH server: the line `ssh-keyscan -H`
//! prints pins the key the server really presents, and a command then runs under `strict`; a
//! wrong key makes the run fail with both fingerprints, is never replaced by an import, and is
//! replaced by an audited re-trust. Plus the shared case HK-06 (odd lines) through the API.

use crate::app;
use crate::common;

use std::process::Command;

use app::TestApp;
use common::TestHost;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases");

/// `ssh-keyscan -H -t ed25519` of the host's sshd: one hashed known_hosts line.
fn keyscan(host: &TestHost) -> String {
    common::sshd::ensure_tool("/usr/bin/ssh-keyscan", "openssh-client");
    let out = Command::new("ssh-keyscan")
        .args([
            "-H",
            "-t",
            "ed25519",
            "-p",
            &host.sshd.port().to_string(),
            "127.0.0.1",
        ])
        .output()
        .expect("run ssh-keyscan");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.starts_with("|1|"), "ssh-keyscan printed {text:?}");
    text
}

async fn add_platform(app: &TestApp, host: &TestHost) -> String {
    app.add_password_platform(
        "web",
        host.sshd.port(),
        &host.user.name,
        &host.user.password,
    )
    .await
}

async fn import(app: &TestApp, text: &str) -> Value {
    let (status, body) = app
        .post("/api/known_hosts", json!({ "known_hosts": text }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn make_strict(app: &TestApp, platform: &str) {
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/api/platforms/{platform}"),
            Some(json!({"host_key_policy": "strict"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn run_id(app: &TestApp, platform: &str) -> Value {
    app.run_task(
        &format!("/api/platforms/{platform}/run_command"),
        json!({"command": "id -un"}),
    )
    .await
}

#[tokio::test]
async fn an_imported_keyscan_line_pins_the_real_key_and_strict_runs() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host).await;
    let line = keyscan(&host);
    let real = host.sshd.host_key("ed25519");

    let result = import(&app, &line).await;
    assert_eq!(result["pinned"], 1, "{result}");
    let row = &result["results"][0];
    assert_eq!(row["status"], "pinned");
    assert_eq!(row["platform_id"], platform.as_str());
    assert_eq!(row["fingerprint"], real.fingerprint.as_str());
    let shown = app.get(&format!("/api/platforms/{platform}")).await;
    assert_eq!(shown["host_key_fingerprint"], real.fingerprint.as_str());
    assert_eq!(shown["host_key_type"], "ssh-ed25519");

    make_strict(&app, &platform).await;
    let task = run_id(&app, &platform).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let id = task["id"].as_str().unwrap();
    let out = app.raw_output(id, &platform, "stdout").await;
    assert_eq!(out, format!("{}\n", host.user.name).as_bytes());

    // Importing the same line again changes nothing.
    let again = import(&app, &line).await;
    assert_eq!(again["results"][0]["status"], "unchanged", "{again}");
    let audit = app.get("/api/audit?action=host_key.import").await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{audit}");
    assert_eq!(items[0]["target"], format!("platform:{platform}"));
    assert_eq!(
        items[0]["details"]["new"]["fingerprint"],
        real.fingerprint.as_str()
    );
}

#[tokio::test]
async fn a_wrong_imported_key_fails_the_run_and_only_a_retrust_replaces_it() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host).await;
    let wrong_key = std::fs::read_to_string(format!(
        "{CASES}/HK-06-known-hosts-odd-lines/attacker_ed25519.pub"
    ))
    .unwrap();
    let port = host.sshd.port();
    let result = import(&app, &format!("[127.0.0.1]:{port} {}", wrong_key.trim())).await;
    assert_eq!(result["pinned"], 1, "{result}");
    let wrong = result["results"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    make_strict(&app, &platform).await;

    let marker = host.user.path("ran");
    let task = app
        .run_task(
            &format!("/api/platforms/{platform}/run_command"),
            json!({"command": format!("touch {}", marker.display())}),
        )
        .await;
    assert_eq!(task["status"], "failed", "{task}");
    let error = task["targets"][0]["error"].as_str().unwrap();
    let real = host.sshd.host_key("ed25519");
    assert!(error.contains("host key changed"), "{error}");
    assert!(
        error.contains(&wrong) && error.contains(&real.fingerprint),
        "{error}"
    );
    assert!(!marker.exists(), "the command ran on an unverified host");

    // The real line cannot replace the pin by import...
    let refused = import(&app, &keyscan(&host)).await;
    assert_eq!(refused["pinned"], 0, "{refused}");
    assert_eq!(refused["results"][0]["status"], "refused");
    assert!(
        refused["results"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("host_key/trust"),
        "{refused}"
    );
    assert_eq!(
        app.get(&format!("/api/platforms/{platform}")).await["host_key_fingerprint"],
        wrong.as_str()
    );

    // ...only by an explicit re-trust, audited with the old and the new fingerprint.
    let (status, body) = app
        .post(
            &format!("/api/platforms/{platform}/host_key/trust"),
            json!({"host_key_fingerprint": real.fingerprint, "host_key_type": "ssh-ed25519"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let audit = app.get("/api/audit?action=host_key.trust").await;
    let details = &audit["items"][0]["details"];
    assert_eq!(details["old"]["fingerprint"], wrong.as_str(), "{audit}");
    assert_eq!(
        details["new"]["fingerprint"],
        real.fingerprint.as_str(),
        "{audit}"
    );
    assert_eq!(run_id(&app, &platform).await["status"], "succeeded");
}

#[tokio::test]
async fn hk06_odd_lines_are_reported_per_line_through_the_api() {
    let app = TestApp::start().await;
    let (status, created) = app
        .post(
            "/api/platforms",
            json!({"name": "h", "host": "host.example", "username": "u",
                   "auth_method": "password", "password": "p"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let text = std::fs::read_to_string(format!("{CASES}/HK-06-known-hosts-odd-lines/known_hosts"))
        .unwrap();
    let result = import(&app, &text).await;
    let statuses: Vec<(u64, &str)> = result["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            (1, "skipped"),
            (2, "pinned"),
            (3, "skipped"),
            (4, "invalid"),
            (5, "invalid"),
            (6, "skipped"),
            (7, "skipped"),
        ],
        "{result}"
    );
    assert_eq!(result["pinned"], 1);

    // No line at all names the field.
    let (status, problem) = app
        .post("/api/known_hosts", json!({"known_hosts": "  \n"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "known_hosts", "{problem}");
    let (status, problem) = app.post("/api/known_hosts", json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "known_hosts", "{problem}");
}
