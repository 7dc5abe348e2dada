//! Who can log in where, against real OpenSSH servers: the `scan` task and its findings, the
//! platform state, the access report, the shadowing conflict, exclusive mode and what a failed
//! sync says about each assignment (issue 10).

use crate::app;
use crate::common;

use std::collections::BTreeSet;
use std::process::Command;

use app::TestApp;
use common::{ClientKey, KeyKind, TestHost, closed_port};
use reqwest::StatusCode;
use serde_json::{Value, json};

const AK: &str = ".ssh/authorized_keys";
const BEGIN: &str = "# BEGIN testum managed keys - do not edit";
const END: &str = "# END testum managed keys";

/// A public key line made by `ssh-keygen` with `args` (e.g. `-t rsa -b 1024`).
fn keygen(args: &[&str], comment: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("id");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", comment])
        .args(args)
        .arg("-f")
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "ssh-keygen {args:?}");
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned()
}

/// `SHA256:...` of a public key line, as `ssh-keygen -lf` prints it.
fn fingerprint(line: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.pub");
    std::fs::write(&path, format!("{line}\n")).unwrap();
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned()
}

async fn add_owned_key(app: &TestApp, name: &str, owner: &str, line: &str) -> String {
    let (status, key) = app
        .post(
            "/api/keys",
            json!({"name": name, "public_key": line, "owner": owner}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    key["id"].as_str().unwrap().to_owned()
}

async fn platform(app: &TestApp, host: &TestHost, name: &str) -> String {
    app.add_password_platform(name, host.sshd.port(), &host.user.name, &host.user.password)
        .await
}

/// Deploy key `key` to platform `platform` and wait for the task; its JSON.
async fn deploy(app: &TestApp, platform: &str, key: &str) -> Value {
    app.run_task(
        &format!("/api/platforms/{platform}/deploy_keys"),
        json!({"key_ids": [key]}),
    )
    .await
}

async fn run_scan(app: &TestApp, platform: &str) -> (Value, Value) {
    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "scan", "platform_ids": [platform]}),
        )
        .await;
    let scan = app.get(&format!("/api/platforms/{platform}/scan")).await;
    (task, scan)
}

fn finding_kinds(scan: &Value) -> BTreeSet<String> {
    scan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn finding<'a>(scan: &'a Value, kind: &str) -> &'a Value {
    scan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} finding in {scan}"))
}

