//! The CLI for daily work, end to end against a real server: `tasks list|show|output|cancel`,
//! `audit list`, `host-key trust`, `platforms edit|delete`, `keys delete`, names by unique
//! prefix or fingerprint, `--output json`; a task of 1,000 targets shown as a summary.

use super::{add_platform, as_admin, owned_keys, succeeds, text};
use crate::app::TestApp;
use crate::common::{ClientKey, KeyKind, TestHost, closed_port};

use reqwest::StatusCode;
use serde_json::{Value, json};

/// Register `name` with `tags` on a port that refuses connections (every task on it fails
/// fast); its id.
async fn unreachable(app: &TestApp, name: &str, tags: &[&str]) -> String {
    let (status, body) = app
        .post(
            "/api/platforms",
            json!({"name": name, "host": "127.0.0.1", "port": closed_port(),
                   "username": "nobody", "auth_method": "password", "password": "pw",
                   "tags": tags}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Run `testum ARGS` as the admin and expect exit status `code`; its stderr.
async fn fails(app: &TestApp, args: &[&str], code: i32) -> String {
    let out = as_admin(app, args).await;
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}\n{}\n{stderr}",
        text(&out.stdout)
    );
    stderr
}

/// The fingerprint of the registered key named `name`.
async fn fingerprint(app: &TestApp, name: &str) -> String {
    let keys = app.get("/api/keys").await;
    keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no key {name} in {keys}"))["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// stdout as JSON.
fn json_of(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// The rows of a table (header first), split on whitespace.
fn rows(stdout: &str) -> Vec<Vec<&str>> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect()
}

#[tokio::test]
async fn keys_and_platforms_are_named_whole_to_change_and_by_a_prefix_to_read() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    add_platform(&app, &host, "web1", &[]).await;
    unreachable(&app, "db1", &[]).await;
    let [laptop, desktop] = owned_keys(
        &app,
        [("alice-laptop", "alice"), ("alice-desktop", "alice")],
    )
    .await;
    let (laptop_fp, desktop_fp) = (
        fingerprint(&app, "alice-laptop").await,
        fingerprint(&app, "alice-desktop").await,
    );

    // A command that changes something takes whole names only: `alice` (the start of two
    // names) and `web` (the start of one) are refused, the names they start offered, nothing
    // queued.
    let stderr = fails(&app, &["deploy", "--platform", "web1", "--key", "alice"], 2).await;
    assert_eq!(
        stderr,
        format!(
            "testum: --key: no key named \"alice\" (this command takes whole names; \"alice\" \
             starts: alice-desktop ({desktop_fp}), alice-laptop ({laptop_fp}))\n"
        )
    );
    let stderr = fails(
        &app,
        &["deploy", "--platform", "web", "--key", "alice-laptop"],
        2,
    )
    .await;
    assert_eq!(
        stderr,
        "testum: --platform: no platform named \"web\" (this command takes whole names; \
         \"web\" starts: web1)\n"
    );
    let stderr = fails(
        &app,
        &["deploy", "--platform", "web1", "--key", &desktop_fp[..16]],
        2,
    )
    .await;
    assert!(stderr.contains("takes whole names"), "{stderr}");
    assert_eq!(app.get("/api/tasks").await["items"], json!([]));

    // Whole names and a whole fingerprint.
    succeeds(
        &app,
        &["deploy", "--platform", "web1", "--key", "alice-laptop"],
    )
    .await;
    assert!(host.ssh_login_works(&laptop));
    succeeds(
        &app,
        &["deploy", "--platform", "web1", "--key", &desktop_fp],
    )
    .await;
    assert!(host.ssh_login_works(&desktop));

    // A command that only reads takes a unique prefix, and stderr says what it took.
    let (_, stderr) = succeeds(&app, &["audit", "list", "--key", "alice-l"]).await;
    assert!(
        stderr.contains(&format!(
            "testum: --key alice-l: alice-laptop ({laptop_fp})\n"
        )),
        "{stderr}"
    );

    // keys delete: the server refuses while the key is assigned (exit 1), then it goes; a
    // prefix never deletes, so running the delete again cannot take another key.
    let stderr = fails(&app, &["keys", "delete", "alice-desktop"], 1).await;
    assert_eq!(
        stderr,
        "testum: the key is still assigned to 1 platform(s); revoke it first (HTTP 409)\n"
    );
    succeeds(
        &app,
        &["revoke", "--key", "alice-desktop", "--platform", "web1"],
    )
    .await;
    let stderr = fails(&app, &["keys", "delete", "alice-d"], 2).await;
    assert!(stderr.contains("takes whole names"), "{stderr}");
    let (stdout, _) = succeeds(&app, &["keys", "delete", "alice-desktop"]).await;
    assert_eq!(stdout, format!("deleted key alice-desktop {desktop_fp}\n"));
    let stderr = fails(&app, &["keys", "delete", "alice-desktop"], 2).await;
    assert_eq!(
        stderr,
        "testum: keys delete: no key named \"alice-desktop\"\n"
    );
    let stderr = fails(&app, &["keys", "delete", "alice"], 2).await;
    assert_eq!(
        stderr,
        format!(
            "testum: keys delete: no key named \"alice\" (this command takes whole names; \
             \"alice\" starts: alice-laptop ({laptop_fp}))\n"
        )
    );

    // --output json: the server's objects, every field.
    let (stdout, _) = succeeds(&app, &["keys", "list", "--output", "json"]).await;
    let keys = json_of(&stdout);
    assert_eq!(keys.as_array().unwrap().len(), 1, "{stdout}");
    assert_eq!(keys[0]["name"], "alice-laptop");
    assert_eq!(keys[0]["owner"], "alice");
    assert_eq!(keys[0]["fingerprint"], laptop_fp.as_str());
}

#[tokio::test]
async fn platforms_are_edited_and_deleted_by_name() {
    let app = TestApp::start().await;
    let id = unreachable(&app, "web-old", &["web"]).await;
    let port = closed_port().to_string();

    let (stdout, _) = succeeds(
        &app,
        &[
            "platforms",
            "edit",
            "web-old",
            "--name",
            "web-new",
            "--port",
            &port,
            "--add-tag",
            "env=prod",
            "--exclusive",
            "true",
        ],
    )
    .await;
    assert_eq!(
        stdout,
        format!("updated platform web-new (nobody@127.0.0.1:{port}, tags: web,env=prod)\n")
    );
    let (stdout, _) = succeeds(&app, &["platforms", "list", "--output", "json"]).await;
    let listed = json_of(&stdout);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{stdout}");
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["name"], "web-new");
    assert_eq!(listed[0]["port"], port.parse::<u16>().unwrap());
    assert_eq!(listed[0]["exclusive"], true);
    assert_eq!(listed[0]["tags"], json!(["web", "env=prod"]));

    // An edit takes the whole name: `web-n` edits nothing.
    let stderr = fails(
        &app,
        &["platforms", "edit", "web-n", "--remove-tag", "web"],
        2,
    )
    .await;
    assert!(stderr.contains("takes whole names"), "{stderr}");
    succeeds(
        &app,
        &["platforms", "edit", "web-new", "--remove-tag", "web"],
    )
    .await;
    assert_eq!(
        app.get(&format!("/api/platforms/{id}")).await["tags"],
        json!(["env=prod"])
    );
    succeeds(&app, &["platforms", "edit", "web-new", "--tag", ""]).await;
    assert_eq!(
        app.get(&format!("/api/platforms/{id}")).await["tags"],
        json!([])
    );

    // Nothing to change is a usage error; a field the server refuses is named (exit 1).
    let stderr = fails(&app, &["platforms", "edit", "web-new"], 2).await;
    assert_eq!(
        stderr,
        "testum: platforms edit: give at least one field to change\n"
    );
    let stderr = fails(
        &app,
        &[
            "platforms",
            "edit",
            "web-new",
            "--host-key-policy",
            "strict",
        ],
        1,
    )
    .await;
    assert!(
        stderr.starts_with("testum: host_key_policy: strict needs a pinned host key")
            && stderr.ends_with("(HTTP 422)\n"),
        "{stderr}"
    );

    // A key assigned (the deploy failed, the assignment stays): delete is refused, saying how
    // to go on; --forget-keys deletes.
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    app.add_key("alice", &key.public_line).await;
    fails(
        &app,
        &["deploy", "--platform", "web-new", "--key", "alice"],
        1,
    )
    .await;
    let stderr = fails(&app, &["platforms", "delete", "web-new"], 1).await;
    assert_eq!(
        stderr,
        "testum: platforms delete: web-new still has keys assigned: revoke them first (testum \
         revoke --platform web-new --key ...), or for a host that is gone give --forget-keys \
         (the keys stay on it) (HTTP 409)\n"
    );
    let (stdout, _) = succeeds(&app, &["platforms", "delete", "web-new", "--forget-keys"]).await;
    assert_eq!(stdout, "deleted platform web-new\n");
    let (stdout, _) = succeeds(&app, &["platforms", "list", "--output", "json"]).await;
    assert_eq!(json_of(&stdout), json!([]));
    let stderr = fails(&app, &["platforms", "delete", "web-new"], 2).await;
    assert_eq!(
        stderr,
        "testum: platforms delete: no platform named \"web-new\"\n"
    );
}

