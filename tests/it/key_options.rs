//! Per-assignment authorized_keys options and dry runs, end to end through the HTTP API against
//! real OpenSSH servers: sshd itself proves that options mean what was asked (`from=` decides a
//! real login, `command=` is forced, quoting survives), and a dry run leaves the host untouched.

use crate::app;
use crate::common;

use std::os::unix::fs::MetadataExt as _;

use app::TestApp;
use common::{ClientKey, KeyKind, TestHost};
use reqwest::StatusCode;
use serde_json::{Value, json};

const BEGIN: &str = "# BEGIN testum managed keys - do not edit";

async fn add_platform(app: &TestApp, host: &TestHost, name: &str) -> String {
    app.add_password_platform(name, host.sshd.port(), &host.user.name, &host.user.password)
        .await
}

/// Deploy `key` to `platform` with `options` (left out when `Null`); the finished task.
async fn deploy(app: &TestApp, platform: &str, key: &str, options: Value) -> Value {
    let mut body = json!({"key_ids": [key]});
    if !options.is_null() {
        body["options"] = json!({ key: options });
    }
    let task = app
        .run_task(&format!("/api/platforms/{platform}/deploy_keys"), body)
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    task
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

/// The lines of the managed block (without markers).
fn managed_lines(file: &str) -> Vec<&str> {
    file.lines()
        .skip_while(|l| *l != BEGIN)
        .skip(1)
        .take_while(|l| !l.starts_with("# END testum"))
        .collect()
}

/// stdout of the real `ssh` client running `command` with `key`.
fn ssh_stdout(host: &TestHost, key: &ClientKey, command: &str) -> String {
    let out = host.ssh(key, command);
    assert!(
        out.status.success(),
        "ssh failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text(out.stdout)
}

#[tokio::test]
async fn from_decides_real_logins_and_a_change_rewrites_that_one_line() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host, "web1").await;
    let other = ClientKey::generate(KeyKind::Ed25519, None);
    let client = ClientKey::generate(KeyKind::Ed25519, None);
    let other_key = app.add_key("other", &other.public_line).await;
    let key = app.add_key("alice", &client.public_line).await;
    deploy(&app, &platform, &other_key, Value::Null).await;

    // A source list that excludes 127.0.0.1: sshd refuses the key.
    deploy(
        &app,
        &platform,
        &key,
        json!({"from": "10.0.0.0/8,!10.0.0.5"}),
    )
    .await;
    assert!(
        !host.ssh_login_works(&client),
        "from= did not keep 127.0.0.1 out"
    );
    assert!(host.ssh_login_works(&other));
    let before = text(host.user.read_file(".ssh/authorized_keys"));
    let key_body = client.public_line.split(' ').nth(1).unwrap();
    assert_eq!(managed_lines(&before).len(), 2, "{before}");
    assert!(
        managed_lines(&before)[1].starts_with(r#"from="10.0.0.0/8,!10.0.0.5" ssh-ed25519 "#),
        "{before}"
    );
    let keys = app.get(&format!("/api/platforms/{platform}/keys")).await;
    let mine = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key_id"] == key.as_str())
        .unwrap();
    assert_eq!(mine["options"], json!({"from": "10.0.0.0/8,!10.0.0.5"}));
    assert_eq!(mine["sync_status"], "present");

    // New options for the same key: that one line is rewritten, nothing else moves.
    let task = deploy(
        &app,
        &platform,
        &key,
        json!({"from": "127.0.0.1/32,10.0.0.0/8", "restrict": true, "pty": true}),
    )
    .await;
    assert_eq!(task["targets"][0]["changed"], true, "{task}");
    assert!(
        host.ssh_login_works(&client),
        "from= including 127.0.0.1 refused"
    );
    let after = text(host.user.read_file(".ssh/authorized_keys"));
    let (old_lines, new_lines): (Vec<&str>, Vec<&str>) =
        (before.lines().collect(), after.lines().collect());
    assert_eq!(old_lines.len(), new_lines.len(), "{after}");
    let differing: Vec<usize> = (0..old_lines.len())
        .filter(|i| old_lines[*i] != new_lines[*i])
        .collect();
    assert_eq!(differing.len(), 1, "{before}\n---\n{after}");
    assert_eq!(
        new_lines[differing[0]],
        format!(
            r#"restrict,pty,from="127.0.0.1/32,10.0.0.0/8" ssh-ed25519 {key_body} {}"#,
            client.public_line.split(' ').nth(2).unwrap()
        )
    );
    assert_eq!(after.matches(key_body).count(), 1, "duplicated: {after}");

    // The audit event of the task records the options.
    let audit = app.get("/api/audit?limit=100").await.to_string();
    assert!(audit.contains("127.0.0.1/32,10.0.0.0/8"), "{audit}");
}

#[tokio::test]
async fn command_is_forced_and_quotes_backslashes_commas_survive_sshd() {
    let host = TestHost::start_with_config("PermitUserEnvironment yes\n");
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host, "web1").await;
    let client = ClientKey::generate(KeyKind::Ed25519, None);
    let key = app.add_key("alice", &client.public_line).await;

    deploy(&app, &platform, &key, json!({"command": "echo forced"})).await;
    assert_eq!(ssh_stdout(&host, &client, "echo asked"), "forced\n");

    // A past expiry-time is refused (the line would be removed at once by the expiry rules); a
    // future one lets the key in.
    let (status, problem) = app
        .post(
            &format!("/api/platforms/{platform}/deploy_keys"),
            json!({"key_ids": [key], "options": {&key: {"expiry-time": "20000101"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["errors"][0]["field"],
        format!("options.{key}.expiry-time"),
        "{problem}"
    );
    deploy(
        &app,
        &platform,
        &key,
        json!({"expiry-time": "20991231235959Z"}),
    )
    .await;
    assert!(host.ssh_login_works(&client));

    let command = r#"printf '%s\n' "forced \"x\" a,b  c" 'back\slash' "$Q""#;
    let env = r#"Q=say "hi", then \ go"#;
    deploy(
        &app,
        &platform,
        &key,
        json!({"command": command, "environment": [env], "no-pty": true}),
    )
    .await;
    assert_eq!(
        ssh_stdout(&host, &client, "echo asked"),
        "forced \"x\" a,b  c\nback\\slash\nsay \"hi\", then \\ go\n"
    );
    let keys = app.get(&format!("/api/platforms/{platform}/keys")).await;
    assert_eq!(
        keys["items"][0]["options"],
        json!({"command": command, "environment": [env], "no-pty": true})
    );
}

#[tokio::test]
async fn the_same_key_carries_other_options_elsewhere_and_an_empty_object_clears_them() {
    let a = TestHost::start();
    let b = TestHost::start();
    let app = TestApp::start().await;
    let pa = add_platform(&app, &a, "a").await;
    let pb = add_platform(&app, &b, "b").await;
    let client = ClientKey::generate(KeyKind::Ed25519, None);
    let key = app.add_key("alice", &client.public_line).await;
    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "deploy_keys", "platform_ids": [pa], "key_ids": [key],
                   "options": {&key: {"command": "echo on-a"}}}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["options"][&key]["command"], "echo on-a", "{task}");
    deploy(&app, &pb, &key, json!({"command": "echo on-b"})).await;
    assert_eq!(ssh_stdout(&a, &client, "true"), "on-a\n");
    assert_eq!(ssh_stdout(&b, &client, "true"), "on-b\n");

    // Deploying again without options keeps them; `{}` clears them.
    let task = deploy(&app, &pa, &key, Value::Null).await;
    assert_eq!(task["targets"][0]["changed"], false, "{task}");
    assert_eq!(ssh_stdout(&a, &client, "true"), "on-a\n");
    deploy(&app, &pa, &key, json!({})).await;
    assert_eq!(ssh_stdout(&a, &client, "echo free"), "free\n");
    assert_eq!(
        app.get(&format!("/api/platforms/{pa}/keys")).await["items"][0]["options"],
        json!({})
    );
    assert_eq!(ssh_stdout(&b, &client, "true"), "on-b\n");
}

#[tokio::test]
async fn bad_options_are_refused_naming_the_option_and_queue_nothing() {
    let app = TestApp::start().await;
    let platform = app
        .add_password_platform("web1", 2222, "deploy", "secret")
        .await;
    let client = ClientKey::generate(KeyKind::Ed25519, None);
    let key = app.add_key("alice", &client.public_line).await;
    let stranger = uuid::Uuid::new_v4().to_string();
    let deploy_path = format!("/api/platforms/{platform}/deploy_keys");
    for (path, body, field, words) in [
        (
            deploy_path.as_str(),
            json!({"key_ids": [key], "options": {&key: {"from": "10.0.0.1/8"}}}),
            format!("options.{key}.from"),
            "bits",
        ),
        (
            deploy_path.as_str(),
            json!({"key_ids": [key], "options": {&key: {"command": "a\nb"}}}),
            format!("options.{key}.command"),
            "newline",
        ),
        (
            deploy_path.as_str(),
            json!({"key_ids": [key], "options": {&key: {"command": "a\u{0}b"}}}),
            format!("options.{key}.command"),
            "NUL",
        ),
        (
            deploy_path.as_str(),
            json!({"key_ids": [key], "options": {&key: {"environment": ["A=1", "no"]}}}),
            format!("options.{key}.environment[1]"),
            "NAME=value",
        ),
        (
            deploy_path.as_str(),
            json!({"key_ids": [key], "options": {&key: {"expiry-time": "tomorrow"}}}),
            format!("options.{key}.expiry-time"),
            "YYYYMMDD",
        ),
        (
            deploy_path.as_str(),
            json!({"key_ids": [key], "options": {&key: {"principals": "a"}}}),
            format!("options.{key}.principals"),
            "cert-authority",
        ),
        (
            deploy_path.as_str(),
            json!({"key_ids": [key], "options": {&key: {"no-shell": true}}}),
            format!("options.{key}.no-shell"),
            "no-shell",
        ),
        (
            deploy_path.as_str(),
            json!({"key_ids": [key], "options": {&stranger: {}}}),
            format!("options.{stranger}"),
            "not in key_ids",
        ),
        (
            deploy_path.as_str(),
            json!({"key_ids": [key], "options": {"nope": {}}}),
            "options.nope".to_string(),
            "UUID",
        ),
        (
            "/api/tasks",
            json!({"kind": "revoke_keys", "platform_ids": [platform], "key_ids": [key],
                              "options": {&key: {}}}),
            "options".to_string(),
            "not used by revoke_keys",
        ),
        (
            "/api/tasks",
            json!({"kind": "run_command", "platform_ids": [platform], "command": "id",
                              "dry_run": true}),
            "dry_run".to_string(),
            "only for",
        ),
        (
            "/api/tasks",
            json!({"kind": "scan", "platform_ids": [platform], "dry_run": true}),
            "dry_run".to_string(),
            "only for",
        ),
        (
            "/api/tasks",
            json!({"kind": "scan", "platform_ids": [platform], "options": {}}),
            "options".to_string(),
            "not used by scan",
        ),
    ] {
        let (status, problem) = app.post(path, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        let errors = problem["errors"].as_array().unwrap();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field.as_str()
                    && e["message"].as_str().unwrap().contains(words)),
            "{body}: want {field} / {words}: {problem}"
        );
    }
    assert_eq!(app.get("/api/tasks").await["items"], json!([]));
    assert_eq!(
        app.get(&format!("/api/platforms/{platform}/keys")).await["items"],
        json!([])
    );
}

/// What a dry run must leave alone: the file's bytes, inode and mtime, and the names in ~/.ssh.
fn snapshot(host: &TestHost) -> (Vec<u8>, u64, i64, i64, Vec<String>) {
    let meta = std::fs::metadata(host.user.path(".ssh/authorized_keys")).unwrap();
    (
        host.user.read_file(".ssh/authorized_keys"),
        meta.ino(),
        meta.mtime(),
        meta.mtime_nsec(),
        host.user.list_dir(".ssh"),
    )
}

#[tokio::test]
async fn a_dry_run_shows_the_diff_and_writes_nothing_anywhere() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host, "web1").await;
    let client = ClientKey::generate(KeyKind::Ed25519, None);
    let key = app.add_key("alice", &client.public_line).await;
    let line = format!("restrict {}", client.public_line);

    // No ~/.ssh at all: the preview is the new file, and no directory appears.
    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "deploy_keys", "platform_ids": [platform], "key_ids": [key],
                   "options": {&key: {"restrict": true}}, "dry_run": true}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["dry_run"], true, "{task}");
    assert_eq!(task["targets"][0]["changed"], true, "{task}");
    assert!(!host.user.path(".ssh").exists(), "a dry run created ~/.ssh");
    let id = task["id"].as_str().unwrap();
    let out = text(app.raw_output(id, &platform, "stdout").await);
    assert!(
        out.contains(&format!(
            "--- a/.ssh/authorized_keys\n+++ b/.ssh/authorized_keys\n@@ -0,0 +1,3 @@\n+{BEGIN}\n+{line}\n"
        )),
        "{out}"
    );

    // An existing file: bytes, inode, mtime and the directory's names stay as they were.
    host.user
        .write_file(".ssh/authorized_keys", b"# by hand\n", 0o600);
    let before = snapshot(&host);
    let task = app
        .run_task(
            &format!("/api/platforms/{platform}/deploy_keys"),
            json!({"key_ids": [key], "options": {&key: {"restrict": true}}, "dry_run": true}),
        )
        .await;
    assert_eq!(task["targets"][0]["changed"], true, "{task}");
    let out = text(
        app.raw_output(task["id"].as_str().unwrap(), &platform, "stdout")
            .await,
    );
    assert!(
        out.contains(&format!("@@ -1 +1,4 @@\n # by hand\n+{BEGIN}\n+{line}\n")),
        "{out}"
    );
    assert_eq!(snapshot(&host), before, "a dry run touched the host");
    assert!(
        !before.4.iter().any(|n| n.contains("testum")),
        "{:?}",
        before.4
    );
    assert_eq!(
        app.get(&format!("/api/platforms/{platform}/keys")).await["items"],
        json!([]),
        "a dry run assigned the key"
    );
    assert!(!host.ssh_login_works(&client));

    // Deployed for real; a dry run of a revoke shows the removal and changes nothing.
    deploy(&app, &platform, &key, json!({"restrict": true})).await;
    assert!(host.ssh_login_works(&client));
    let keys_before = app.get(&format!("/api/platforms/{platform}/keys")).await;
    let before = snapshot(&host);
    let task = app
        .run_task(
            &format!("/api/platforms/{platform}/revoke_keys"),
            json!({"key_ids": [key], "dry_run": true}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["targets"][0]["changed"], true, "{task}");
    let out = text(
        app.raw_output(task["id"].as_str().unwrap(), &platform, "stdout")
            .await,
    );
    assert!(out.contains(&format!("-{BEGIN}\n-{line}\n")), "{out}");
    assert_eq!(
        snapshot(&host),
        before,
        "a dry run of a revoke touched the host"
    );
    assert_eq!(
        app.get(&format!("/api/platforms/{platform}/keys")).await,
        keys_before
    );
    assert!(host.ssh_login_works(&client));

    // Nothing to do: "no change".
    let task = app
        .run_task(
            &format!("/api/platforms/{platform}/deploy_keys"),
            json!({"key_ids": [key], "dry_run": true}),
        )
        .await;
    assert_eq!(task["targets"][0]["changed"], false, "{task}");
    let out = text(
        app.raw_output(task["id"].as_str().unwrap(), &platform, "stdout")
            .await,
    );
    assert_eq!(out, "dry run: .ssh/authorized_keys: no change\n");

    let audit = app.get("/api/audit?limit=100").await;
    let dry = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "task.create" && e["details"]["dry_run"] == true)
        .count();
    assert_eq!(dry, 4, "{audit}");
}

