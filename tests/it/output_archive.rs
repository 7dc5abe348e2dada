//! Task logs in object storage, end to end against real OpenSSH servers and a real S3-compatible
//! server (moto): once a task's output moves out of the database, `GET /api/tasks/{id}/output`
//! (JSON pages and raw stream bytes) and the WebSocket replay answer exactly as before, also for
//! readers that run while the move happens; a 64 MB task is archived and read back a page at a
//! time with ranged reads only; format-1 archives still read; retention deletes old output.

use crate::app;
use crate::common;
use crate::counting;
use crate::moto;

use std::time::Duration;

use app::TestApp;
use common::TestHost;
use futures::TryStreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore as _, ObjectStoreExt as _};
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
    // Ten writes 0.1 s apart; a loaded machine may coalesce some of them into one chunk.
    assert!(
        outputs >= 4,
        "the command wrote in several chunks: {outputs}"
    );
    assert_eq!(seen.page["items"].as_array().unwrap().len(), outputs);
}

/// Move the output of ended `task` with the service's own archive, with readers (WebSocket
/// replays, JSON pages, raw streams) running all along; each of them must see `before`.
async fn archive_while_reading(app: &TestApp, task: &str, platform: &str, before: &Seen) {
    let id = Uuid::parse_str(task).unwrap();
    assert!(app.store().count_output_rows(id).await.unwrap() > 0);
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
    assert_eq!(
        app.store().count_output_rows(id).await.unwrap(),
        0,
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

    let segments = segment_files(&app.data_dir.path().join("task-logs/tasks").join(&task));
    assert_eq!(segments.len(), 1, "one small segment: {segments:?}");
    let bytes: usize = segments
        .iter()
        .map(|s| std::fs::read(s).unwrap().len())
        .sum();
    assert_eq!(
        bytes,
        STDOUT.len() + STDERR.len(),
        "raw bytes, nothing else"
    );
    assert_eq!(
        app.store().count_output_rows(id).await.unwrap(),
        0,
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

    // The segments are in the bucket under the prefix, in the documented format: one run's
    // directory of `<first seq, 20 digits>.seg` objects holding the output's raw bytes (read
    // with a client of its own).
    let mut s3 = AmazonS3Builder::new().with_bucket_name("testum-logs");
    for (key, value) in &options {
        s3 = s3.with_config(key.parse().unwrap(), value);
    }
    let s3 = s3.build().unwrap();
    let dir = ObjectPath::from(format!("ci/run-1/tasks/{task}").as_str());
    let listed: Vec<_> = s3.list(Some(&dir)).try_collect().await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    let name = listed[0].location.filename().unwrap().to_string();
    assert!(
        name.len() == 24
            && name.ends_with(".seg")
            && name[..20].bytes().all(|b| b.is_ascii_digit()),
        "{name}"
    );
    let mut bytes = s3
        .get(&listed[0].location)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let mut written = [STDOUT, STDERR].concat();
    bytes.sort_unstable();
    written.sort_unstable();
    assert_eq!(
        bytes, written,
        "the segment holds exactly the output's bytes"
    );
}

/// The segment files below a task's archive directory `dir` (every run), sorted.
fn segment_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for run in std::fs::read_dir(dir).unwrap() {
        for file in std::fs::read_dir(run.unwrap().path()).unwrap() {
            files.push(file.unwrap().path());
        }
    }
    files.sort();
    files
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

/// 64 MiB of deterministic output: 1 Mi lines of 64 bytes (`<line number, 10 digits> `, 52
/// pseudo-random printable bytes, then `\xff\n`). `\xff` is never valid UTF-8 and stands alone,
/// so the JSON pages show it as exactly one U+FFFD and their text maps back to the exact bytes.
fn big_output() -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(64 << 20);
    for line in 0..(1u64 << 20) {
        out.extend_from_slice(format!("{line:010} ").as_bytes());
        for _ in 0..52 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.push(b' ' + (state % 95) as u8);
        }
        out.extend_from_slice(b"\xff\n");
    }
    out
}

