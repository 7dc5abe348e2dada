//! Scaling out on PostgreSQL with real OS processes: `testum serve --workers 0` API servers and
//! `testum worker` processes over one database, against real sshd hosts. Workers are killed with
//! SIGKILL to prove that nothing is lost or run twice.
//!
//! These tests always use PostgreSQL (`TESTUM_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432`), each in a fresh database; `make test` runs them once,
//! in its PostgreSQL pass.

use crate::app;
use crate::cluster::{Cluster, rand_bytes};
use crate::common;

use std::process::Command;
use std::time::Duration;

use app::TestApp;
use base64::Engine as _;
use common::{KeyKind, TestHost};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection as _;

async fn add_platform(app: &TestApp, host: &TestHost, name: &str) -> String {
    app.add_password_platform(name, host.sshd.port(), &host.user.name, &host.user.password)
        .await
}

/// Wait until the target of `task` on its first platform is running.
async fn wait_running(app: &TestApp, task: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let t = app.get(&format!("/api/tasks/{task}")).await;
        if t["targets"][0]["status"] == "running" {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never ran: {t}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scale_out_two_servers_two_workers_run_every_target_exactly_once() {
    let hosts = [TestHost::start(), TestHost::start(), TestHost::start()];
    let cluster = Cluster::new().await;
    let (_a, api_a) = cluster.server("server-a", "0").await;
    let (_b, api_b) = cluster.server("server-b", "0").await;
    let _w1 = cluster.worker("worker-1");
    let _w2 = cluster.worker("worker-2");
    let mut platforms = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        platforms.push(add_platform(&api_a, host, &format!("h{i}")).await);
    }
    let mut tasks = Vec::new();
    for i in 0..50 {
        let api = if i % 2 == 0 { &api_a } else { &api_b };
        let body = json!({"kind": "run_command", "platform_ids": platforms,
                          "command": format!("echo t{i} >> ~/ran.log; echo t{i}")});
        tasks.push(api.queue("/api/tasks", body).await);
    }
    for task in &tasks {
        let ended = api_b.wait_task(task).await;
        assert_eq!(ended["status"], "succeeded", "{ended}");
    }
    // Each command ran exactly once on each host: count it there.
    for host in &hosts {
        let log = String::from_utf8(host.user.read_file("ran.log")).unwrap();
        let mut lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 50, "{log}");
        lines.sort();
        lines.dedup();
        assert_eq!(lines.len(), 50, "a command ran twice: {log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scale_out_a_worker_killed_mid_deploy_leaves_a_valid_file_and_another_finishes() {
    let host = TestHost::start();
    let cluster = Cluster::new().await;
    let (_server, api) = cluster.server("server", "0").await;
    let platform = add_platform(&api, &host, "web").await;
    let client = common::ClientKey::generate(KeyKind::Ed25519, None);
    let (status, key) = api
        .post(
            "/api/keys",
            json!({"name": "k", "public_key": client.public_line}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    host.user.mkdir(".ssh", 0o700);
    host.user
        .write_file(".ssh/authorized_keys", b"# hand-written\n", 0o600);
    host.user.write_file(".ssh/.testum.lock", b"", 0o600);
    // Hold the host-side lock so the deploy stays in flight while its worker dies.
    let mut holder = Command::new("flock")
        .arg(host.user.path(".ssh/.testum.lock"))
        .args(["-c", "sleep 6"])
        .spawn()
        .unwrap();
    let mut first = cluster.worker("worker-1");
    let task = api
        .queue(
            &format!("/api/platforms/{platform}/deploy_keys"),
            json!({"key_ids": [key["id"]]}),
        )
        .await;
    wait_running(&api, &task).await;
    first.kill9();
    let _second = cluster.worker("worker-2");
    let ended = api.wait_task(&task).await;
    assert_eq!(ended["status"], "succeeded", "{ended}\n{}", first.log());
    holder.wait().unwrap();
    let file = String::from_utf8(host.user.read_file(".ssh/authorized_keys")).unwrap();
    assert!(file.starts_with("# hand-written\n"), "{file}");
    assert_eq!(
        file.matches(client.public_line.split(' ').nth(1).unwrap())
            .count(),
        1,
        "{file}"
    );
    assert!(host.ssh_login_works(&client));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scale_out_a_worker_killed_mid_command_reports_worker_lost() {
    let host = TestHost::start();
    let cluster = Cluster::new().await;
    let (_server, api) = cluster.server("server", "0").await;
    let platform = add_platform(&api, &host, "app").await;
    let mut first = cluster.worker("worker-1");
    let task = api
        .queue(
            &format!("/api/platforms/{platform}/run_command"),
            json!({"command": "echo started; sleep 5; echo ran >> ~/ran.log"}),
        )
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while api.raw_output(&task, &platform, "stdout").await != b"started\n" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "did not start: {}",
            first.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill9();
    let _second = cluster.worker("worker-2");
    let ended = api.wait_task(&task).await;
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["targets"][0]["error"], "worker lost", "{ended}");
    // Not run again behind the user's back: after the first run's sleep, one line at most.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let ran = host.user.read_file("ran.log");
    assert!(
        ran.len() <= 4,
        "the command was run again: {:?}",
        String::from_utf8_lossy(&ran)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scale_out_a_websocket_on_one_server_follows_a_task_run_by_another_process() {
    let host = TestHost::start();
    let cluster = Cluster::new().await;
    // Both start at once on the empty database: migrations and the first admin happen once.
    let ((_a, api_a), (_b, _api_b)) = tokio::join!(
        cluster.server("server-a", "0"),
        cluster.server("server-b", "1"), // its in-process worker runs the task
    );
    let platform = add_platform(&api_a, &host, "watched").await;
    let task = api_a
        .queue(
            &format!("/api/platforms/{platform}/run_command"),
            json!({"command": "for i in 1 2 3 4 5; do echo line$i; sleep 0.3; done; echo err >&2"}),
        )
        .await;
    let frames = api_a.ws_frames(&task).await;
    let seqs: Vec<i64> = frames.iter().map(|f| f["seq"].as_i64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "gap or duplicate"
    );
    let stdout: String = frames
        .iter()
        .filter(|f| f["type"] == "output" && f["stream"] == "stdout")
        .map(|f| f["data"].as_str().unwrap())
        .collect();
    assert_eq!(stdout, "line1\nline2\nline3\nline4\nline5\n");
    assert_eq!(frames.last().unwrap()["status"], "succeeded");
    // Once server B's worker has archived the output to the shared store, a late subscriber on
    // server A replays the very same frames from it.
    // (Format 2: segment objects under `tasks/<task>/<run>/`.)
    let objects = cluster.logs().join(format!("tasks/{task}"));
    let has_segment = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|run| {
                std::fs::read_dir(run.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|f| f.path().extension().is_some_and(|e| e == "seg"))
            })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !has_segment(&objects) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the output was not archived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let replayed = api_a.ws_frames(&task).await;
    assert_eq!(replayed, frames);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scale_out_queued_tasks_survive_a_restart_of_every_process() {
    let host = TestHost::start();
    let cluster = Cluster::new().await;
    let (mut server, api) = cluster.server("server", "0").await;
    let platform = add_platform(&api, &host, "patient").await;
    let mut tasks = Vec::new();
    for i in 0..5 {
        tasks.push(
            api.queue(
                &format!("/api/platforms/{platform}/run_command"),
                json!({"command": format!("echo q{i} >> ~/ran.log")}),
            )
            .await,
        );
    }
    // SIGTERM drains and exits 0 even with work queued (no worker was there to take it).
    assert!(server.terminate().success(), "{}", server.log());
    let (_server, api) = cluster.server("server-again", "0").await;
    let _worker = cluster.worker("worker");
    for task in &tasks {
        assert_eq!(api.wait_task(task).await["status"], "succeeded");
    }
    let ran = String::from_utf8(host.user.read_file("ran.log")).unwrap();
    assert_eq!(ran.lines().count(), 5, "{ran}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scale_out_a_process_with_another_master_key_refuses_to_start() {
    let cluster = Cluster::new().await;
    let (_server, _api) = cluster.server("server", "0").await;
    let other_key = base64::engine::general_purpose::STANDARD.encode(rand_bytes());
    let mut intruder = cluster.spawn_with(
        "intruder",
        &["worker"],
        &[("TESTUM_MASTER_KEY", &other_key)],
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = intruder.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "it kept running: {}",
            intruder.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!status.success());
    assert!(
        intruder
            .log()
            .contains("is not the one this database was set up with"),
        "{}",
        intruder.log()
    );
}

/// Two worker processes run the scheduler over one database: each firing creates exactly one
/// task. The test drives the clock by moving the schedule's `next_run_at` into the past in the
/// database (its cron expression never fires by itself during the test).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scale_out_each_schedule_firing_runs_once_across_processes() {
    let host = TestHost::start();
    let cluster = Cluster::new().await;
    let (_api, api) = cluster.server("server", "0").await;
    let fast = [("TESTUM_SCHEDULER_INTERVAL_SECS", "1")];
    let _w1 = cluster.spawn_with("worker-1", &["worker"], &fast);
    let _w2 = cluster.spawn_with("worker-2", &["worker"], &fast);
    add_platform(&api, &host, "h0").await;
    let (status, schedule) = api
        .post(
            "/api/schedules",
            json!({"name": "new-year", "cron": "0 0 1 1 *", "kind": "scan", "selector": "all"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{schedule}");
    let id = schedule["id"].as_str().unwrap().to_string();
    sqlx::any::install_default_drivers();
    let mut db = sqlx::AnyConnection::connect(&cluster.database_url)
        .await
        .unwrap();
    const FIRINGS: usize = 5;
    for firing in 1..=FIRINGS {
        let due = (chrono::Utc::now() - chrono::Duration::minutes(1))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        sqlx::query("UPDATE schedules SET next_run_at = $1 WHERE id = $2")
            .bind(&due)
            .bind(&id)
            .execute(&mut db)
            .await
            .unwrap();
        // Fired once the schedule points at next year again.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let now = api.get(&format!("/api/schedules/{id}")).await;
            if now["next_run_at"].as_str() != Some(due.as_str()) {
                // Let its task end: a schedule skips a firing while its last task runs.
                let task = now["last_task_id"].as_str().expect("fired without a task");
                api.wait_task(task).await;
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "never fired: {now}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Both schedulers have looked at least twice more since.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let created: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE created_by = 'schedule:new-year'")
                .fetch_one(&mut db)
                .await
                .unwrap();
        assert_eq!(created, firing as i64, "firing {firing}");
    }
}