#[tokio::test]
async fn tasks_are_listed_shown_printed_and_cancelled() {
    let (one, two) = (TestHost::start(), TestHost::start());
    let app = TestApp::start().await;
    let web1 = add_platform(&app, &one, "web1", &["t"]).await;
    add_platform(&app, &two, "web2", &["t"]).await;
    unreachable(&app, "gone", &["t"]).await;
    fails(
        &app,
        &["run", "--tag", "t", "--", "echo hi; echo err >&2"],
        1,
    )
    .await;
    let failed = app.get("/api/tasks").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    succeeds(&app, &["run", "--platform", "web1", "--", "true"]).await;
    let succeeded = app.get("/api/tasks").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // list: newest first; filters; a page at a time; --all only as JSON.
    let (stdout, _) = succeeds(&app, &["tasks", "list"]).await;
    let table = rows(&stdout);
    assert_eq!(table[0], ["ID", "KIND", "STATUS", "CREATED", "BY"]);
    assert_eq!(table.len(), 3, "{stdout}");
    assert_eq!(
        table[1][..3],
        [succeeded.as_str(), "run_command", "succeeded"]
    );
    assert_eq!(table[2][..3], [failed.as_str(), "run_command", "failed"]);
    assert_eq!(table[2][4], "admin");
    let (stdout, _) = succeeds(
        &app,
        &["tasks", "list", "--status", "failed", "--output", "json"],
    )
    .await;
    let listed = json_of(&stdout);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{stdout}");
    assert_eq!(listed[0]["id"], failed.as_str());
    let (stdout, stderr) = succeeds(&app, &["tasks", "list", "--limit", "1"]).await;
    assert_eq!(rows(&stdout).len(), 2, "{stdout}");
    let cursor = stderr
        .strip_prefix("testum: more: add --cursor ")
        .and_then(|c| c.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("no cursor in {stderr:?}"));
    let (stdout, stderr) =
        succeeds(&app, &["tasks", "list", "--limit", "1", "--cursor", cursor]).await;
    assert_eq!(rows(&stdout)[1][0], failed, "{stdout}");
    assert_eq!(stderr, "");
    let (stdout, _) = succeeds(
        &app,
        &["tasks", "list", "--all", "--limit", "1", "--output", "json"],
    )
    .await;
    let listed = json_of(&stdout);
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [succeeded.as_str(), failed.as_str()]);
    let stderr = fails(&app, &["tasks", "list", "--all"], 2).await;
    assert!(
        stderr.starts_with("testum: --all: only with --output json"),
        "{stderr}"
    );
    let stderr = fails(&app, &["tasks", "list", "--status", "lost"], 1).await;
    assert!(stderr.starts_with("testum: status: must be"), "{stderr}");

    // show: what, when, the counts, then only the target that failed.
    let (stdout, _) = succeeds(&app, &["tasks", "show", &failed]).await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert_eq!(lines[0], format!("task {failed}: run_command, failed"));
    assert!(
        lines[1].starts_with("created 20") && lines[1].contains(" by admin, started 20"),
        "{stdout}"
    );
    assert_eq!(lines[2], "command: echo hi; echo err >&2");
    assert_eq!(lines[3], "3 targets: 2 succeeded, 1 failed");
    assert!(
        lines[4].starts_with("gone: failed, connection failed: "),
        "{stdout}"
    );
    let (stdout, _) = succeeds(&app, &["tasks", "show", &failed, "--output", "json"]).await;
    let shown = json_of(&stdout);
    assert_eq!(shown["id"], failed.as_str());
    assert_eq!(shown["targets"].as_array().unwrap().len(), 3);
    let stderr = fails(&app, &["tasks", "show", "nope"], 1).await;
    assert_eq!(stderr, "testum: no task with id \"nope\" (HTTP 404)\n");

    // output: every line prefixed; one platform; one stream byte for byte.
    let out = as_admin(&app, &["tasks", "output", &failed]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut stdout: Vec<String> = text(&out.stdout).lines().map(String::from).collect();
    stdout.sort();
    assert_eq!(stdout, ["web1 | hi", "web2 | hi"]);
    let mut stderr: Vec<String> = text(&out.stderr).lines().map(String::from).collect();
    stderr.sort();
    assert_eq!(stderr, ["web1 | err", "web2 | err"]);
    let out = as_admin(&app, &["tasks", "output", &failed, "--platform", "web2"]).await;
    assert_eq!(text(&out.stdout), "web2 | hi\n");
    assert_eq!(text(&out.stderr), "web2 | err\n");
    let (stdout, _) = succeeds(
        &app,
        &[
            "tasks",
            "output",
            &failed,
            "--platform",
            "web1",
            "--stream",
            "stderr",
        ],
    )
    .await;
    assert_eq!(stdout, "err\n");
    let (stdout, stderr) =
        succeeds(&app, &["tasks", "output", &failed, "--platform", "gone"]).await;
    assert_eq!(
        (stdout.as_str(), stderr.as_str()),
        ("", "testum: gone printed nothing\n")
    );
    let stderr = fails(&app, &["tasks", "output", &failed, "--platform", "db9"], 2).await;
    assert_eq!(
        stderr,
        "testum: --platform: no platform of the task named \"db9\"\n"
    );

    // cancel: an ended task is the server's 409; a running one stops.
    let stderr = fails(&app, &["tasks", "cancel", &failed], 1).await;
    assert_eq!(
        stderr,
        format!("testum: task {failed} has already ended (HTTP 409)\n")
    );
    let running = app
        .queue(
            "/api/tasks",
            json!({"kind": "run_command", "platform_ids": [web1], "command": "sleep 60"}),
        )
        .await;
    let (stdout, _) = succeeds(&app, &["tasks", "cancel", &running]).await;
    assert!(
        stdout.starts_with(&format!("cancelling task {running}")),
        "{stdout}"
    );
    assert_eq!(app.wait_task(&running).await["status"], "cancelled");
}

