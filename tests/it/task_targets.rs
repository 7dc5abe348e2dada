//! A task at fleet scale through the API: counts per status, a filtered and paged target list,
//! the targets grouped by byte-identical output (a digest the worker keeps as it writes), one
//! platform's output alone, and WebSocket streams without output or of one platform. A few real
//! sshd platforms and many platforms on closed ports of 127.0.0.1 (which fail at once, with no
//! output). SQLite, and PostgreSQL with `TESTUM_TEST_DATABASE_URL`.

use crate::app;
use crate::common;

use std::collections::HashSet;

use app::TestApp;
use common::{TestHost, closed_port};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// What every real platform of a [`Fleet`] runs: `same-line`, and on the odd one (whose home has
/// a `marker`) `odd-one-out` too, after which it waits for a file `go`.
pub const FLEET_COMMAND: &str = "echo same-line; if [ -e marker ]; then echo odd-one-out; \
                                 while [ ! -e go ]; do sleep 0.1; done; fi";

/// Platforms for one task: `odd` and `same` on real sshds, `closed` on a closed port.
pub struct Fleet {
    /// The odd one out (on the host with the marker): first in `ids`.
    pub odd: String,
    /// Two platforms on the other host, which print `same-line` only.
    pub same: Vec<String>,
    /// Every platform id, in the task's order: odd, same, then the closed ones.
    pub ids: Vec<String>,
}