#[tokio::test]
async fn the_openapi_document_describes_options_and_dry_run() {
    let app = TestApp::start().await;
    let doc = app.get("/api/openapi.json").await;
    let schemas = &doc["components"]["schemas"];
    for member in [
        "from",
        "command",
        "environment",
        "restrict",
        "no-X11-forwarding",
        "expiry-time",
    ] {
        assert!(
            schemas["KeyOptions"]["properties"][member].is_object(),
            "KeyOptions.{member}: {}",
            schemas["KeyOptions"]
        );
    }
    for body in ["CreateTask", "DeployKeys"] {
        let properties = &schemas[body]["properties"];
        assert!(properties["options"].is_object(), "{body}: {properties}");
        assert!(properties["dry_run"].is_object(), "{body}: {properties}");
    }
    assert!(schemas["KeyIds"]["properties"]["dry_run"].is_object());
    assert!(schemas["KeyIds"]["properties"]["options"].is_null());
    assert!(schemas["Assignment"]["properties"]["options"].is_object());
}

/// The `from` lists testum refuses beyond sshd's parse-time checks are lists with which sshd
/// refuses every source, even one the list names: refusing them up front saves a lockout.
#[tokio::test]
async fn from_lists_refused_up_front_are_ones_sshd_would_lock_out() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host, "web1").await;
    let client = ClientKey::generate(KeyKind::Ed25519, None);
    let key = app.add_key("alice", &client.public_line).await;
    for from in [
        "127.0.0.1,,10.0.0.1",
        "127.0.0.1,10.0.0.1/8",
        "10.0.0.0/33,127.0.0.1",
    ] {
        let line = format!("from=\"{from}\" {}\n", client.public_line);
        host.user
            .write_file(".ssh/authorized_keys", line.as_bytes(), 0o600);
        assert!(
            !host.ssh_login_works(&client),
            "sshd accepted from=\"{from}\""
        );
        let (status, problem) = app
            .post(
                &format!("/api/platforms/{platform}/deploy_keys"),
                json!({"key_ids": [key], "options": {&key: {"from": from}}}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{from}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], format!("options.{key}.from"));
    }
    // The same list without the bad entry works.
    let line = format!("from=\"127.0.0.1,10.0.0.0/8\" {}\n", client.public_line);
    host.user
        .write_file(".ssh/authorized_keys", line.as_bytes(), 0o600);
    assert!(host.ssh_login_works(&client));
}