#[tokio::test]
async fn tasks_show_of_a_thousand_targets_prints_counts_and_the_first_failures() {
    const GONE: usize = 1000;
    let host = TestHost::start();
    let app = TestApp::start().await;
    add_platform(&app, &host, "web1", &[]).await;
    let port = closed_port();
    let mut csv = String::from("name,host,port,username\n");
    for n in 0..GONE {
        csv.push_str(&format!("gone-{n:04},127.0.0.1,{port},u{n}\n"));
    }
    let (status, body) = app
        .post(
            "/api/platforms/import",
            json!({"format": "csv", "content": csv, "auth_method": "password", "password": "pw"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created"], GONE);
    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "run_command", "selector": "all", "command": "true",
                   "concurrency": 1000}),
        )
        .await;
    let id = task["id"].as_str().unwrap();

    let (stdout, _) = succeeds(&app, &["tasks", "show", id]).await;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5 + 1 + 20 + 1, "{stdout}");
    assert_eq!(lines[2], "command: true");
    assert_eq!(lines[3], "selector: all");
    assert_eq!(lines[4], "1001 targets: 1 succeeded, 1000 failed");
    assert_eq!(
        lines[5],
        "failed: 1000 connection failed: Connection refused (os error 111)"
    );
    for (n, line) in lines[6..26].iter().enumerate() {
        assert!(
            line.starts_with(&format!("gone-{n:04}: failed, connection failed: ")),
            "{line}"
        );
    }
    assert_eq!(
        lines[26],
        "... and 980 more not simply succeeded (--all lists them)"
    );
    assert!(!stdout.contains("web1"), "{stdout}");

    let (stdout, _) = succeeds(&app, &["tasks", "show", id, "--all"]).await;
    assert_eq!(stdout.lines().count(), 6 + GONE, "{stdout}");
}