/// The exact bytes behind a JSON chunk's text of [`big_output`] (U+FFFD stands for `\xff`).
fn unlossy(text: &str) -> Vec<u8> {
    text.replace('\u{fffd}', "\u{ff}")
        .chars()
        .map(|c| c as u32 as u8)
        .collect()
}

/// Every page of `task`'s JSON output with `limit`, chained by `next_after_seq`.
async fn all_pages(app: &TestApp, task: &str, limit: u32) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .get(&format!(
                "/api/tasks/{task}/output?after_seq={after}&limit={limit}"
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

/// The stdout bytes of a JSON page's items.
fn page_stdout(page: &Value) -> Vec<u8> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|item| item["stream"] == "stdout")
        .flat_map(|item| unlossy(item["data"].as_str().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_64_mb_task_is_archived_in_segments_and_read_back_a_page_at_a_time() {
    let expected = big_output();
    let host = TestHost::start();
    host.user.write_file("big.bin", &expected, 0o644);
    let dir = tempfile::tempdir().unwrap();
    let reads = std::sync::Arc::new(counting::Reads::default());
    let local = object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
    let archive = testum::archive::OutputArchive::from_object_store(
        std::sync::Arc::new(counting::Counting {
            inner: std::sync::Arc::new(local),
            reads: reads.clone(),
        }),
        "",
        "counting local dir",
    );
    let app = TestApp::start_with_archive(
        |config| config.settings.max_output_bytes = 128 << 20,
        Some(archive),
        false,
    )
    .await;
    let platform = add_platform(&app, &host).await;
    let task = app
        .queue(
            &format!("/api/platforms/{platform}/run_command"),
            json!({"command": "cat big.bin; printf 'tail \\376\\n' >&2"}),
        )
        .await;
    let ended = app.wait_task(&task).await;
    assert_eq!(ended["status"], "succeeded", "{ended}");
    let id = Uuid::parse_str(&task).unwrap();

    // From the database: pages stop at about 8 MiB, not at the 10 000 events asked for.
    let before = all_pages(&app, &task, 10_000).await;
    assert!(before.len() >= 8, "{} pages for 64 MiB", before.len());
    let stdout: Vec<u8> = before.iter().flat_map(page_stdout).collect();
    assert!(stdout == expected, "the JSON pages hold the exact output");

    let moved = archive_task(app.store(), app.archive(), id).await.unwrap();
    let Archived::Moved {
        bytes, segments, ..
    } = moved
    else {
        panic!("{moved:?}");
    };
    assert_eq!(bytes, expected.len() as u64 + 7);
    assert!(segments >= 16, "4 MiB segments: {segments}");
    assert_eq!(app.store().count_output_rows(id).await.unwrap(), 0);
    let files = segment_files(&dir.path().join("tasks").join(&task));
    assert_eq!(files.len() as u64, segments);
    assert!(
        files
            .iter()
            .all(|f| std::fs::metadata(f).unwrap().len() <= 5 << 20)
    );

    // From the archive: the same pages, each within the byte cap.
    let (whole_before, _, _) = reads.snapshot();
    let after = all_pages(&app, &task, 10_000).await;
    assert_eq!(after.len(), before.len());
    let middle = after.len() / 2;
    for i in [0, middle, after.len() - 1] {
        assert!(after[i] == before[i], "page {i} differs after the move");
    }
    assert!(after == before, "every page reads the same after the move");
    for page in &after {
        assert!(page_stdout(page).len() <= (8 << 20) + (1 << 20));
    }
    assert_eq!(reads.snapshot().0, whole_before, "no whole-object GET");

    // A page of 10 events in the middle fetches only its own bytes, with one or two ranged
    // reads (a page may span two segments), not a segment, let alone the whole output.
    let items = after[middle]["items"].as_array().unwrap();
    let start = items[0]["seq"].as_i64().unwrap() - 1;
    let (whole0, ranges0, bytes0) = reads.snapshot();
    let small = app
        .get(&format!(
            "/api/tasks/{task}/output?after_seq={start}&limit=10"
        ))
        .await;
    let (whole1, ranges1, bytes1) = reads.snapshot();
    assert_eq!(small["items"].as_array().unwrap()[..], items[..10]);
    assert_eq!(whole1, whole0);
    assert!(
        (1..=2).contains(&(ranges1 - ranges0)),
        "{} ranged reads",
        ranges1 - ranges0
    );
    let page_bytes: usize = page_stdout(&small).len();
    assert_eq!(
        bytes1 - bytes0,
        page_bytes as u64,
        "read exactly the page's bytes"
    );

    // The raw download, streamed from the segments, byte for byte.
    assert!(app.raw_output(&task, &platform, "stdout").await == expected);
    assert_eq!(
        app.raw_output(&task, &platform, "stderr").await,
        b"tail \xfe\n"
    );
}

/// A task archived by an earlier version (format 1: one `tasks/<id>.log` object, no segment
/// index) still reads the same, through the old decoder.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_format_1_archive_still_reads() {
    let host = TestHost::start();
    let app = TestApp::start_with_archive(|_| {}, None, false).await;
    let platform = add_platform(&app, &host).await;
    let task = start_command(&app, &platform).await;
    app.wait_task(&task).await;
    let before = seen(&app, &task, &platform).await;
    assert_complete(&before);
    let id = Uuid::parse_str(&task).unwrap();
    let page = app
        .store()
        .events_page(
            id,
            &testum::store::PageQuery {
                after: 0,
                limit: 10_000,
                max_bytes: usize::MAX,
                scope: testum::store::EventScope::All,
            },
        )
        .await
        .unwrap();
    let log = testum::archive::format::encode(id, &page.events);
    let object = app
        .data_dir
        .path()
        .join(format!("task-logs/tasks/{task}.log"));
    std::fs::create_dir_all(object.parent().unwrap()).unwrap();
    std::fs::write(&object, log).unwrap();
    app.sql(&format!(
        "UPDATE tasks SET archived_at = '2024-01-01T00:00:00.000000Z', archived_seq = last_seq \
         WHERE id = '{task}'"
    ))
    .await;
    app.sql(&format!(
        "DELETE FROM task_events WHERE task_id = '{task}' AND kind = 'output'"
    ))
    .await;
    assert_eq!(seen(&app, &task, &platform).await, before);
    // A later archive run leaves it alone.
    assert_eq!(
        archive_task(app.store(), app.archive(), id).await.unwrap(),
        Archived::Already
    );
}

/// Run `command` on `platform` to its end; the task id.
async fn run(app: &TestApp, platform: &str, command: &str) -> String {
    let task = app
        .queue(
            &format!("/api/platforms/{platform}/run_command"),
            json!({"command": command}),
        )
        .await;
    app.wait_task(&task).await;
    task
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retention_deletes_old_output_and_keeps_tasks_one_process_at_a_time() {
    use testum::archive::retention::{LEASE, Retention, expire_old_output};
    let host = TestHost::start();
    // The workers' own job is off: the test runs it.
    let app = TestApp::start_with_archive(
        |config| config.settings.output_retention_days = 0,
        None,
        false,
    )
    .await;
    let platform = add_platform(&app, &host).await;
    let archived_old = run(&app, &platform, "printf 'old archived \\377\\n'").await;
    let database_old = run(&app, &platform, "printf 'old in the database \\377\\n'").await;
    let recent = run(&app, &platform, "printf 'recent \\377\\n'").await;
    for task in [&archived_old, &recent] {
        let id = Uuid::parse_str(task).unwrap();
        let moved = archive_task(app.store(), app.archive(), id).await.unwrap();
        assert!(matches!(moved, Archived::Moved { .. }), "{moved:?}");
    }
    for task in [&archived_old, &database_old] {
        app.sql(&format!(
            "UPDATE tasks SET finished_at = '2000-01-01T00:00:00.000000Z' WHERE id = '{task}'"
        ))
        .await;
    }
    let recent_before = seen(&app, &recent, &platform).await;
    let objects = |task: &str| app.data_dir.path().join("task-logs/tasks").join(task);
    assert!(objects(&archived_old).is_dir());

    // Another process holds the job: nothing happens here.
    let ttl = Duration::from_secs(60);
    assert!(
        app.store()
            .try_take_lease(LEASE, "elsewhere", "worker-x", ttl)
            .await
            .unwrap()
    );
    let busy = expire_old_output(app.store(), Some(app.archive()), 30, "worker-a", ttl).await;
    assert_eq!(busy.unwrap(), Retention::Busy);
    assert!(app.get(&format!("/api/tasks/{archived_old}")).await["output_expired_at"].is_null());
    app.store().release_lease(LEASE, "elsewhere").await.unwrap();

    // Two workers at once: the old tasks are expired once, by one of them.
    let (a, b) = tokio::join!(
        expire_old_output(app.store(), Some(app.archive()), 30, "worker-a", ttl),
        expire_old_output(app.store(), Some(app.archive()), 30, "worker-b", ttl),
    );
    let expired: Vec<u64> = [a.unwrap(), b.unwrap()]
        .iter()
        .map(|r| match r {
            Retention::Ran { tasks, bytes } => {
                assert!(*tasks == 0 || *bytes > 0);
                *tasks
            }
            Retention::Busy => 0,
        })
        .collect();
    assert_eq!(expired.iter().sum::<u64>(), 2, "{expired:?}");
    assert!(
        expired.contains(&0),
        "only one run did the work: {expired:?}"
    );

    for task in [&archived_old, &database_old] {
        let id = Uuid::parse_str(task).unwrap();
        let json = app.get(&format!("/api/tasks/{task}")).await;
        assert!(json["output_expired_at"].is_string(), "{json}");
        assert_eq!(
            json["targets"].as_array().unwrap().len(),
            1,
            "the targets stay"
        );
        assert_eq!(json["targets"][0]["exit_code"], 0);
        assert_eq!(app.store().count_output_rows(id).await.unwrap(), 0);
        let (status, problem) = app
            .call(
                reqwest::Method::GET,
                &format!("/api/tasks/{task}/output"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::GONE, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("TESTUM_OUTPUT_RETENTION_DAYS"),
            "{problem}"
        );
        let (status, _) = app
            .call(
                reqwest::Method::GET,
                &format!("/api/tasks/{task}/output?platform_id={platform}&stream=stdout"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::GONE);
        // The replay still has the target changes and the end.
        let frames = app.ws_frames(task).await;
        assert!(frames.iter().all(|f| f["type"] != "output"), "{frames:?}");
        assert_eq!(frames.last().unwrap()["type"], "done");
    }
    assert!(!objects(&archived_old).exists() || segment_files(&objects(&archived_old)).is_empty());
    // The recent task is untouched.
    assert!(app.get(&format!("/api/tasks/{recent}")).await["output_expired_at"].is_null());
    assert_eq!(seen(&app, &recent, &platform).await, recent_before);
    assert!(!segment_files(&objects(&recent)).is_empty());
    // Nothing left to do.
    let again = expire_old_output(app.store(), Some(app.archive()), 30, "worker-a", ttl).await;
    assert_eq!(again.unwrap(), Retention::Ran { tasks: 0, bytes: 0 });
}

/// Issue 13, finding 5: under umask 022, with the archive directory created 0755 by the
/// operator, every directory testum makes below it is 0700 and every log file 0600.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn task_logs_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt as _;
    // The usual default; process-wide, so the other tests of this binary run under it too.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let host = TestHost::start();
    let app = TestApp::start_with(|config| {
        let dir = config.settings.data_dir.join(testum::archive::LOCAL_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    })
    .await;
    let platform = add_platform(&app, &host).await;
    let task = start_command(&app, &platform).await;
    wait_archived(&app, Uuid::parse_str(&task).unwrap()).await;

    let root = app.data_dir.path().join(testum::archive::LOCAL_DIR);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let mut dirs = vec![root.join("tasks")];
    let mut files = Vec::new();
    while let Some(dir) = dirs.pop() {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(!files.is_empty(), "nothing archived");
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    assert_eq!(
        mode(&root),
        0o755,
        "the operator's directory is left as it was"
    );
}