/// Register a fleet of `3 + closed` platforms: `real-odd` on `odd_host` (given a `marker`),
/// `real-same-0` and `real-same-1` on `same_host`, and `closed-NNN` on one closed port (each
/// with its own authorized_keys path: one platform per managed file).
pub async fn fleet(
    app: &TestApp,
    odd_host: &TestHost,
    same_host: &TestHost,
    closed: usize,
) -> Fleet {
    odd_host.user.write_file("marker", b"", 0o644);
    let platform = |name: String, host: &TestHost, path: String| {
        json!({"name": name, "host": "127.0.0.1", "port": host.sshd.port(),
               "username": host.user.name, "auth_method": "password",
               "password": host.user.password, "authorized_keys_path": path})
    };
    let mut bodies = vec![platform(
        "real-odd".into(),
        odd_host,
        ".ssh/authorized_keys".into(),
    )];
    for n in 0..2 {
        bodies.push(platform(
            format!("real-same-{n}"),
            same_host,
            format!(".ssh/same-{n}"),
        ));
    }
    let port = closed_port();
    for n in 0..closed {
        bodies.push(
            json!({"name": format!("closed-{n:03}"), "host": "127.0.0.1", "port": port,
                           "username": "nobody", "auth_method": "password", "password": "x",
                           "authorized_keys_path": format!(".ssh/closed-{n}")}),
        );
    }
    let mut ids = Vec::new();
    for body in bodies {
        let (status, created) = app.post("/api/platforms", body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    Fleet {
        odd: ids[0].clone(),
        same: ids[1..3].to_vec(),
        ids,
    }
}

/// The output digest testum keeps: SHA-256 of the stdout's SHA-256 then the stderr's.
pub fn output_digest(stdout: &[u8], stderr: &[u8]) -> String {
    let mut both = Sha256::new();
    both.update(Sha256::digest(stdout));
    both.update(Sha256::digest(stderr));
    both.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Wait (bounded: 60 s) until task `task`'s target counts satisfy `ok`; the counts.
pub async fn wait_counts(app: &TestApp, task: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let counts = app.get(&format!("/api/tasks/{task}")).await["target_counts"].clone();
        if ok(&counts) {
            return counts;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "counts stayed {counts}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Every target of `task` matching `query` (`status=failed&`...), following `next_cursor` with
/// pages of `limit`; the platform ids in order, and how many pages it took.
async fn all_targets(app: &TestApp, task: &str, query: &str, limit: u32) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut pages = 0;
    let mut cursor = String::new();
    loop {
        let page = app
            .get(&format!(
                "/api/tasks/{task}/targets?{query}&limit={limit}{cursor}"
            ))
            .await;
        pages += 1;
        for t in page["items"].as_array().unwrap() {
            ids.push(t["platform_id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return (ids, pages),
        }
    }
}

#[tokio::test]
async fn a_task_on_sixty_platforms_counts_pages_and_groups_its_targets() {
    let app = TestApp::start().await;
    let odd_host = TestHost::start();
    let same_host = TestHost::start();
    let fleet = fleet(&app, &odd_host, &same_host, 57).await;
    let task = app
        .queue(
            "/api/tasks",
            json!({"kind": "run_command", "platform_ids": fleet.ids, "command": FLEET_COMMAND}),
        )
        .await;

    // While the odd one waits: every other target has ended, and the counts say so.
    let counts = wait_counts(&app, &task, |c| c["failed"] == 57 && c["succeeded"] == 2).await;
    assert_eq!(counts["total"], 60, "{counts}");
    assert_eq!(counts["running"], 1, "{counts}");
    // The task list carries the same counts.
    let listed = &app.get("/api/tasks").await["items"][0];
    assert_eq!(listed["target_counts"]["failed"], 57, "{listed}");
    assert_eq!(listed.get("targets"), None, "{listed}");

    // One platform's stream, live: its output and target frames only, then done.
    let follow_odd = format!("&platform_id={}", fleet.odd);
    let (frames, ended) = tokio::join!(app.ws_frames_with(&task, &follow_odd), async {
        app.wait_stdout(&task, &fleet.odd, b"same-line\nodd-one-out\n")
            .await;
        odd_host.user.write_file("go", b"", 0o644);
        app.wait_task(&task).await
    });
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(frames.last().unwrap()["type"], "done", "{frames:?}");
    for frame in &frames[..frames.len() - 1] {
        assert_eq!(frame["platform_id"], fleet.odd.as_str(), "{frame}");
    }
    let printed: String = frames
        .iter()
        .filter(|f| f["type"] == "output")
        .map(|f| f["data"].as_str().unwrap())
        .collect();
    assert_eq!(printed, "same-line\nodd-one-out\n");
    // Without output: 60 targets' status changes and done, not one output frame.
    let quiet = app.ws_frames_with(&task, "&output=none").await;
    assert!(quiet.iter().all(|f| f["type"] != "output"), "{quiet:?}");
    assert!(quiet.iter().filter(|f| f["type"] == "target").count() >= 60);
    // A platform the task has no target on is refused at the handshake, not streamed as `done`.
    let stranger = format!(
        "{}/ws/tasks/{task}?access_token={}&platform_id={}",
        app.base.replace("http://", "ws://"),
        app.token,
        uuid::Uuid::new_v4()
    );
    match tokio_tungstenite::connect_async(stranger).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), reqwest::StatusCode::NOT_FOUND);
        }
        other => panic!("expected a 404 handshake, got {:?}", other.map(|_| ())),
    }

    // Groups: the odd one out first, then the two alike, then the 57 that failed silently.
    let groups = app.get(&format!("/api/tasks/{task}/output_groups")).await;
    let groups = groups["items"].as_array().unwrap().clone();
    let summary: Vec<(i64, &str, i64, &str)> = groups
        .iter()
        .map(|g| {
            (
                g["count"].as_i64().unwrap(),
                g["status"].as_str().unwrap(),
                g["output_bytes"].as_i64().unwrap(),
                g["sample"]["platform_name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (1, "succeeded", 22, "real-odd"),
            (2, "succeeded", 10, "real-same-0"),
            (57, "failed", 0, "closed-000"),
        ]
    );
    assert_eq!(
        groups[1]["output_digest"],
        output_digest(b"same-line\n", b"")
    );
    assert_eq!(groups[2]["output_digest"], output_digest(b"", b""));
    // A group's members, by its digest; one page of groups at a time.
    let (members, _) = all_targets(
        &app,
        &task,
        &format!(
            "output_digest={}",
            groups[1]["output_digest"].as_str().unwrap()
        ),
        50,
    )
    .await;
    assert_eq!(members, fleet.same);
    let first = app
        .get(&format!("/api/tasks/{task}/output_groups?limit=2"))
        .await;
    let next = first["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!(
            "/api/tasks/{task}/output_groups?limit=2&cursor={next}"
        ))
        .await;
    assert_eq!(rest["items"][0]["count"], 57, "{rest}");
    assert_eq!(rest["next_cursor"], Value::Null);

    // Paged and filtered targets: every failed one once, in the task's order.
    let (failed, pages) = all_targets(&app, &task, "status=failed", 20).await;
    assert_eq!(failed, fleet.ids[3..]);
    assert_eq!(pages, 3);
    let unique: HashSet<&String> = failed.iter().collect();
    assert_eq!(unique.len(), 57);
    let (real, _) = all_targets(&app, &task, "search=REAL-", 50).await;
    assert_eq!(real, fleet.ids[..3]);
    // A search is literal text: `_` and `%` are no wildcards.
    let (none, _) = all_targets(&app, &task, "search=real_", 50).await;
    assert_eq!(none, Vec::<String>::new());
    // The error of a closed port is searchable too.
    let errors = app
        .get(&format!("/api/tasks/{task}/targets?status=failed&limit=1"))
        .await;
    let error = errors["items"][0]["error"].as_str().unwrap().to_string();
    assert!(!error.is_empty(), "{errors}");

    // One platform's output as JSON pages: its chunks only.
    let odd = app
        .get(&format!(
            "/api/tasks/{task}/output?platform_id={}",
            fleet.odd
        ))
        .await;
    let text: String = odd["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["platform_id"], fleet.odd.as_str(), "{c}");
            c["data"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, "same-line\nodd-one-out\n");

    // Bad filters are a 422 naming the field.
    let long = format!("search={}", "x".repeat(201));
    for (query, field) in [
        ("status=done", "status"),
        ("output_digest=abc", "output_digest"),
        ("limit=0", "limit"),
        ("cursor=%21", "cursor"),
        (long.as_str(), "search"),
    ] {
        let (status, problem) = app
            .call(
                reqwest::Method::GET,
                &format!("/api/tasks/{task}/targets?{query}"),
                None,
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    let (status, _) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/tasks/{}/targets", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, problem) = app
        .call(
            reqwest::Method::GET,
            &format!(
                "/api/tasks/{task}/output?platform_id={}",
                uuid::Uuid::new_v4()
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
}