#[tokio::test]
async fn audit_list_reads_the_servers_log_with_its_filters() {
    let app = TestApp::start().await;
    let alice = app
        .add_key(
            "alice",
            &ClientKey::generate(KeyKind::Ed25519, None).public_line,
        )
        .await;
    app.add_key(
        "bob",
        &ClientKey::generate(KeyKind::Ed25519, None).public_line,
    )
    .await;
    let web1 = unreachable(&app, "web1", &[]).await;

    let (stdout, _) = succeeds(&app, &["audit", "list", "--action", "key.create"]).await;
    let table = rows(&stdout);
    assert_eq!(
        table[0],
        ["TIME", "ACTOR", "ACTION", "OUTCOME", "TARGET", "DETAILS"]
    );
    assert_eq!(table.len(), 3, "{stdout}");
    assert_eq!(table[1][1..4], ["admin", "key.create", "success"]);
    assert!(table[1][5].contains(r#""name":"bob""#), "{stdout}");
    assert_eq!(table[2][4], format!("key:{alice}"));
    // Part of an action or an actor, case ignored: both key.create events, only they.
    let (stdout, _) = succeeds(
        &app,
        &[
            "audit",
            "list",
            "--action-contains",
            "KEY.CR",
            "--actor-contains",
            "adm",
        ],
    )
    .await;
    assert_eq!(rows(&stdout)[1..], table[1..], "{stdout}");

    // By key (a prefix of its name) and by platform, as JSON.
    let (stdout, _) = succeeds(&app, &["audit", "list", "--key", "ali", "--output", "json"]).await;
    let events = json_of(&stdout);
    let events = events.as_array().unwrap();
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e["target"] == format!("key:{alice}")),
        "{stdout}"
    );
    let (stdout, _) = succeeds(
        &app,
        &["audit", "list", "--platform", "web1", "--output", "json"],
    )
    .await;
    let events = json_of(&stdout);
    assert_eq!(events[0]["action"], "platform.create");
    assert_eq!(events[0]["target"], format!("platform:{web1}"));

    // Time windows: an age or an RFC 3339 time; anything else is a usage error.
    let (stdout, _) = succeeds(&app, &["audit", "list", "--since", "1h"]).await;
    assert!(rows(&stdout).len() > 3, "{stdout}");
    let (stdout, _) = succeeds(&app, &["audit", "list", "--until", "2000-01-01T00:00:00Z"]).await;
    assert_eq!(rows(&stdout).len(), 1, "{stdout}");
    let stderr = fails(&app, &["audit", "list", "--since", "yesterday"], 2).await;
    assert_eq!(
        stderr,
        "testum: --since \"yesterday\": give an RFC 3339 time (2026-11-29T10:00:00Z) or an age \
         (90m, 12h, 7d)\n"
    );
    let (stdout, _) = succeeds(&app, &["audit", "list", "--actor", "nobody"]).await;
    assert_eq!(rows(&stdout).len(), 1, "{stdout}");

    // Pages: one at a time, or every page streamed as one JSON array.
    let (stdout, stderr) = succeeds(&app, &["audit", "list", "--limit", "1"]).await;
    assert_eq!(rows(&stdout).len(), 2, "{stdout}");
    assert!(
        stderr.starts_with("testum: more: add --cursor "),
        "{stderr}"
    );
    let total = app.get("/api/audit?limit=500").await["items"]
        .as_array()
        .unwrap()
        .len();
    let (stdout, _) = succeeds(
        &app,
        &["audit", "list", "--all", "--limit", "2", "--output", "json"],
    )
    .await;
    assert_eq!(json_of(&stdout).as_array().unwrap().len(), total);
    fails(
        &app,
        &["audit", "list", "--key", "bob", "--platform", "web1"],
        2,
    )
    .await;
}

