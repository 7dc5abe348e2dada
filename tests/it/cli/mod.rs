//! The command-line client end to end: the real `testum` binary as a client of a real service
//! (in-process TestApp) whose platforms are real OpenSSH servers on loopback. The daily-work
//! commands (tasks, audit list, host-key, platforms edit/delete, keys delete, names by prefix)
//! are in [`daily`].

mod daily;

use crate::app;
use crate::common;

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use app::{ADMIN_PASSWORD, TestApp};
use common::{ClientKey, KeyKind, TestHost, closed_port};
use reqwest::StatusCode;
use serde_json::json;

/// Run `testum ARGS` with only `env` in its environment (plus HOME and XDG_CONFIG_HOME in
/// `config`), `stdin` as its input; off the runtime's thread, so the in-process server keeps
/// answering meanwhile.
async fn testum(config: &Path, env: &[(&str, &str)], args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_testum"));
    command
        .env_clear()
        .env("HOME", config)
        .env("XDG_CONFIG_HOME", config)
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let stdin = stdin.to_string();
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("start testum");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().expect("wait for testum")
    })
    .await
    .unwrap()
}

/// `testum ARGS` as the admin of `app` through `TESTUM_URL` and `TESTUM_TOKEN`.
async fn as_admin(app: &TestApp, args: &[&str]) -> Output {
    let config = tempfile::tempdir().unwrap();
    testum(
        config.path(),
        &[("TESTUM_URL", &app.base), ("TESTUM_TOKEN", &app.token)],
        args,
        "",
    )
    .await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Register `host` as password platform `name` with `tags`; its id.
async fn add_platform(app: &TestApp, host: &TestHost, name: &str, tags: &[&str]) -> String {
    let (status, body) = app
        .post(
            "/api/platforms",
            json!({"name": name, "host": "127.0.0.1", "port": host.sshd.port(),
                   "username": host.user.name, "auth_method": "password",
                   "password": host.user.password, "tags": tags}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn run_prints_each_platforms_lines_prefixed_and_exits_zero() {
    let (one, two) = (TestHost::start(), TestHost::start());
    let app = TestApp::start().await;
    add_platform(&app, &one, "web1", &["t"]).await;
    add_platform(&app, &two, "web2", &["t"]).await;

    let out = as_admin(
        &app,
        &[
            "run",
            "--tag",
            "t",
            "--",
            "sh",
            "-c",
            "echo hi; echo err >&2",
        ],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let mut lines: Vec<&str> = stdout.lines().collect();
    lines.sort();
    assert_eq!(lines, ["web1 | hi", "web2 | hi"], "{stdout}");
    for expected in [
        "web1 | err",
        "web2 | err",
        "web1: succeeded, exit status 0",
        "web2: succeeded, exit status 0",
    ] {
        assert!(
            stderr.lines().any(|l| l == expected),
            "{expected:?} in {stderr}"
        );
    }
}

#[tokio::test]
async fn a_command_failing_on_one_platform_exits_non_zero() {
    let (one, two) = (TestHost::start(), TestHost::start());
    let app = TestApp::start().await;
    add_platform(&app, &one, "web1", &[]).await;
    add_platform(&app, &two, "web2", &[]).await;

    // Succeeds only as web1's user.
    let check = format!("test \"$(id -un)\" = {}", one.user.name);
    let out = as_admin(
        &app,
        &[
            "run",
            "--platform",
            "web1",
            "--platform",
            "web2",
            "--",
            &check,
        ],
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("web1: succeeded, exit status 0"),
        "{stderr}"
    );
    assert!(stderr.contains("web2: failed, exit status 1"), "{stderr}");
    // The run ends with the counts, so a long one says how it went at its last line.
    assert_eq!(
        stderr.lines().last(),
        Some("2 targets: 1 succeeded, 1 failed"),
        "{stderr}"
    );
}

#[tokio::test]
async fn run_prints_a_targets_warnings_after_its_summary_not_in_its_output() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    add_platform(&app, &host, "original", &[]).await;
    let out = as_admin(&app, &["run", "--platform", "original", "--", "true"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    // The same server again (another file of the same login): its host key is pinned already.
    let (status, body) = app
        .post(
            "/api/platforms",
            json!({"name": "clone", "host": "127.0.0.1", "port": host.sshd.port(),
                   "username": host.user.name, "auth_method": "password",
                   "password": host.user.password,
                   "authorized_keys_path": ".ssh/authorized_keys2"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let out = as_admin(
        &app,
        &["run", "--platform", "clone", "--", "echo hi; echo err >&2"],
    )
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert_eq!(stdout, "clone | hi\n");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    assert_eq!(lines[0], "clone | err", "{stderr}");
    assert_eq!(lines[1], "clone: succeeded, exit status 0", "{stderr}");
    assert!(
        lines[2].starts_with("clone: warning: host key SHA256:")
            && lines[2].contains("is also pinned by original"),
        "{stderr}"
    );
}

#[tokio::test]
async fn keys_add_from_stdin_then_list_shows_them() {
    let app = TestApp::start().await;
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    let config = tempfile::tempdir().unwrap();
    let env = [
        ("TESTUM_URL", app.base.as_str()),
        ("TESTUM_TOKEN", &app.token),
    ];

    let added = testum(
        config.path(),
        &env,
        &["keys", "add", "--name", "alice", "-"],
        &key.public_line,
    )
    .await;
    assert_eq!(added.status.code(), Some(0), "{}", text(&added.stderr));
    let listed = as_admin(&app, &["keys", "list"]).await;
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed.stderr));
    let listing = text(&listed.stdout);
    let fingerprint = app.get("/api/keys").await["items"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("alice ") && l.contains(&fingerprint)),
        "{listing}"
    );

    // A refused key: one line naming the field, exit status 1.
    let refused = testum(
        config.path(),
        &env,
        &["keys", "add", "--name", "bob", "-"],
        "not a key",
    )
    .await;
    let stderr = text(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("testum: public_key: "), "{stderr}");
}

#[tokio::test]
async fn login_saves_a_private_session_that_later_commands_use() {
    let app = TestApp::start().await;
    let config = tempfile::tempdir().unwrap();

    let wrong = testum(
        config.path(),
        &[("TESTUM_PASSWORD", "wrong")],
        &["login", "--url", &app.base, "--username", "admin"],
        "",
    )
    .await;
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong.stderr));
    // It says what was wrong, not "run testum login".
    assert_eq!(
        text(&wrong.stderr),
        format!(
            "testum: wrong username or password for admin at {} (HTTP 401)\n",
            app.base
        )
    );
    assert!(!config.path().join("testum/session.json").exists());

    let login = testum(
        config.path(),
        &[("TESTUM_PASSWORD", ADMIN_PASSWORD)],
        &["login", "--url", &app.base, "--username", "admin"],
        "",
    )
    .await;
    assert_eq!(login.status.code(), Some(0), "{}", text(&login.stderr));
    let session = config.path().join("testum/session.json");
    let mode = std::fs::metadata(&session).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&session).unwrap()).unwrap();
    assert_eq!(saved["url"], app.base.as_str());
    assert_eq!(saved["username"], "admin");

    // No URL or token in the environment: the saved session is used.
    let listed = testum(config.path(), &[], &["platforms", "list"], "").await;
    assert_eq!(listed.status.code(), Some(0), "{}", text(&listed.stderr));
    assert!(text(&listed.stdout).starts_with("NAME"));
}

#[tokio::test]
async fn usage_errors_exit_two() {
    let app = TestApp::start().await;
    // No platform chosen (clap).
    let out = as_admin(&app, &["run", "--", "true"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // A name that matches nothing.
    let out = as_admin(&app, &["run", "--platform", "nosuch", "--", "true"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).trim(),
        "testum: --platform: no platform named \"nosuch\""
    );
}

#[tokio::test]
async fn deploy_by_name_puts_the_key_on_the_host() {
    let (host, app, key) = web1_and_alice().await;

    let out = as_admin(&app, &["deploy", "--platform", "web1", "--key", "alice"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        text(&out.stdout).starts_with("web1 | "),
        "{}",
        text(&out.stdout)
    );
    assert!(stderr.contains("web1: succeeded"), "{stderr}");
    assert!(
        host.ssh_login_works(&key),
        "the deployed key does not log in"
    );
}

/// Two keys may share a name (an import names keys after their comments): `--key NAME` then
/// refuses to guess and lists the fingerprints; a fingerprint picks the one meant.
#[tokio::test]
async fn an_ambiguous_key_name_is_refused_and_a_fingerprint_picks_one() {
    let (host, app, alice) = web1_and_alice().await;
    let other = ClientKey::generate(KeyKind::Ed25519, None);
    let other_id = app.add_key("alice", &other.public_line).await;

    let out = as_admin(&app, &["deploy", "--platform", "web1", "--key", "alice"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("2 keys are named \"alice\""), "{stderr}");
    assert!(!host.ssh_login_works(&alice), "a key was deployed anyway");

    let keys = app.get("/api/keys").await;
    let fingerprint = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == other_id.as_str())
        .unwrap()["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let out = as_admin(
        &app,
        &["deploy", "--platform", "web1", "--key", &fingerprint],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(host.ssh_login_works(&other));
    assert!(!host.ssh_login_works(&alice));
}

/// `testum platforms list | head -0`: the CLI ends by SIGPIPE like other tools, without a panic
/// and its backtrace.
#[tokio::test]
async fn a_closed_pipe_ends_the_cli_quietly() {
    use std::os::unix::process::ExitStatusExt as _;
    let app = TestApp::start().await;
    let config = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_testum"));
    command
        .env_clear()
        .env("HOME", config.path())
        .env("TESTUM_URL", &app.base)
        .env("TESTUM_TOKEN", &app.token)
        .args(["keys", "list"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("start testum");
        drop(child.stdout.take()); // the reader is gone before the first line
        child.wait_with_output().expect("wait for testum")
    })
    .await
    .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.signal(),
        Some(signal_hook::consts::SIGPIPE),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Append `line` outside testum's block of `host`'s authorized_keys (a key added by hand).
fn add_by_hand(host: &TestHost, line: &str) {
    let path = ".ssh/authorized_keys";
    let mut file = if host.user.path(path).exists() {
        host.user.read_file(path)
    } else {
        Vec::new()
    };
    file.extend_from_slice(format!("{line}\n").as_bytes());
    host.user.write_file(path, &file, 0o600);
}

#[tokio::test]
async fn scan_prints_counts_by_state_then_only_the_platforms_not_in_sync() {
    let (one, two) = (TestHost::start(), TestHost::start());
    let app = TestApp::start().await;
    add_platform(&app, &one, "web1", &["fleet"]).await;
    add_platform(&app, &two, "web2", &["fleet"]).await;
    let (status, body) = app
        .post(
            "/api/platforms",
            json!({"name": "gone", "host": "127.0.0.1", "port": closed_port(),
                   "username": "nobody", "auth_method": "password", "password": "pw",
                   "tags": ["fleet"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    app.add_key("alice", &key.public_line).await;
    let out = as_admin(&app, &["deploy", "--tag", "fleet", "--key", "alice"]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "gone fails: {}",
        text(&out.stderr)
    );
    let stranger = ClientKey::generate(KeyKind::Ed25519, None);
    add_by_hand(&two, &stranger.public_line);

    // One platform unreachable: exit 1; the healthy one is only counted.
    let out = as_admin(&app, &["scan", "--tag", "fleet"]).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[0], "3 platforms: 1 in_sync, 1 drift, 1 unreachable");
    assert!(
        lines[1].starts_with("gone: unreachable (scan failed): "),
        "{stdout}"
    );
    assert_eq!(lines[2], "web2: drift: 1 unmanaged_key");
    assert!(!stdout.contains("web1"), "{stdout}");

    // Every target scanned: exit 0 (drift is a finding, not a failed scan).
    let out = as_admin(&app, &["scan", "--platform", "web1", "web2"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        stdout,
        "2 platforms: 1 in_sync, 1 drift\nweb2: drift: 1 unmanaged_key\n"
    );

    // A tag nothing has: a one-line usage error.
    let out = as_admin(&app, &["scan", "--tag", "nosuch"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "testum: --tag: no platform has tag \"nosuch\"\n"
    );
}

#[tokio::test]
async fn access_lists_who_can_log_in_where_with_unknown_keys_and_csv() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    add_platform(&app, &host, "web1", &["eu"]).await;
    let alice = ClientKey::generate(KeyKind::Ed25519, None);
    let (status, body) = app
        .post(
            "/api/keys",
            json!({"name": "alice-laptop", "public_key": alice.public_line, "owner": "alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let out = as_admin(
        &app,
        &["deploy", "--platform", "web1", "--key", "alice-laptop"],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stranger = ClientKey::generate(KeyKind::Ed25519, None);
    add_by_hand(
        &host,
        &format!("{} stranger@somewhere", stranger.public_line),
    );
    let out = as_admin(&app, &["scan", "--platform", "web1"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let entries = app.get("/api/access").await;
    let fingerprint_of = |name: &str| {
        entries["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key_name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {entries}"))["fingerprint"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (alice_fp, stranger_fp) = (fingerprint_of("alice-laptop"), fingerprint_of("unknown"));
    let user = host.user.name.as_str();

    let out = as_admin(&app, &["access"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "PLATFORM",
            "USER",
            "LINE",
            "KEY",
            "OWNER",
            "MANAGED",
            "FINGERPRINT"
        ]
    );
    assert_eq!(rows.len(), 3, "{stdout}");
    assert!(
        rows.contains(&vec![
            "web1",
            user,
            "2",
            "alice-laptop",
            "alice",
            "yes",
            &alice_fp
        ]),
        "{stdout}"
    );
    let unknown = rows.iter().find(|r| r[3] == "unknown").expect(&stdout);
    assert_eq!(unknown[4..], ["-", "no", stranger_fp.as_str()], "{stdout}");

    // Filters: only the unknown key; only alice's; a platform and a tag by name.
    let out = as_admin(&app, &["access", "--unknown"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains(&stranger_fp), "{stdout}");
    let out = as_admin(&app, &["access", "--owner", "alice", "--managed"]).await;
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains(&alice_fp), "{stdout}");
    let out = as_admin(
        &app,
        &["access", "--platform", "web1", "--tag", "eu", "--unmanaged"],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains(&stranger_fp), "{stdout}");
    let out = as_admin(&app, &["access", "--key", "alice-laptop"]).await;
    assert!(text(&out.stdout).contains(&alice_fp));
    assert!(!text(&out.stdout).contains(&stranger_fp));

    // --output json: the server's rows, every field.
    let out = as_admin(&app, &["access", "--unknown", "--output", "json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["fingerprint"], stranger_fp.as_str());
    assert_eq!(rows[0]["managed"], false);

    // --csv: the server's CSV as is, with the filters.
    let out = as_admin(&app, &["access", "--csv", "--unknown"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let (status, _, csv) = app.get_text("/api/access?format=csv&unknown=true").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text(&out.stdout), csv);
    assert!(csv.starts_with("platform_id,platform_name,"), "{csv}");
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(
        csv.contains(&stranger_fp) && csv.contains("stranger@somewhere"),
        "{csv}"
    );

    // Errors: one line each; a name that matches nothing, and contradicting flags.
    let out = as_admin(&app, &["access", "--platform", "nosuch"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "testum: --platform: no platform named \"nosuch\"\n"
    );
    let out = as_admin(&app, &["access", "--key", "nosuch"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "testum: --key: no key named \"nosuch\"\n"
    );
    let out = as_admin(&app, &["access", "--managed", "--unmanaged"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // A token the server refuses: one line with the status.
    let config = tempfile::tempdir().unwrap();
    let out = testum(
        config.path(),
        &[
            ("TESTUM_URL", &app.base),
            ("TESTUM_TOKEN", "tsm_not-a-token"),
        ],
        &["access"],
        "",
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("testum: ") && stderr.contains("HTTP 401: the API token was refused"),
        "{stderr}"
    );
}

/// A server with one platform, `web1`, and one key, `alice` (not deployed).
async fn web1_and_alice() -> (TestHost, TestApp, ClientKey) {
    let host = TestHost::start();
    let app = TestApp::start().await;
    add_platform(&app, &host, "web1", &[]).await;
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    app.add_key("alice", &key.public_line).await;
    (host, app, key)
}

/// A server with two platforms tagged `t`, `web1` and `db1`; db1's id.
async fn web1_and_db1() -> (TestHost, TestHost, TestApp, String) {
    let (one, two) = (TestHost::start(), TestHost::start());
    let app = TestApp::start().await;
    add_platform(&app, &one, "web1", &["t"]).await;
    let db = add_platform(&app, &two, "db1", &["t"]).await;
    (one, two, app, db)
}

/// Fresh Ed25519 client keys, registered with these (name, owner).
async fn owned_keys<const N: usize>(app: &TestApp, keys: [(&str, &str); N]) -> [ClientKey; N] {
    let generated = std::array::from_fn(|_| ClientKey::generate(KeyKind::Ed25519, None));
    for ((name, owner), key) in keys.iter().zip(&generated) {
        app.add_owned_key(name, owner, &key.public_line).await;
    }
    generated
}

/// Run `testum ARGS` as the admin and expect exit status 0; its (stdout, stderr).
pub(crate) async fn succeeds(app: &TestApp, args: &[&str]) -> (String, String) {
    let out = as_admin(app, args).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{args:?}\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// The user's authorized_keys, empty when there is none.
fn authorized_keys(host: &TestHost) -> String {
    match std::fs::read(host.user.path(".ssh/authorized_keys")) {
        Ok(bytes) => text(&bytes),
        Err(_) => String::new(),
    }
}

#[tokio::test]
async fn deploy_with_options_writes_them_and_sshd_enforces_them() {
    let (host, app, key) = web1_and_alice().await;
    let deploy = |from: &'static str| {
        let from = format!(r#"from="{from}""#);
        let app = &app;
        async move {
            let args = [
                "deploy",
                "--key",
                "alice",
                "--platform",
                "web1",
                "--option",
                &from,
                "--option",
                "restrict",
                "--option",
                r#"command="/bin/echo backup""#,
            ];
            succeeds(app, &args).await
        }
    };

    // A source list without 127.0.0.1: sshd refuses the key from here.
    let (_, stderr) = deploy("10.0.0.0/8").await;
    assert!(stderr.contains("web1: succeeded"), "{stderr}");
    let file = authorized_keys(&host);
    assert!(
        file.lines().any(|l| l
            .starts_with(r#"restrict,from="10.0.0.0/8",command="/bin/echo backup" ssh-ed25519 "#)),
        "{file}"
    );
    assert!(
        !host.ssh_login_works(&key),
        "from= did not keep 127.0.0.1 out"
    );

    // Allowed from here: the forced command runs whatever the client asks for.
    deploy("127.0.0.1/32").await;
    let login = host.ssh(&key, "id");
    assert!(login.status.success(), "{}", text(&login.stderr));
    assert_eq!(text(&login.stdout), "backup\n");
}

#[tokio::test]
async fn a_dry_run_shows_only_what_would_change_and_writes_nothing() {
    let (one, two, three) = (TestHost::start(), TestHost::start(), TestHost::start());
    let app = TestApp::start().await;
    add_platform(&app, &one, "web1", &["t"]).await;
    add_platform(&app, &two, "web2", &["t"]).await;
    add_platform(&app, &three, "web3", &["t"]).await;
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    app.add_key("alice", &key.public_line).await;
    succeeds(&app, &["deploy", "--key", "alice", "--platform", "web1"]).await;
    succeeds(&app, &["deploy", "--key", "alice", "--platform", "web3"]).await;
    let before = authorized_keys(&two);

    let (stdout, stderr) = succeeds(
        &app,
        &["deploy", "--key", "alice", "--tag", "t", "--dry-run"],
    )
    .await;
    // Only web2 would change: its diff, prefixed, and one line counting the others.
    assert!(stdout.lines().all(|l| l.starts_with("web2 | ")), "{stdout}");
    assert!(stdout.contains("web2 | --- a/"), "{stdout}");
    let key_body = key.public_line.split(' ').nth(1).unwrap();
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("web2 | +ssh-ed25519 ") && l.contains(key_body)),
        "{stdout}"
    );
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        ["web2: succeeded, would change", "2 targets: no change"],
        "{stderr}"
    );
    assert_eq!(authorized_keys(&two), before, "a dry run wrote the file");
    assert!(!two.ssh_login_works(&key));

    // A dry run of a revoke previews the removal and keeps the key in.
    let (stdout, stderr) = succeeds(
        &app,
        &[
            "revoke",
            "--key",
            "alice",
            "--platform",
            "web1",
            "--dry-run",
        ],
    )
    .await;
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("web1 | -ssh-ed25519 ") && l.contains(key_body)),
        "{stdout}"
    );
    assert_eq!(stderr.trim(), "web1: succeeded, would change");
    assert!(one.ssh_login_works(&key));
}

#[tokio::test]
async fn revoke_by_key_and_by_owner_keeps_the_keys_out() {
    let (one, two, app, _) = web1_and_db1().await;
    let [laptop, desktop, bobs] = owned_keys(
        &app,
        [
            ("alice-laptop", "alice"),
            ("alice-desktop", "alice"),
            ("bob", "bob"),
        ],
    )
    .await;
    succeeds(
        &app,
        &[
            "deploy",
            "--tag",
            "t",
            "--key",
            "alice-laptop",
            "alice-desktop",
            "bob",
        ],
    )
    .await;
    for key in [&laptop, &desktop, &bobs] {
        assert!(one.ssh_login_works(key) && two.ssh_login_works(key));
    }

    // One key off one platform.
    succeeds(&app, &["revoke", "--key", "bob", "--platform", "db1"]).await;
    assert!(!two.ssh_login_works(&bobs));
    assert!(one.ssh_login_works(&bobs));

    // Offboarding: every key of alice, everywhere; bob keeps his.
    let (_, stderr) = succeeds(&app, &["revoke", "--owner", "alice"]).await;
    assert!(
        stderr.contains("web1: succeeded") && stderr.contains("db1: succeeded"),
        "{stderr}"
    );
    for key in [&laptop, &desktop] {
        assert!(!one.ssh_login_works(key), "alice still logs in to web1");
        assert!(!two.ssh_login_works(key), "alice still logs in to db1");
    }
    assert!(one.ssh_login_works(&bobs));
}

#[tokio::test]
async fn keys_replace_swaps_the_key_and_names_where_the_old_one_is_left() {
    let (one, two, app, db) = web1_and_db1().await;
    let [old, new, newer] = owned_keys(
        &app,
        [
            ("alice-2025", "alice"),
            ("alice-2026", "alice"),
            ("alice-2027", "alice"),
        ],
    )
    .await;
    succeeds(&app, &["deploy", "--tag", "t", "--key", "alice-2025"]).await;

    let (_, stderr) = succeeds(&app, &["keys", "replace", "alice-2025", "alice-2026"]).await;
    assert_eq!(
        stderr.lines().last(),
        Some("the old key alice-2025 is gone from every platform"),
        "{stderr}"
    );
    for host in [&one, &two] {
        assert!(!host.ssh_login_works(&old), "the old key still logs in");
        assert!(host.ssh_login_works(&new), "the new key does not log in");
    }

    // db1 unreachable: the old key stays there, and the command says so.
    let (status, body) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/platforms/{db}"),
            Some(json!({"port": closed_port()})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let out = as_admin(&app, &["keys", "replace", "alice-2026", "alice-2027"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("db1: failed"), "{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some("the old key alice-2026 is still on: db1"),
        "{stderr}"
    );
    assert!(one.ssh_login_works(&newer) && !one.ssh_login_works(&new));
    assert!(
        two.ssh_login_works(&new),
        "db1 was not reached, so nothing changed there"
    );
}

#[tokio::test]
async fn bad_options_and_names_are_one_line_usage_errors_and_queue_nothing() {
    let (host, app, _) = web1_and_alice().await;

    let cases: [(&[&str], &str); 6] = [
        (
            &[
                "deploy",
                "--key",
                "alice",
                "--platform",
                "web1",
                "--option",
                "no-shell",
            ],
            r#"testum: --option no-shell: unknown option "no-shell" (sshd ignores a line with an unknown option)"#,
        ),
        (
            &[
                "deploy",
                "--key",
                "alice",
                "--platform",
                "web1",
                "--option",
                r#"from="10.0.0.1/8""#,
            ],
            "testum: --option from: entry 1: the address has bits set beyond the prefix length \
             (sshd refuses every source)",
        ),
        (
            &["deploy", "--key", "nobody", "--platform", "web1"],
            r#"testum: --key: no key named "nobody""#,
        ),
        (
            &["revoke", "--key", "nobody", "--platform", "web1"],
            r#"testum: --key: no key named "nobody""#,
        ),
        (
            &["keys", "replace", "alice", "nobody"],
            r#"testum: keys replace: no key named "nobody""#,
        ),
        (
            &["keys", "replace", "alice", "alice"],
            r#"testum: keys replace: OLD and NEW are both "alice""#,
        ),
    ];
    for (args, expected) in cases {
        let out = as_admin(&app, args).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end(), expected, "{args:?}");
    }
    // A key without a platform is clap's usage error.
    let out = as_admin(&app, &["revoke", "--key", "alice"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // The server refuses an owner without keys: its field, exit status 1.
    let out = as_admin(&app, &["revoke", "--owner", "nobody"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).trim_end(),
        r#"testum: owner: no registered key has the owner "nobody" (HTTP 422)"#
    );
    assert_eq!(
        app.get("/api/tasks").await["items"],
        json!([]),
        "a task was queued"
    );
    assert_eq!(authorized_keys(&host), "");
}

#[tokio::test]
async fn schedules_are_created_listed_changed_and_deleted_by_name() {
    let app = TestApp::start().await;
    let (out, _) = succeeds(
        &app,
        &[
            "schedules",
            "create",
            "--name",
            "nightly-scan",
            "--cron",
            "0 2 * * *",
            "--time-zone",
            "Europe/Berlin",
            "--kind",
            "scan",
            "--selector",
            "all",
        ],
    )
    .await;
    assert!(
        out.starts_with(
            "created schedule nightly-scan (0 2 * * * Europe/Berlin, scan of all); next firing 20"
        ),
        "{out}"
    );
    let (out, _) = succeeds(&app, &["schedules", "list"]).await;
    assert!(out.lines().next().unwrap().starts_with("NAME"), "{out}");
    assert!(
        out.contains("nightly-scan") && out.contains("daily-sync"),
        "{out}"
    );
    let (out, _) = succeeds(&app, &["schedules", "list", "--output", "json"]).await;
    let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let scan = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "nightly-scan")
        .expect(&out);
    assert_eq!(scan["time_zone"], "Europe/Berlin");
    let (out, _) = succeeds(&app, &["schedules", "disable", "nightly-scan"]).await;
    assert!(out.contains("next firing none (disabled)"), "{out}");
    let (out, _) = succeeds(&app, &["schedules", "enable", "nightly-scan"]).await;
    assert!(out.starts_with("enabled schedule nightly-scan"), "{out}");
    let (out, _) = succeeds(
        &app,
        &[
            "schedules",
            "update",
            "nightly-scan",
            "--cron",
            "30 2 * * *",
        ],
    )
    .await;
    assert!(out.contains("(30 2 * * * Europe/Berlin"), "{out}");
    let (out, _) = succeeds(&app, &["schedules", "show", "nightly-scan"]).await;
    let shown: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["cron"], "30 2 * * *");
    // A bad cron expression is the server's 422, naming the field, exit 1.
    let bad = as_admin(
        &app,
        &[
            "schedules",
            "update",
            "nightly-scan",
            "--cron",
            "every night",
        ],
    )
    .await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("cron"), "{}", text(&bad.stderr));
    let missing = as_admin(&app, &["schedules", "delete", "no-such"]).await;
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing.stderr));
    let (out, _) = succeeds(&app, &["schedules", "delete", "nightly-scan"]).await;
    assert_eq!(out.trim(), "deleted schedule nightly-scan");
    let (out, _) = succeeds(&app, &["schedules", "list"]).await;
    assert!(!out.contains("nightly-scan"), "{out}");
}

#[tokio::test]
async fn selectors_choose_the_platforms_of_run_and_platforms_list() {
    let (one, two) = (TestHost::start(), TestHost::start());
    let app = TestApp::start().await;
    add_platform(&app, &one, "web1", &["web", "env=prod"]).await;
    add_platform(&app, &two, "web2", &["web", "env=staging"]).await;

    let (stdout, _) = succeeds(
        &app,
        &[
            "run",
            "--selector",
            "tag:web and not env=staging",
            "--",
            "echo hi",
        ],
    )
    .await;
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["web1 | hi"]);
    let task = &app.get("/api/tasks").await["items"][0];
    assert_eq!(task["selector"], "tag:web and not tag:env=staging");

    let (stdout, _) = succeeds(&app, &["platforms", "list", "--selector", "name:*2"]).await;
    let names: Vec<&str> = stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["web2"], "{stdout}");

    // A syntax error is one line, exit status 2, before anything is asked of the server.
    for args in [
        &["scan", "--selector", "tag:web and"][..],
        &["platforms", "list", "--selector", "tag:web and"][..],
    ] {
        let out = as_admin(&app, args).await;
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        assert_eq!(
            text(&out.stderr).trim_end(),
            r#"testum: --selector "tag:web and": at position 12: expected a selector after 'and'"#
        );
    }
    // The server refuses a selector that matches nothing: its field, exit status 1.
    let out = as_admin(&app, &["scan", "--selector", "env=dev"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr).trim_end(),
        "testum: selector: matches no platform: tag:env=dev (HTTP 422)"
    );
    // --selector and --platform do not mix.
    let out = as_admin(&app, &["scan", "--selector", "all", "--platform", "web1"]).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        app.get("/api/tasks").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
