//! Schemathesis (PyPI, installed by `make deps`) against the OpenAPI document the service
//! serves: generated requests for every operation (valid and invalid ones, then chains of calls
//! that reuse the ids earlier answers returned), each answer checked against the document. The
//! run fails on a 5xx (`not_a_server_error`), a status the document does not list for the
//! operation (`status_code_conformance`), another content type (`content_type_conformance`) or
//! a body that does not match the documented schema (`response_schema_conformance`).
//!
//! The service runs without a worker ([`TestApp::start_without_worker`]): the run registers
//! platforms and webhooks at made-up addresses and queues tasks on them, and nothing may dial
//! those. It signs in as admin, so it reaches every operation. `POST /api/auth/logout` is left
//! out because it ends that very session (the rest of the run would be 401s), and
//! `schemathesis_hooks.py` keeps the run from renaming or deleting its own user for the same
//! reason; after the run the session must still work, so a run that locked itself out fails
//! instead of passing on 401s.
//!
//! `make test` runs a short pass ([`SMOKE_EXAMPLES`] cases per operation and phase);
//! `make schemathesis` sets `TESTUM_SCHEMATHESIS_EXAMPLES` and `TESTUM_SCHEMATHESIS_SECONDS` for a
//! long one.

use crate::app;

use std::fs::File;
use std::process::Command;
use std::time::{Duration, Instant};

use app::TestApp;
use reqwest::{Method, StatusCode};

/// Cases per operation in `make test`'s pass (about a minute on an idle machine).
const SMOKE_EXAMPLES: &str = "10";

/// The checks that must hold for every answer.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

/// A run that takes longer than this is stuck: it is ended and the test fails.
const HARD_LIMIT: Duration = Duration::from_secs(3600);

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    // The longest access token testum issues: a long run must not outlive its session.
    let app = TestApp::start_without_worker(|config| config.access_token_ttl_secs = 86_400).await;
    // The only user so far.
    let users = app.get("/api/users").await;
    assert_eq!(users["items"][0]["username"], "admin", "{users}");
    let own_id = users["items"][0]["id"].as_str().unwrap().to_string();
    let examples =
        std::env::var("TESTUM_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| SMOKE_EXAMPLES.into());
    let hooks = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/schemathesis_hooks.py"
    );
    let workdir = tempfile::tempdir().unwrap();
    let mut command = Command::new("schemathesis");
    command
        .arg("run")
        .arg(format!("{}/api/openapi.json", app.base))
        .args(["--header", &format!("Authorization: Bearer {}", app.token)])
        .args(["--checks", CHECKS])
        .args(["--max-examples", &examples])
        .args(["--exclude-path", "/api/auth/logout"])
        // A loaded machine must not fail the run: speed is not what it checks.
        .args(["--suppress-health-check", "too_slow"])
        .args(["--request-timeout", "60"])
        .args(["--generation-database", "none", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", hooks)
        .env("TESTUM_FUZZ_ADMIN_ID", &own_id)
        .current_dir(workdir.path());
    if let Ok(seconds) = std::env::var("TESTUM_SCHEMATHESIS_SECONDS") {
        command.args(["--max-time", &seconds]);
    }
    let (success, stdout, stderr) = tokio::task::spawn_blocking(move || run(command, &workdir))
        .await
        .unwrap();
    assert!(success, "schemathesis found failures:\n{stdout}\n{stderr}");
    // The figures of the run, for the README.
    for line in stdout.lines().filter(|l| {
        ["Tested:", "generated,", "Seed:"]
            .iter()
            .any(|word| l.contains(word))
    }) {
        println!("schemathesis: {}", line.trim());
    }
    // The run kept its session to the end, so its answers were not 401s.
    let (status, body) = app
        .call(Method::GET, &format!("/api/users/{own_id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "the run signed itself out: {body}");
    assert_eq!(body["username"], "admin");
    assert_eq!(body["role"], "admin");
}

/// Run `command` with its output in files under `workdir` (a pipe could fill and stall it); end
/// it after [`HARD_LIMIT`]. Whether it succeeded, its stdout and its stderr.
fn run(mut command: Command, workdir: &tempfile::TempDir) -> (bool, String, String) {
    let (out, err) = (workdir.path().join("stdout"), workdir.path().join("stderr"));
    let mut child = command
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .expect("schemathesis must be installed (make deps: pip install schemathesis)");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > HARD_LIMIT {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let read = |path| std::fs::read_to_string(path).unwrap_or_default();
    let mut stderr = read(&err);
    if status.is_none() {
        stderr.push_str(&format!("\nended after {} s", HARD_LIMIT.as_secs()));
    }
    (status.is_some_and(|s| s.success()), read(&out), stderr)
}
