//! Task logs in object storage, end to end against real OpenSSH servers and a real S3-compatible
//! server (moto): once a task's output moves out of the database, `GET /api/tasks/{id}/output`
//! (JSON pages and raw stream bytes) and the WebSocket replay answer exactly as before, also for
//! readers that run while the move happens.

mod app;
mod common;
mod moto;

use std::time::Duration;

use app::TestApp;
use common::TestHost;
use object_store::ObjectStoreExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use reqwest::StatusCode;
use serde_json::{Value, json};
use testum::archive::{Archived, archive_task};
use uuid::Uuid;

/// Prints several chunks on both streams, including bytes that are not UTF-8, then fails.
const COMMAND: &str = "for i in 1 2 3 4; do printf 'out %s \\377\\n' $i; printf 'err %s \\376\\n' $i >&2; \
                       sleep 0.1; done; printf '\\303'; sleep 0.1; printf '\\251 end'; exit 2";
const STDOUT: &[u8] = b"out 1 \xff\nout 2 \xff\nout 3 \xff\nout 4 \xff\n\xc3\xa9 end";
const STDERR: &[u8] = b"err 1 \xfe\nerr 2 \xfe\nerr 3 \xfe\nerr 4 \xfe\n";

async fn add_platform(app: &TestApp, host: &TestHost) -> String {
    app.add_password_platform(
        "archived",
        host.sshd.port(),
        &host.user.name,
        &host.user.password,
    )
    .await
}

