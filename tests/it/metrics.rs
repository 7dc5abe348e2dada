//! Operating the service: `GET /metrics` (every metric listed from the start, counters that move
//! with a real run on a real sshd, the optional token), `GET /readyz`, and JSON logs.
//!
//! The metrics recorder is global to the process and tests run in parallel, so tests compare a
//! counter before and after their own work (at least the difference), never absolute values.

use crate::app;
use crate::common;

use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use app::TestApp;
use common::TestHost;
use reqwest::{Method, StatusCode};
use serde_json::json;
use testum::secret::Secret;

/// `GET /metrics` as text (200 expected); `token` goes in `Authorization: Bearer`.
async fn scrape(app: &TestApp, token: Option<&str>) -> (StatusCode, String) {
    let mut request = app.http.get(format!("{}/metrics", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// The value of the series `name` whose labels include every `labels` pair (`0` when absent).
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter(|(series, _)| {
            let (series_name, rest) = series.split_once('{').unwrap_or((series, ""));
            series_name == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, value)| value.parse::<f64>().unwrap())
        .sum()
}

const METRICS: [&str; 7] = [
    "testum_tasks_total",
    "testum_targets_in_flight",
    "testum_queue_depth",
    "testum_ssh_connect_duration_seconds",
    "testum_command_duration_seconds",
    "testum_http_requests_total",
    "testum_http_request_duration_seconds",
];

#[tokio::test]
async fn a_fresh_server_lists_every_metric() {
    let app = TestApp::start().await;
    let (status, text) = scrape(&app, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    for name in METRICS {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} in {text}"
        );
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} in {text}"
        );
    }
    // Known label sets exist at zero before anything happened (no test revokes or cancels).
    assert!(
        text.lines()
            .any(|l| l == r#"testum_tasks_total{kind="revoke_keys",outcome="cancelled"} 0"#),
        "{text}"
    );
    assert!(text.contains("# TYPE testum_ssh_connect_duration_seconds histogram"));
}

#[tokio::test]
async fn a_real_run_moves_the_counters() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = app
        .add_password_platform(
            "web1",
            host.sshd.port(),
            &host.user.name,
            &host.user.password,
        )
        .await;
    let (_, before) = scrape(&app, None).await;

    let task = app
        .run_task(
            &format!("/api/platforms/{platform}/run_command"),
            json!({"command": "echo hi"}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let (_, after) = scrape(&app, None).await;

    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    let succeeded = [("kind", "run_command"), ("outcome", "succeeded")];
    assert!(moved("testum_tasks_total", &succeeded) >= 1.0, "{after}");
    let ok = [("outcome", "ok")];
    assert!(moved("testum_ssh_connect_duration_seconds_count", &ok) >= 1.0);
    assert!(moved("testum_command_duration_seconds_count", &[]) >= 1.0);
    let queued = [
        ("method", "POST"),
        ("route", "/api/platforms/{id}/run_command"),
        ("status", "202"),
    ];
    assert!(
        moved("testum_http_requests_total", &queued) >= 1.0,
        "{after}"
    );
    let polled = [("route", "/api/tasks/{id}"), ("status", "200")];
    assert!(moved("testum_http_request_duration_seconds_count", &polled) >= 1.0);
    // Routes are templates: no id ever becomes a label value.
    assert!(!after.contains(&platform), "{after}");
    assert!(!after.contains(task["id"].as_str().unwrap()));
}

#[tokio::test]
async fn a_metrics_token_is_required_when_set() {
    let app = TestApp::start_with(|config| {
        config.metrics_token = Some(Secret::new("scrape-me"));
    })
    .await;
    assert_eq!(scrape(&app, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        scrape(&app, Some("scrape-m")).await.0,
        StatusCode::UNAUTHORIZED
    );
    // A user's access token is not the metrics token.
    assert_eq!(
        scrape(&app, Some(&app.token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, text) = scrape(&app, Some("scrape-me")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains("testum_tasks_total"));
}

#[tokio::test]
async fn readyz_reports_the_database_and_the_workers() {
    let app = TestApp::start().await;
    let (status, body) = app.call_anon(Method::GET, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"status": "ready", "database": "ok", "workers": "ok"})
    );

    // A server whose work is done by `testum worker` processes: no worker in process, ready.
    let api_only = TestApp::start_without_worker(|_| {}).await;
    let (status, body) = api_only.call_anon(Method::GET, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["workers"], "none in process", "{body}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_testum"))
        .arg("serve")
        .env_clear()
        .env("TESTUM_DATA_DIR", data_dir.path())
        .env("TESTUM_BIND", "127.0.0.1:0")
        .env("TESTUM_ADMIN_PASSWORD", "correct horse battery staple")
        .env("TESTUM_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = server.stderr.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            if lines_tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(60)) {
        let listening = line.contains("testum is listening");
        seen.push(line);
        if listening {
            break;
        }
    }
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(
        seen.last()
            .is_some_and(|l| l.contains("testum is listening")),
        "{seen:#?}"
    );
    for line in &seen {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(object["timestamp"].is_string(), "{line}");
        assert!(object["level"].is_string(), "{line}");
        assert!(object["fields"]["message"].is_string(), "{line}");
    }
}

/// From a trial: any token is a valid HTTP method name, and each one became a label value (a new
/// series, unbounded memory for anonymous callers). Non-standard methods count as `other`.
#[tokio::test]
async fn unknown_methods_share_one_label() {
    let app = TestApp::start().await;
    let odd = format!("XM{}", uuid::Uuid::new_v4().simple());
    let method = reqwest::Method::from_bytes(odd.as_bytes()).unwrap();
    let response = app
        .http
        .request(method, format!("{}/api/keys", app.base))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_client_error());
    let (status, text) = scrape(&app, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!text.contains(&odd), "the method became a label");
    assert!(text.contains("method=\"other\""), "{text}");
}