#[tokio::test]
async fn a_scan_reports_every_finding_kind_and_writes_nothing() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let id = platform(&app, &host, "web1").await;
    let alice = ClientKey::generate(KeyKind::Ed25519, None);
    let alice_id = add_owned_key(&app, "alice-laptop", "alice", &alice.public_line).await;
    let bob = ClientKey::generate(KeyKind::Ed25519, None);
    add_owned_key(&app, "bob-laptop", "bob", &bob.public_line).await;
    assert_eq!(
        app.get(&format!("/api/platforms/{id}")).await["state"],
        "never_scanned"
    );

    let task = deploy(&app, &id, &alice_id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    // The deploy scanned what it wrote: nothing but testum's block, so in sync.
    let shown = app.get(&format!("/api/platforms/{id}")).await;
    assert_eq!(shown["state"], "in_sync", "{shown}");

    // Hand edits: a weak unknown key, a registered key outside the block, alice again before the
    // block with a forced command (sshd uses that line, not testum's), a duplicate, a line sshd
    // skips, and a line added inside the block.
    let weak = keygen(&["-t", "rsa", "-b", "1024"], "old-rsa");
    let stranger = keygen(&["-t", "ed25519"], "stranger");
    let managed = String::from_utf8(host.user.read_file(AK)).unwrap();
    let edited = managed.replace(&format!("{END}\n"), &format!("{stranger}\n{END}\n"));
    let file = format!(
        "{weak}\n{bob}\ncommand=\"/bin/false\" {alice}\n{bob} again\nnot a key line\n{edited}",
        bob = bob.public_line,
        alice = alice.public_line
    );
    host.user.write_file(AK, file.as_bytes(), 0o600);
    let before = std::fs::metadata(host.user.path(AK)).unwrap();

    let (task, scan) = run_scan(&app, &id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["targets"][0]["changed"], false);
    assert_eq!(host.user.read_file(AK), file.as_bytes(), "a scan wrote");
    let after = std::fs::metadata(host.user.path(AK)).unwrap();
    use std::os::unix::fs::MetadataExt as _;
    assert_eq!((before.ino(), before.mtime()), (after.ino(), after.mtime()));
    assert_eq!(scan["state"], "drift", "{scan}");
    let kinds = finding_kinds(&scan);
    for kind in [
        "unmanaged_key",
        "managed_changed",
        "shadowed",
        "duplicate",
        "weak_key",
        "invalid_line",
    ] {
        assert!(kinds.contains(kind), "no {kind} in {kinds:?}");
    }
    assert_eq!(finding(&scan, "weak_key")["line"], 1);
    assert_eq!(
        finding(&scan, "weak_key")["fingerprint"],
        fingerprint(&weak)
    );
    // The shadowing line (3, alice with a forced command) is named.
    let shadowed = finding(&scan, "shadowed");
    assert!(
        shadowed["message"].as_str().unwrap().contains('3'),
        "{shadowed}"
    );
    // Each entry line names its key when the registry knows it.
    let lines = scan["lines"].as_array().unwrap();
    assert_eq!(lines[0]["class"], "entry");
    assert_eq!(lines[0]["bits"], 1024);
    assert_eq!(lines[0]["key_id"], Value::Null);
    assert_eq!(lines[1]["key_name"], "bob-laptop");
    assert_eq!(lines[1]["owner"], "bob");
    assert_eq!(lines[1]["managed"], false);
    assert_eq!(lines[2]["options"][0]["name"], "command");
    assert_eq!(lines[2]["options"][0]["value"], "/bin/false");
    assert_eq!(lines[4]["class"], "invalid");
    let listed = app.get("/api/platforms").await;
    assert_eq!(listed["items"][0]["state"], "drift");

    // The managed line removed by hand; the markers damaged; a group-writable file; no file.
    host.user
        .write_file(AK, format!("{BEGIN}\n{END}\n").as_bytes(), 0o620);
    let (_, scan) = run_scan(&app, &id).await;
    let kinds = finding_kinds(&scan);
    assert!(kinds.contains("managed_missing"), "{kinds:?}");
    assert!(kinds.contains("unsafe_modes"), "{kinds:?}");
    assert_eq!(host.user.mode(AK), 0o620, "a scan fixed a mode");
    host.user.write_file(
        AK,
        format!("{BEGIN}\n{}\n", alice.public_line).as_bytes(),
        0o600,
    );
    let (_, scan) = run_scan(&app, &id).await;
    assert!(finding_kinds(&scan).contains("damaged_markers"), "{scan}");
    std::fs::remove_file(host.user.path(AK)).unwrap();
    let (task, scan) = run_scan(&app, &id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert!(finding_kinds(&scan).contains("file_missing"), "{scan}");
    assert!(!host.user.path(AK).exists(), "a scan created the file");
}

#[tokio::test]
async fn the_access_report_answers_who_can_log_in_where() {
    let host = TestHost::start();
    let other = TestHost::start();
    let app = TestApp::start().await;
    let web = platform(&app, &host, "web1").await;
    let db = platform(&app, &other, "db1").await;
    let (status, patched) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/platforms/{db}"),
            Some(json!({"tags": ["db"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let alice = ClientKey::generate(KeyKind::Ed25519, None);
    let alice_id = add_owned_key(&app, "alice-laptop", "alice", &alice.public_line).await;
    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "deploy_keys", "platform_ids": [web, db], "key_ids": [alice_id]}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    // A key added by hand, even the very key just revoked, must show up.
    let stranger = ClientKey::generate(KeyKind::Ed25519, None);
    other.user.authorize(&stranger);
    let (task, _) = run_scan(&app, &db).await;
    assert_eq!(task["status"], "succeeded", "{task}");

    let alice_rows = app.get("/api/access?owner=alice").await;
    let places: BTreeSet<&str> = alice_rows["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["platform_name"].as_str().unwrap())
        .collect();
    assert_eq!(places, BTreeSet::from(["db1", "web1"]), "{alice_rows}");
    assert!(
        alice_rows["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["managed"] == true)
    );

    let unknown = app.get("/api/access?unknown=true").await;
    let rows = unknown["items"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{unknown}");
    assert_eq!(rows[0]["platform_name"], "db1");
    assert_eq!(rows[0]["key_name"], "unknown");
    assert_eq!(rows[0]["managed"], false);
    assert_eq!(rows[0]["fingerprint"], fingerprint(&stranger.public_line));
    assert_eq!(rows[0]["login_user"], other.user.name.as_str());

    let tagged = app.get("/api/access?tag=db").await;
    assert_eq!(tagged["items"].as_array().unwrap().len(), 2, "{tagged}");
    let page = app.get("/api/access?limit=1").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let next = page["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/api/access?limit=10&cursor={next}"))
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 2, "{rest}");

    let (status, headers, text) = app.get_text("/api/access?format=csv").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"),
        "{headers:?}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("platform_id,platform_name,login_user"));
    assert!(text.contains(&fingerprint(&stranger.public_line)));

    let (status, problem) = app
        .call(reqwest::Method::GET, "/api/access?managed=maybe", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "managed", "{problem}");
}

#[tokio::test]
async fn a_deploy_shadowed_by_an_earlier_line_fails_with_conflict_unless_exclusive() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let id = platform(&app, &host, "web1").await;
    let alice = ClientKey::generate(KeyKind::Ed25519, None);
    let alice_id = add_owned_key(&app, "alice-laptop", "alice", &alice.public_line).await;
    let hand = format!("# kept\ncommand=\"echo forced\" {}\n", alice.public_line);
    host.user.write_file(AK, hand.as_bytes(), 0o600);

    let task = deploy(&app, &id, &alice_id).await;
    assert_eq!(task["status"], "failed", "{task}");
    let error = task["targets"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("conflict: line 2 "), "{error}");
    assert_eq!(host.user.read_file(AK), hand.as_bytes(), "a conflict wrote");
    // The failed sync read the file: the key is not in the block, so it is failed, and the scan
    // shows the shadowing line.
    let keys = app.get(&format!("/api/platforms/{id}/keys")).await;
    assert_eq!(keys["items"][0]["sync_status"], "failed", "{keys}");
    let out = host.ssh(&alice, "echo mine");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "forced");

    // Exclusive mode removes the hand-written line and the managed entry takes effect.
    let (status, patched) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/platforms/{id}"),
            Some(json!({"exclusive": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["exclusive"], true);
    let task = deploy(&app, &id, &alice_id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let output = String::from_utf8(
        app.raw_output(task["id"].as_str().unwrap(), &id, "stdout")
            .await,
    )
    .unwrap();
    assert!(
        output.contains("- line 2 (exclusive mode): command="),
        "{output}"
    );
    let file = String::from_utf8(host.user.read_file(AK)).unwrap();
    assert!(file.starts_with("# kept\n"), "comments stay: {file}");
    assert!(!file.contains("echo forced"), "{file}");
    let out = host.ssh(&alice, "echo mine");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "mine");
    assert_eq!(
        app.get(&format!("/api/platforms/{id}")).await["state"],
        "in_sync"
    );
}

#[tokio::test]
async fn exclusive_mode_never_removes_the_key_testum_logs_in_with() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let login = host.authorized_key(KeyKind::Ed25519);
    let stranger = ClientKey::generate(KeyKind::Ed25519, None);
    host.user.authorize(&stranger);
    let (status, created) = app
        .post(
            "/api/platforms",
            json!({"name": "web1", "host": "127.0.0.1", "port": host.sshd.port(),
                   "username": host.user.name, "auth_method": "private_key",
                   "private_key": login.private_pem, "exclusive": true}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let alice = ClientKey::generate(KeyKind::Ed25519, None);
    let alice_id = add_owned_key(&app, "alice-laptop", "alice", &alice.public_line).await;
    let task = deploy(&app, &id, &alice_id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert!(
        !host.ssh_login_works(&stranger),
        "the hand-added key still logs in"
    );
    assert!(host.ssh_login_works(&login), "testum locked itself out");
    assert!(host.ssh_login_works(&alice));
    // testum's own key outside the block is reported, but is no drift.
    let scan = app.get(&format!("/api/platforms/{id}/scan")).await;
    assert_eq!(scan["state"], "in_sync", "{scan}");
    let own = finding(&scan, "unmanaged_key");
    assert!(
        own["message"]
            .as_str()
            .unwrap()
            .ends_with("(the key testum logs in with)"),
        "{own}"
    );
    // And testum can still log in for the next sync.
    let task = app
        .run_task("/api/tasks", json!({"kind": "scan", "platform_ids": [id]}))
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
}

#[tokio::test]
async fn a_failed_sync_keeps_what_the_host_really_has() {
    let mut host = TestHost::start();
    let app = TestApp::start().await;
    let id = platform(&app, &host, "web1").await;
    let alice = ClientKey::generate(KeyKind::Ed25519, None);
    let bob = ClientKey::generate(KeyKind::Ed25519, None);
    let alice_id = add_owned_key(&app, "alice-laptop", "alice", &alice.public_line).await;
    let bob_id = add_owned_key(&app, "bob-laptop", "bob", &bob.public_line).await;
    let task = deploy(&app, &id, &alice_id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    // The directory becomes read-only: the next write fails after the read.
    host.user.mkdir(".ssh", 0o500);
    let task = deploy(&app, &id, &bob_id).await;
    host.user.mkdir(".ssh", 0o700);
    assert_eq!(task["status"], "failed", "{task}");
    let keys = app.get(&format!("/api/platforms/{id}/keys")).await;
    let status_of = |key: &str| {
        keys["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key_id"] == key)
            .map(|a| a["sync_status"].clone())
            .unwrap()
    };
    assert_eq!(status_of(&alice_id), "present", "{keys}");
    assert_eq!(status_of(&bob_id), "failed", "{keys}");
    assert!(host.ssh_login_works(&alice));

    // A changed host key: refused, and the state says why.
    host.sshd.restart_with_new_host_keys();
    let (task, scan) = run_scan(&app, &id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(scan["state"], "host_key_mismatch", "{scan}");

    // Unreachable: the platform's state says so, and the last scan's lines stay.
    drop(host);
    let (task, scan) = run_scan(&app, &id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(scan["state"], "unreachable", "{scan}");
    assert!(scan["error"].as_str().is_some());
    assert!(!scan["lines"].as_array().unwrap().is_empty(), "{scan}");
    assert_eq!(
        app.get(&format!("/api/platforms/{id}")).await["state"],
        "unreachable"
    );
}

#[tokio::test]
async fn odd_files_are_reported_and_never_written() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let id = platform(&app, &host, "web1").await;
    let alice = ClientKey::generate(KeyKind::Ed25519, None);
    let alice_id = add_owned_key(&app, "alice-laptop", "alice", &alice.public_line).await;

    // Unreadable: the scan fails with the host's reason, the state is `error`.
    host.user.write_file(AK, b"# mine\n", 0o000);
    let (task, scan) = run_scan(&app, &id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert!(
        task["targets"][0]["error"]
            .as_str()
            .unwrap()
            .contains("authorized_keys"),
        "{task}"
    );
    assert_eq!(scan["state"], "error", "{scan}");
    assert_eq!(host.user.mode(AK), 0o000, "a scan changed the mode");

    // A directory where the file should be.
    std::fs::remove_file(host.user.path(AK)).unwrap();
    host.user.mkdir(AK, 0o700);
    let (task, scan) = run_scan(&app, &id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert!(
        task["targets"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not a regular file"),
        "{task}"
    );
    assert_eq!(scan["state"], "error");
    std::fs::remove_dir(host.user.path(AK)).unwrap();

    // Exclusive mode refuses a file whose markers are damaged, and writes nothing.
    let damaged = format!(
        "{}\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDjB5N8UWg4fMoiJnlr0FMQQghSIp5o2WJvFyZNBe8H1 x\n",
        BEGIN
    );
    host.user.write_file(AK, damaged.as_bytes(), 0o600);
    let (status, _) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/platforms/{id}"),
            Some(json!({"exclusive": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let task = deploy(&app, &id, &alice_id).await;
    assert_eq!(task["status"], "failed", "{task}");
    assert!(
        task["targets"][0]["error"]
            .as_str()
            .unwrap()
            .contains("markers are damaged"),
        "{task}"
    );
    assert_eq!(host.user.read_file(AK), damaged.as_bytes());
    let scan = app.get(&format!("/api/platforms/{id}/scan")).await;
    assert!(finding_kinds(&scan).contains("damaged_markers"), "{scan}");
}

/// Names of the platforms `GET /api/platforms?{query}` lists (one page).
async fn listed(app: &TestApp, query: &str) -> (Vec<String>, Value) {
    let page = app.get(&format!("/api/platforms?{query}")).await;
    let names = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    (names, page["next_cursor"].clone())
}

#[tokio::test]
async fn platforms_are_listed_by_state_and_an_unknown_state_is_refused() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let web = platform(&app, &host, "web1").await;
    let gone = app
        .add_password_platform("gone", closed_port(), "nobody1", "pw")
        .await;
    app.add_password_platform("new1", closed_port(), "nobody2", "pw")
        .await;
    app.add_password_platform("new2", closed_port(), "nobody3", "pw")
        .await;
    let stranger = ClientKey::generate(KeyKind::Ed25519, None);
    host.user
        .write_file(AK, format!("{}\n", stranger.public_line).as_bytes(), 0o600);
    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "scan", "platform_ids": [web, gone]}),
        )
        .await;
    assert_eq!(
        task["status"], "failed",
        "the unreachable one fails: {task}"
    );

    assert_eq!(listed(&app, "state=drift").await.0, ["web1"]);
    assert_eq!(listed(&app, "state=unreachable").await.0, ["gone"]);
    assert!(listed(&app, "state=in_sync").await.0.is_empty());
    assert_eq!(listed(&app, "").await.0.len(), 4);
    // The filter holds across pages: newest first, one at a time.
    let (first, cursor) = listed(&app, "state=never_scanned&limit=1").await;
    assert_eq!(first, ["new2"]);
    let cursor = cursor.as_str().expect("a second page");
    let (second, end) = listed(
        &app,
        &format!("state=never_scanned&limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(second, ["new1"]);
    assert_eq!(end, Value::Null);

    let (status, problem) = app
        .call(reqwest::Method::GET, "/api/platforms?state=broken", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "state", "{problem}");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("never_scanned"),
        "{problem}"
    );
}

#[tokio::test]
async fn the_access_report_names_keys_registered_after_the_scan_and_not_hand_edits_as_managed() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let id = platform(&app, &host, "web1").await;
    let alice = ClientKey::generate(KeyKind::Ed25519, None);
    let alice_id = add_owned_key(&app, "alice-laptop", "alice", &alice.public_line).await;
    let task = deploy(&app, &id, &alice_id).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    // carol's key goes into testum's block by hand, then the host is scanned.
    let carol = ClientKey::generate(KeyKind::Ed25519, None);
    let file = String::from_utf8(host.user.read_file(AK)).unwrap();
    let edited = file.replace(END, &format!("{}\n{END}", carol.public_line));
    host.user.write_file(AK, edited.as_bytes(), 0o600);
    run_scan(&app, &id).await;
    let rows = app.get("/api/access?managed=false").await;
    assert_eq!(rows["items"].as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows["items"][0]["key_name"], "unknown");
    // Registered afterwards: named at once, without a new scan.
    add_owned_key(&app, "carol-laptop", "carol", &carol.public_line).await;
    let rows = app.get("/api/access?owner=carol").await;
    assert_eq!(rows["items"][0]["key_name"], "carol-laptop", "{rows}");
    assert_eq!(rows["items"][0]["managed"], false);
    assert!(
        app.get("/api/access?unknown=true").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