/// Start the command on `platform`; returns the task id.
async fn start_command(app: &TestApp, platform: &str) -> String {
    let (status, accepted) = app
        .post(
            &format!("/api/platforms/{platform}/run_command"),
            json!({"command": COMMAND}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    accepted["task_id"].as_str().unwrap().to_string()
}

/// Everything a reader can see of a task's output.
#[derive(Debug, PartialEq)]
struct Seen {
    /// The default JSON page.
    page: Value,
    /// Pages of 2 events chained by `next_after_seq`.
    small_pages: Vec<Value>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    frames: Vec<Value>,
}

async fn pages(app: &TestApp, task: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .get(&format!(
                "/api/tasks/{task}/output?after_seq={after}&limit=2"
            ))
            .await;
        let next = page["next_after_seq"].as_i64();
        pages.push(page);
        match next {
            Some(next) => after = next,
            None => return pages,
        }
    }
}

async fn seen(app: &TestApp, task: &str, platform: &str) -> Seen {
    Seen {
        page: app.get(&format!("/api/tasks/{task}/output")).await,
        small_pages: pages(app, task).await,
        stdout: app.raw_output(task, platform, "stdout").await,
        stderr: app.raw_output(task, platform, "stderr").await,
        frames: app.ws_frames(task).await,
    }
}

/// Wait (bounded: 60 s) until the worker has archived `task`.
async fn wait_archived(app: &TestApp, task: Uuid) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !app.store().task_archived(task).await.unwrap() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "task {task} was not archived within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The output the command wrote, seen correctly: exact bytes, every seq once, in order.
fn assert_complete(seen: &Seen) {
    assert_eq!(seen.stdout, STDOUT);
    assert_eq!(seen.stderr, STDERR);
    let seqs: Vec<i64> = seen
        .frames
        .iter()
        .map(|f| f["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "{seqs:?}"
    );
    assert_eq!(seen.frames.last().unwrap()["type"], "done");
    let outputs = seen.frames.iter().filter(|f| f["type"] == "output").count();
    assert!(
        outputs >= 8,
        "the command wrote in several chunks: {outputs}"
    );
    assert_eq!(seen.page["items"].as_array().unwrap().len(), outputs);
}

/// Move the output of ended `task` with the service's own archive, with readers (WebSocket
/// replays, JSON pages, raw streams) running all along; each of them must see `before`.
async fn archive_while_reading(app: &TestApp, task: &str, platform: &str, before: &Seen) {
    let id = Uuid::parse_str(task).unwrap();
    assert!(
        !app.store()
            .output_events_through(id, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    let readers = futures::future::join_all((0..6).map(|_| seen(app, task, platform)));
    let mover = async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        archive_task(app.store(), app.archive(), id).await.unwrap()
    };
    let (during, moved) = tokio::join!(readers, mover);
    assert!(matches!(moved, Archived::Moved { .. }), "{moved:?}");
    for seen in &during {
        assert_eq!(seen, before, "a reader during the move saw something else");
    }
    assert!(app.store().task_archived(id).await.unwrap());
    assert!(
        app.store()
            .output_events_through(id, i64::MAX)
            .await
            .unwrap()
            .is_empty(),
        "the database still holds output rows"
    );
    assert_eq!(&seen(app, task, platform).await, before);
    // Idempotent.
    assert_eq!(
        archive_task(app.store(), app.archive(), id).await.unwrap(),
        Archived::Already
    );
    assert_eq!(&seen(app, task, platform).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_ended_task_is_archived_to_the_data_dir_and_reads_the_same() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host).await;
    let task = start_command(&app, &platform).await;
    // A subscriber from the start sees the output live, from the database.
    let live = app.ws_frames(&task).await;
    let id = Uuid::parse_str(&task).unwrap();
    wait_archived(&app, id).await;

    let object = app
        .data_dir
        .path()
        .join("task-logs/tasks")
        .join(format!("{task}.log"));
    assert!(object.is_file(), "{} is missing", object.display());
    assert!(
        app.store()
            .output_events_through(id, i64::MAX)
            .await
            .unwrap()
            .is_empty(),
        "the database still holds output rows"
    );
    let after = seen(&app, &task, &platform).await;
    assert_complete(&after);
    assert_eq!(
        after.frames, live,
        "a late subscriber sees what a live one saw"
    );
    let task_json = app.get(&format!("/api/tasks/{task}")).await;
    assert_eq!(task_json["targets"][0]["exit_code"], 2, "{task_json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_see_the_same_before_during_and_after_a_move_to_the_data_dir() {
    let host = TestHost::start();
    let app = TestApp::start_with_archive(|_| {}, None, false).await;
    let platform = add_platform(&app, &host).await;
    let task = start_command(&app, &platform).await;
    let id = Uuid::parse_str(&task).unwrap();
    // A task that has not ended is never archived.
    assert_eq!(
        archive_task(app.store(), app.archive(), id).await.unwrap(),
        Archived::NotFinished
    );
    app.wait_task(&task).await;
    let before = seen(&app, &task, &platform).await;
    assert_complete(&before);
    archive_while_reading(&app, &task, &platform, &before).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn output_round_trips_through_a_real_s3_server() {
    let moto = moto::MotoServer::start().await;
    let archive = moto.archive("testum-logs", "ci/run-1").await;
    let options = moto.options();
    let host = TestHost::start();
    let app = TestApp::start_with_archive(|_| {}, Some(archive), false).await;
    let platform = add_platform(&app, &host).await;
    let task = start_command(&app, &platform).await;
    app.wait_task(&task).await;
    let before = seen(&app, &task, &platform).await;
    assert_complete(&before);
    archive_while_reading(&app, &task, &platform, &before).await;

    // The object is in the bucket under the prefix, in the documented format (read with a
    // client of its own).
    let mut s3 = AmazonS3Builder::new().with_bucket_name("testum-logs");
    for (key, value) in &options {
        s3 = s3.with_config(key.parse().unwrap(), value);
    }
    let key = ObjectPath::from(format!("ci/run-1/tasks/{task}.log").as_str());
    let object = s3.build().unwrap().get(&key).await.unwrap();
    let text = String::from_utf8(object.bytes().await.unwrap().to_vec()).unwrap();
    let header: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(header["format"], "testum-task-log");
    assert_eq!(header["version"], 1);
    assert_eq!(header["task_id"], task);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_worker_archives_into_s3_when_configured() {
    let moto = moto::MotoServer::start().await;
    let archive = moto.archive("worker-logs", "").await;
    let host = TestHost::start();
    let app = TestApp::start_with_archive(|_| {}, Some(archive), true).await;
    let platform = add_platform(&app, &host).await;
    let task = start_command(&app, &platform).await;
    let live = app.ws_frames(&task).await;
    wait_archived(&app, Uuid::parse_str(&task).unwrap()).await;
    let after = seen(&app, &task, &platform).await;
    assert_complete(&after);
    assert_eq!(after.frames, live);
}

/// A cancelled task is archived too, whichever path ends it: the worker's task end when its
/// running target stops, or the workers' periodic sweep when the cancel itself ended the task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_task_is_archived_too() {
    let host = TestHost::start();
    let app = TestApp::start_with(|config| config.settings.lease_secs = 3).await;
    let platform = add_platform(&app, &host).await;
    let (status, accepted) = app
        .post(
            "/api/tasks",
            json!({"kind": "run_command", "platform_ids": [platform], "concurrency": 1,
                   "command": "echo started; sleep 30"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let task = accepted["task_id"].as_str().unwrap().to_string();
    let (status, _) = app
        .post(&format!("/api/tasks/{task}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let ended = app.wait_task(&task).await;
    assert_eq!(ended["status"], "cancelled", "{ended}");
    wait_archived(&app, Uuid::parse_str(&task).unwrap()).await;
    let frames = app.ws_frames(&task).await;
    assert_eq!(frames.last().unwrap()["type"], "done");
}
