//! The shared cases' authorized_keys files and the peer suites' authorized_keys and options
//! vectors (tests/cases, tests/cases/external: a copy of ../shared/cases) through the scan API: written to a real
//! host, read over SSH by a `scan` task, and classified. What the API reports must equal the
//! pure classifier's verdict on the same bytes ([`testum::authorized_keys::scan`]), which the
//! unit tests in src/authorized_keys/scan_tests.rs hold to OpenSSH's verdict for each vector.
//! So the bytes survive the remote read unchanged (CRLF, BOM, no final newline, odd spacing) and
//! the stored scan loses nothing.

use crate::app;
use crate::common;

use std::path::{Path, PathBuf};

use app::TestApp;
use common::TestHost;
use serde_json::{Value, json};

const AK: &str = ".ssh/authorized_keys";
/// A valid key to complete `options` vectors into lines, as the vectors' README says.
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJb5WmPcZmB7mZl08z8cqmoHgkbq4If0kryuEYjDKSoi alice@example";

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

/// Every `authorized_keys*` file of the shared cases, by `case/file` name.
fn case_files() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for case in std::fs::read_dir(shared()).expect("tests/cases") {
        let case = case.unwrap().path();
        if !case.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&case).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("authorized_keys") {
                let case_name = case.file_name().unwrap().to_string_lossy();
                files.push((format!("{case_name}/{name}"), std::fs::read(&file).unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// The peer vectors as files to scan.
struct Vectors {
    /// Every single-line `authorized_keys_line` vector and every `options` vector completed with
    /// [`KEY`], one per line.
    lines: Vec<u8>,
    /// How many lines that is.
    count: usize,
    /// The `authorized_keys_file` vectors (and multi-line ones), each as its own file: `(id,
    /// bytes)`.
    files: Vec<(String, Vec<u8>)>,
}

fn vector_files() -> Vectors {
    let mut lines = String::new();
    let mut count = 0;
    let mut files = Vec::new();
    for suite in std::fs::read_dir(shared().join("external")).unwrap() {
        let expected = suite.unwrap().path().join("expected.json");
        let Ok(text) = std::fs::read_to_string(&expected) else {
            continue;
        };
        let vectors: Vec<Value> = serde_json::from_str(&text).unwrap();
        for vector in vectors {
            let input = vector["input"].as_str().unwrap_or_default();
            let id = vector["id"].as_str().unwrap_or_default().to_owned();
            match vector["kind"].as_str() {
                Some("authorized_keys_line") if !input.contains(['\n', '\r']) => {
                    lines.push_str(input);
                    lines.push('\n');
                    count += 1;
                }
                Some("options") if !input.contains(['\n', '\r']) => {
                    lines.push_str(&format!("{input} {KEY}\n"));
                    count += 1;
                }
                Some("authorized_keys_line" | "authorized_keys_file") => {
                    files.push((id, input.as_bytes().to_vec()));
                }
                _ => {}
            }
        }
    }
    Vectors {
        lines: lines.into_bytes(),
        count,
        files,
    }
}

/// The API's scan of `bytes` written as the host's authorized_keys.
async fn scan_via_api(app: &TestApp, host: &TestHost, platform: &str, bytes: &[u8]) -> Value {
    host.user.write_file(AK, bytes, 0o600);
    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "scan", "platform_ids": [platform]}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    app.get(&format!("/api/platforms/{platform}/scan")).await
}

/// The classifier's verdict on `bytes`, as the API would show it (nothing registered, nothing
/// expected in the block).
fn engine_verdict(bytes: &[u8]) -> (Value, Value) {
    let report = testum::authorized_keys::scan(Some(bytes), &[]);
    (
        serde_json::to_value(&report.lines).unwrap(),
        serde_json::to_value(&report.findings).unwrap(),
    )
}

/// The API's findings are the classifier's, each message completed by the registry's word on
/// the key (registered or unknown).
fn assert_same_findings(name: &str, api: &Value, engine: &Value) {
    let (api, engine) = (api.as_array().unwrap(), engine.as_array().unwrap());
    assert_eq!(
        api.len(),
        engine.len(),
        "{name}: findings differ: {api:?} vs {engine:?}"
    );
    for (got, want) in api.iter().zip(engine) {
        for field in ["kind", "line", "fingerprint"] {
            assert_eq!(got[field], want[field], "{name}: {got} vs {want}");
        }
        let message = got["message"].as_str().unwrap();
        assert!(
            message.starts_with(want["message"].as_str().unwrap()),
            "{name}: {got} vs {want}"
        );
    }
}

async fn assert_api_agrees(
    app: &TestApp,
    host: &TestHost,
    platform: &str,
    name: &str,
    bytes: &[u8],
) {
    let scan = scan_via_api(app, host, platform, bytes).await;
    let (lines, findings) = engine_verdict(bytes);
    assert_eq!(scan["lines"], lines, "{name}: lines differ");
    assert_same_findings(name, &scan["findings"], &findings);
}

#[tokio::test]
async fn shared_cases_and_peer_vectors_scan_through_the_api_as_the_classifier_says() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = app
        .add_password_platform(
            "vectors",
            host.sshd.port(),
            &host.user.name,
            &host.user.password,
        )
        .await;

    let cases = case_files();
    assert!(cases.len() >= 10, "only {} case files found", cases.len());
    for (name, bytes) in &cases {
        assert_api_agrees(&app, &host, &platform, name, bytes).await;
    }

    let Vectors {
        lines,
        count,
        files,
    } = vector_files();
    assert!(count >= 150, "only {count} single-line vectors found");
    let scan = scan_via_api(&app, &host, &platform, &lines).await;
    assert_eq!(scan["lines_total"], count, "one scanned line per vector");
    let (engine_lines, engine_findings) = engine_verdict(&lines);
    assert_eq!(scan["lines"], engine_lines);
    assert_same_findings("vectors", &scan["findings"], &engine_findings);
    // The vectors hold entries sshd accepts and lines it skips; both classes come through.
    let classes: std::collections::BTreeSet<&str> = scan["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["class"].as_str().unwrap())
        .collect();
    assert!(
        classes.contains("entry") && classes.contains("invalid"),
        "{classes:?}"
    );

    for (id, bytes) in &files {
        assert_api_agrees(&app, &host, &platform, id, bytes).await;
    }
}
