//! Fleet scale on a small database pool, against a real sshd: many platforms synced at once never
//! run out of database connections (no connection is held across SSH work) while the API keeps
//! answering, and a task's output is capped as a whole (`TESTUM_MAX_TASK_OUTPUT_BYTES`).
//! Runs on SQLite and, in the PostgreSQL pass of `make test`, on PostgreSQL.

use crate::app;
use crate::common;

use std::time::Duration;

use app::TestApp;
use common::{KeyKind, TestHost};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Register `count` password platforms on `host`'s one sshd, each with its own authorized_keys
/// file (`.ssh/fleet-N`), so each is a platform of its own; their ids.
async fn platforms_on(app: &TestApp, host: &TestHost, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..count {
        let (status, platform) = app
            .post(
                "/api/platforms",
                json!({"name": format!("fleet-{n:03}"), "host": "127.0.0.1",
                       "port": host.sshd.port(), "username": host.user.name,
                       "auth_method": "password", "password": host.user.password,
                       "authorized_keys_path": format!(".ssh/fleet-{n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{platform}");
        ids.push(platform["id"].as_str().unwrap().to_string());
    }
    ids
}

/// GET `path` with a bound (20 s, well inside the pool's 30 s acquire timeout, which is what an
/// API request queued behind worker database work would run into); its status.
async fn get_status(app: &TestApp, path: &str) -> StatusCode {
    let answer = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(&app.token)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path} did not answer: {e}"));
    answer.status()
}

#[tokio::test]
async fn sixty_platforms_deploy_at_once_on_four_connections_while_the_api_answers() {
    const PLATFORMS: usize = 60;
    let host = TestHost::start();
    let app = TestApp::start_with(|config| {
        config.settings.db_max_connections = 4;
        config.settings.worker_concurrency = PLATFORMS as u32;
    })
    .await;
    let platforms = platforms_on(&app, &host, PLATFORMS).await;
    let client = common::ClientKey::generate(KeyKind::Ed25519, None);
    let key = app.add_key("alice", &client.public_line).await;

    let task = app
        .queue(
            "/api/tasks",
            json!({"kind": "deploy_keys", "platform_ids": platforms, "key_ids": [key],
                   "concurrency": PLATFORMS}),
        )
        .await;
    // While the deploys run, the API answers every request.
    let mut checked_while_running = 0;
    let finished = loop {
        assert_eq!(
            get_status(&app, &format!("/api/tasks/{task}")).await,
            StatusCode::OK
        );
        assert_eq!(get_status(&app, "/api/platforms").await, StatusCode::OK);
        let task = app.get(&format!("/api/tasks/{task}")).await;
        if ["succeeded", "failed", "cancelled"].contains(&task["status"].as_str().unwrap()) {
            break task;
        }
        checked_while_running += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let failed: Vec<&Value> = finished["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] != "succeeded")
        .collect();
    assert!(failed.is_empty(), "{} failed: {failed:?}", failed.len());
    assert_eq!(finished["status"], "succeeded");
    eprintln!("the API answered {checked_while_running} rounds while the deploys ran");
    // Every file really holds the key.
    for n in 0..PLATFORMS {
        let file = String::from_utf8(host.user.read_file(&format!(".ssh/fleet-{n}"))).unwrap();
        assert!(file.contains(&client.public_line), "fleet-{n}: {file}");
    }
    // No platform lease is left behind.
    let leases = app
        .store()
        .try_take_lease(
            &testum::store::platform_lease(platforms[0].parse().unwrap()),
            "test",
            "test-worker",
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert!(leases, "the platform's lease was not released");
}

#[tokio::test]
async fn a_task_keeps_at_most_its_output_cap_over_all_targets() {
    const CAP: u64 = 150_000;
    const EACH: u64 = 100_000;
    let host = TestHost::start();
    let app = TestApp::start_with(|config| config.settings.max_task_output_bytes = CAP).await;
    let platforms = platforms_on(&app, &host, 3).await;
    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "run_command", "platform_ids": platforms,
                   "command": format!("head -c {EACH} /dev/zero | tr '\\0' a")}),
        )
        .await;
    // The commands ran to their end; only their output was cut.
    assert_eq!(task["status"], "succeeded", "{task}");
    let id = task["id"].as_str().unwrap();
    let mut total = 0;
    let mut noted = 0;
    for platform in &platforms {
        let stdout = app.raw_output(id, platform, "stdout").await;
        assert!(stdout.iter().all(|b| *b == b'a'), "foreign bytes in stdout");
        total += stdout.len() as u64;
        let stderr = String::from_utf8(app.raw_output(id, platform, "stderr").await).unwrap();
        if stdout.len() as u64 == EACH {
            assert!(stderr.is_empty(), "{stderr}");
        } else {
            assert!(
                stderr.contains("the task's output limit (TESTUM_MAX_TASK_OUTPUT_BYTES)"),
                "{stderr}"
            );
            noted += 1;
        }
    }
    assert_eq!(total, CAP, "bytes kept over the task");
    assert!(noted >= 1, "no target says its output was cut");
}