#[tokio::test]
async fn host_key_trust_clears_or_sets_the_pin() {
    const OLD: &str = "SHA256:OLaMx82lTcvsGhE5yId6Q0xc2SU0926BUfgP79C7SPk";
    const NEW: &str = "SHA256:HtLPi16AKcDeCT6+mxqpbA5K4FD4FCWwxGnhd1PVfeQ";
    let app = TestApp::start().await;
    let (status, body) = app
        .post(
            "/api/platforms",
            json!({"name": "web1", "host": "127.0.0.1", "port": closed_port(),
                   "username": "nobody", "auth_method": "password", "password": "pw",
                   "host_key_fingerprint": OLD, "host_key_type": "ssh-ed25519"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap();

    let (stdout, _) = succeeds(&app, &["host-key", "trust", "web1"]).await;
    assert_eq!(
        stdout,
        format!(
            "web1: host key pin cleared (was ssh-ed25519 {OLD}); the next connection pins the \
             key it sees\n"
        )
    );
    assert_eq!(
        app.get(&format!("/api/platforms/{id}")).await["host_key_fingerprint"],
        Value::Null
    );
    // Trust takes the whole name (a review cleared `clone1`'s pin with `trust clone`).
    let stderr = fails(&app, &["host-key", "trust", "web"], 2).await;
    assert!(stderr.contains("takes whole names"), "{stderr}");
    let (stdout, stderr) = succeeds(
        &app,
        &[
            "host-key",
            "trust",
            "web1",
            "--fingerprint",
            NEW,
            "--type",
            "ssh-ed25519",
        ],
    )
    .await;
    assert_eq!(
        stdout,
        format!("web1: host key pinned to ssh-ed25519 {NEW} (was none)\n")
    );
    assert_eq!(stderr, "");
    assert_eq!(
        app.get(&format!("/api/platforms/{id}")).await["host_key_fingerprint"],
        NEW
    );
    let events = app.get(&format!("/api/audit?target=platform:{id}")).await;
    assert!(
        events["items"][0]["details"].to_string().contains(NEW),
        "{events}"
    );

    // The server names a bad fingerprint (exit 1); a fingerprint without its type is clap's.
    let stderr = fails(
        &app,
        &[
            "host-key",
            "trust",
            "web1",
            "--fingerprint",
            "SHA256:short",
            "--type",
            "ssh-ed25519",
        ],
        1,
    )
    .await;
    assert!(
        stderr.starts_with("testum: host_key_fingerprint: must be a SHA256 fingerprint"),
        "{stderr}"
    );
    fails(
        &app,
        &["host-key", "trust", "web1", "--fingerprint", NEW],
        2,
    )
    .await;
    fails(&app, &["host-key", "trust", "nosuch"], 2).await;
}