/// A dry run computes what the real sync would: a shadowing conflict fails it the same way, and
/// in exclusive mode the diff shows the hand-written lines the sync would remove.
#[tokio::test]
async fn a_dry_run_previews_conflicts_and_exclusive_mode_like_the_sync() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host, "web1").await;
    let client = ClientKey::generate(KeyKind::Ed25519, None);
    let key = app.add_key("alice", &client.public_line).await;
    let hand = format!("# kept\ncommand=\"echo forced\" {}\n", client.public_line);
    host.user
        .write_file(".ssh/authorized_keys", hand.as_bytes(), 0o600);
    let before = snapshot(&host);
    let dry_deploy = json!({"key_ids": [key], "dry_run": true});
    let deploy_path = format!("/api/platforms/{platform}/deploy_keys");

    let task = app.run_task(&deploy_path, dry_deploy.clone()).await;
    assert_eq!(task["status"], "failed", "{task}");
    let error = task["targets"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("conflict: line 2 "), "{error}");
    assert_eq!(snapshot(&host), before);

    let (status, patched) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/platforms/{platform}"),
            Some(json!({"exclusive": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    let task = app.run_task(&deploy_path, dry_deploy).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["targets"][0]["changed"], true, "{task}");
    let out = text(
        app.raw_output(task["id"].as_str().unwrap(), &platform, "stdout")
            .await,
    );
    assert!(
        out.contains(&format!(
            " # kept\n-command=\"echo forced\" {line}\n+{BEGIN}\n+{line}\n",
            line = client.public_line
        )),
        "{out}"
    );
    assert_eq!(snapshot(&host), before, "an exclusive dry run wrote");
    assert_eq!(ssh_stdout(&host, &client, "echo mine"), "forced\n");
    assert_eq!(
        app.get(&format!("/api/platforms/{platform}/keys")).await["items"],
        json!([])
    );
}
