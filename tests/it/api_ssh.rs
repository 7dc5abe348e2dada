//! The main job end to end through the HTTP API against real OpenSSH servers: register keys and
//! platforms, deploy and revoke (proved with the real `ssh` client), run commands with output
//! streamed over the WebSocket, host keys pinned and changes refused.

use crate::app;
use crate::common;

use std::time::Duration;

use app::TestApp;
use common::{KeyKind, TestHost};
use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Register `host` as a password platform named `name`.
async fn add_platform(app: &TestApp, host: &TestHost, name: &str) -> String {
    app.add_password_platform(name, host.sshd.port(), &host.user.name, &host.user.password)
        .await
}

#[tokio::test]
async fn deploy_then_ssh_login_then_revoke_refuses_it() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host, "web1").await;
    let client = common::ClientKey::generate(KeyKind::Ed25519, None);
    let key = app.add_key("alice", &client.public_line).await;
    assert!(!host.ssh_login_works(&client), "login worked before deploy");

    let task = app
        .run_task(
            &format!("/api/platforms/{platform}/deploy_keys"),
            json!({"key_ids": [key]}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["targets"][0]["changed"], true);
    assert!(
        host.ssh_login_works(&client),
        "deployed key does not log in"
    );
    let file = String::from_utf8(host.user.read_file(".ssh/authorized_keys")).unwrap();
    assert!(
        file.contains("# BEGIN testum managed keys - do not edit"),
        "{file}"
    );
    assert_eq!(host.user.mode(".ssh"), 0o700);

    // The host key was pinned on first use, exactly as ssh-keygen -l prints it.
    let shown = app.get(&format!("/api/platforms/{platform}")).await;
    let kind = match shown["host_key_type"].as_str().unwrap() {
        "ssh-ed25519" => "ed25519",
        "ssh-rsa" | "rsa-sha2-256" | "rsa-sha2-512" => "rsa",
        _ => "ecdsa",
    };
    assert_eq!(
        shown["host_key_fingerprint"],
        host.sshd.host_key(kind).fingerprint
    );
    let assigned = app.get(&format!("/api/platforms/{platform}/keys")).await;
    assert_eq!(assigned["items"][0]["sync_status"], "present", "{assigned}");

    // Deploying again changes nothing on the host.
    let task = app
        .run_task(
            &format!("/api/platforms/{platform}/deploy_keys"),
            json!({"key_ids": [key]}),
        )
        .await;
    assert_eq!(task["targets"][0]["changed"], false, "{task}");

    let task = app
        .run_task(
            &format!("/api/platforms/{platform}/revoke_keys"),
            json!({"key_ids": [key]}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert!(!host.ssh_login_works(&client), "revoked key still logs in");
    assert_eq!(
        app.get(&format!("/api/platforms/{platform}/keys")).await["items"],
        json!([])
    );

    let audit = app.get("/api/audit?limit=100").await.to_string();
    for action in [
        "platform.create",
        "key.create",
        "task.create",
        "task.finish",
        "host_key.pin",
    ] {
        assert!(audit.contains(action), "{action} not audited");
    }
    assert!(
        !audit.contains(&host.user.password),
        "password in the audit log"
    );
}

#[tokio::test]
async fn private_key_platform_and_concurrent_deploys_both_land() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let login = host.authorized_key(KeyKind::Ecdsa);
    let (status, platform) = app
        .post(
            "/api/platforms",
            json!({"name": "db1", "host": "127.0.0.1", "port": host.sshd.port(),
                   "username": host.user.name, "auth_method": "private_key",
                   "private_key": login.private_pem}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{platform}");
    let platform = platform["id"].as_str().unwrap().to_string();
    let a = common::ClientKey::generate(KeyKind::Ed25519, None);
    let b = common::ClientKey::generate(KeyKind::Rsa, None);
    let key_a = app.add_key("a", &a.public_line).await;
    let key_b = app.add_key("b", &b.public_line).await;
    let path = format!("/api/platforms/{platform}/deploy_keys");
    let (first, second) = tokio::join!(
        app.post(&path, json!({"key_ids": [key_a]})),
        app.post(&path, json!({"key_ids": [key_b]})),
    );
    for (status, accepted) in [first, second] {
        assert_eq!(status, StatusCode::ACCEPTED);
        let task = app.wait_task(accepted["task_id"].as_str().unwrap()).await;
        assert_eq!(task["status"], "succeeded", "{task}");
    }
    assert!(host.ssh_login_works(&a));
    assert!(host.ssh_login_works(&b));
    // The key testum logs in with, written by hand before, is untouched.
    assert!(host.ssh_login_works(&login));
}

#[tokio::test]
async fn run_command_reports_streams_exit_status_and_timeout() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host, "app1").await;
    let path = format!("/api/platforms/{platform}/run_command");

    let task = app
        .run_task(
            &path,
            json!({"command": "echo out; echo err >&2; printf '\\377\\376'; exit 3"}),
        )
        .await;
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(task["targets"][0]["status"], "failed");
    assert_eq!(task["targets"][0]["exit_code"], 3);
    let id = task["id"].as_str().unwrap();
    assert_eq!(
        app.raw_output(id, &platform, "stdout").await,
        b"out\n\xff\xfe"
    );
    assert_eq!(app.raw_output(id, &platform, "stderr").await, b"err\n");

    let task = app
        .run_task(&path, json!({"command": "cat; echo done"}))
        .await;
    assert_eq!(
        task["status"], "succeeded",
        "stdin is closed, so cat ends: {task}"
    );

    let marker = format!("testum-sleep-{}", std::process::id());
    let task = app
        .run_task(
            &path,
            json!({"command": format!("sleep 300 # {marker}"), "timeout_s": 1}),
        )
        .await;
    assert_eq!(task["status"], "failed", "{task}");
    assert!(
        task["targets"][0]["error"]
            .as_str()
            .unwrap()
            .contains("timed out"),
        "{task}"
    );
    // The remote command was ended, not left running.
    let check = app
        .run_task(
            &path,
            json!({"command": format!("ps -eo args | grep -v grep | grep -c '{marker}' || true")}),
        )
        .await;
    let check_id = check["id"].as_str().unwrap();
    assert_eq!(app.raw_output(check_id, &platform, "stdout").await, b"0\n");
}

#[tokio::test]
async fn websocket_streams_live_and_replays_everything_to_late_subscribers() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host, "stream1").await;
    let (status, accepted) = app
        .post(
            &format!("/api/platforms/{platform}/run_command"),
            json!({"command": "echo first; sleep 3; echo second; echo oops >&2"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let task = accepted["task_id"].as_str().unwrap().to_string();

    // A live subscriber sees "first" while the task is still running.
    let url = format!(
        "{}/ws/tasks/{task}?access_token={}",
        app.base.replace("http://", "ws://"),
        app.token
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let first_seen_while_running = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(message) = socket.next().await {
            if let Message::Text(text) = message.unwrap() {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == "output" && frame["data"] == "first\n" {
                    return app.get(&format!("/api/tasks/{task}")).await["status"] == "running";
                }
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(
        first_seen_while_running,
        "output was not streamed before the command ended"
    );
    drop(socket);

    let live_end = app.wait_task(&task).await;
    assert_eq!(live_end["status"], "succeeded");
    // A subscriber that joins after the end gets every frame from seq 1, in order, once.
    let frames = app.ws_frames(&task).await;
    let seqs: Vec<i64> = frames.iter().map(|f| f["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    let text = |stream: &str| -> String {
        frames
            .iter()
            .filter(|f| f["type"] == "output" && f["stream"] == stream)
            .map(|f| f["data"].as_str().unwrap())
            .collect()
    };
    assert_eq!(text("stdout"), "first\nsecond\n");
    assert_eq!(text("stderr"), "oops\n");
    assert_eq!(frames.last().unwrap()["type"], "done");
    assert_eq!(frames.last().unwrap()["status"], "succeeded");
    assert!(
        frames
            .iter()
            .any(|f| f["type"] == "target" && f["status"] == "succeeded")
    );
}

#[tokio::test]
async fn changed_host_key_is_refused_with_both_fingerprints() {
    let mut host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host, "moved").await;
    let path = format!("/api/platforms/{platform}/run_command");
    assert_eq!(
        app.run_task(&path, json!({"command": "true"})).await["status"],
        "succeeded"
    );
    let pinned = app.get(&format!("/api/platforms/{platform}")).await["host_key_fingerprint"]
        .as_str()
        .unwrap()
        .to_string();

    host.sshd.restart_with_new_host_keys();
    let marker = host.user.path("ran");
    let task = app
        .run_task(
            &path,
            json!({"command": format!("touch {}", marker.display())}),
        )
        .await;
    assert_eq!(task["status"], "failed", "{task}");
    let error = task["targets"][0]["error"].as_str().unwrap();
    assert!(error.contains(&pinned), "{error}");
    let presented: Vec<String> = ["ed25519", "ecdsa", "rsa"]
        .iter()
        .map(|k| host.sshd.host_key(k).fingerprint)
        .filter(|f| error.contains(f.as_str()))
        .collect();
    assert_eq!(
        presented.len(),
        1,
        "the presented fingerprint is named: {error}"
    );
    assert!(!marker.exists(), "the command ran on an unverified host");
    let audit = app.get("/api/audit?action=host_key.mismatch").await;
    assert_eq!(audit["items"][0]["outcome"], "denied", "{audit}");
    assert_eq!(
        app.get(&format!("/api/platforms/{platform}")).await["host_key_fingerprint"],
        pinned
    );
}

#[tokio::test]
async fn one_task_over_several_platforms_has_one_target_each() {
    let hosts = [TestHost::start(), TestHost::start(), TestHost::start()];
    let app = TestApp::start().await;
    let mut ids = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        ids.push(add_platform(&app, host, &format!("fleet{i}")).await);
    }
    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "run_command", "platform_ids": ids,
                                                    "command": "id -un", "concurrency": 2}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["targets"].as_array().unwrap().len(), 3);
    let id = task["id"].as_str().unwrap();
    for (host, platform) in hosts.iter().zip(&ids) {
        let out = app.raw_output(id, platform, "stdout").await;
        assert_eq!(out, format!("{}\n", host.user.name).as_bytes());
    }
    // A platform that cannot be reached fails its own target only.
    let (status, dead) = app
        .post("/api/platforms", json!({"name": "dead", "host": "127.0.0.1", "port": 1,
                                       "username": "nobody", "auth_method": "password", "password": "x"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "run_command",
        "platform_ids": [ids[0], dead["id"]], "command": "true"}),
        )
        .await;
    assert_eq!(task["status"], "failed");
    assert_eq!(task["targets"][0]["status"], "succeeded");
    assert_eq!(task["targets"][1]["status"], "failed");
    assert!(
        task["targets"][1]["error"]
            .as_str()
            .unwrap()
            .contains("connect"),
        "{task}"
    );
}

#[tokio::test]
async fn cancel_ends_the_running_command_and_skips_queued_targets() {
    let hosts = [TestHost::start(), TestHost::start()];
    let app = TestApp::start().await;
    let a = add_platform(&app, &hosts[0], "slow-a").await;
    let b = add_platform(&app, &hosts[1], "slow-b").await;
    let marker = format!("testum-cancel-{}", std::process::id());
    let (status, accepted) = app
        .post(
            "/api/tasks",
            json!({"kind": "run_command", "platform_ids": [a, b], "concurrency": 1,
                                   "command": format!("echo started; sleep 300 # {marker}")}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let task = accepted["task_id"].as_str().unwrap().to_string();
    // Cancel once the first target's command is running (its output has arrived).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.raw_output(&task, &a, "stdout").await != b"started\n" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the command did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = app
        .post(&format!("/api/tasks/{task}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let ended = app.wait_task(&task).await;
    assert_eq!(ended["status"], "cancelled", "{ended}");
    assert_eq!(ended["targets"][0]["status"], "cancelled");
    assert_eq!(ended["targets"][1]["status"], "cancelled");
    assert!(
        ended["targets"][1]["started_at"].is_null(),
        "the queued target ran: {ended}"
    );
    // The remote command was ended, not left behind.
    let check = app
        .run_task(
            &format!("/api/platforms/{a}/run_command"),
            json!({"command": format!("ps -eo args | grep -v grep | grep -c '{marker}' || true")}),
        )
        .await;
    let check_id = check["id"].as_str().unwrap();
    assert_eq!(app.raw_output(check_id, &a, "stdout").await, b"0\n");
    // Cancelling an ended task is a conflict.
    let (status, _) = app
        .post(&format!("/api/tasks/{task}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_character_split_across_reads_is_never_split_across_frames() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host, "utf8").await;
    // "€" is E2 82 AC: the first byte arrives well before the other two.
    let task = app.run_task(&format!("/api/platforms/{platform}/run_command"),
        json!({"command": "printf 'a\\342'; sleep 0.5; printf '\\202\\254b\\n'; printf '\\377\\n'"}),
    )
    .await;
    let id = task["id"].as_str().unwrap();
    let frames = app.ws_frames(id).await;
    let data: Vec<&str> = frames
        .iter()
        .filter(|f| f["type"] == "output")
        .map(|f| f["data"].as_str().unwrap())
        .collect();
    assert!(
        data.len() >= 2,
        "the output came in one frame, the test proves nothing: {data:?}"
    );
    assert_eq!(data.concat(), "a€b\n\u{fffd}\n", "{data:?}");
    assert_eq!(data[0], "a", "{data:?}");
    // The stored bytes stay exact, invalid byte included.
    assert_eq!(
        app.raw_output(id, &platform, "stdout").await,
        b"a\xe2\x82\xacb\n\xff\n"
    );
}

/// Register `host` once more as `name`, managing another file (`path`) of the same login, as a
/// cloned image or a redirected port would look.
async fn add_clone(app: &TestApp, host: &TestHost, name: &str, path: &str) -> String {
    let (status, platform) = app
        .post(
            "/api/platforms",
            json!({"name": name, "host": "127.0.0.1", "port": host.sshd.port(),
                   "username": host.user.name, "auth_method": "password",
                   "password": host.user.password, "authorized_keys_path": path}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{platform}");
    platform["id"].as_str().unwrap().to_string()
}

/// Every output chunk of `task` as `GET /api/tasks/{id}/output` pages them (all pages).
async fn output_chunks(app: &TestApp, task: &str) -> Vec<Value> {
    let mut chunks = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .get(&format!("/api/tasks/{task}/output?after_seq={after}"))
            .await;
        chunks.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_after_seq"].as_i64() {
            Some(next) => after = next,
            None => return chunks,
        }
    }
}

/// The shared-host-key warning is in the target's `warnings` (API and WebSocket frame) and in
/// no output: stdout and stderr hold exactly what the command wrote.
#[tokio::test]
async fn a_host_key_already_pinned_by_another_platform_is_a_warning_not_output() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let first = add_platform(&app, &host, "original").await;
    let task = app
        .run_task(
            &format!("/api/platforms/{first}/run_command"),
            json!({"command": "true"}),
        )
        .await;
    assert_eq!(task["status"], "succeeded");
    assert_eq!(task["targets"][0]["warnings"], json!([]), "{task}");
    // The same file of the same server cannot be registered twice: the blocks would fight.
    let (status, problem) = app
        .post(
            "/api/platforms",
            json!({"name": "twin", "host": "127.0.0.1", "port": host.sshd.port(),
                                       "username": host.user.name, "auth_method": "password",
                                       "password": host.user.password}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("'original'"),
        "{problem}"
    );
    let fingerprint = app.get(&format!("/api/platforms/{first}")).await["host_key_fingerprint"]
        .as_str()
        .unwrap()
        .to_string();

    // The same server under another name and file (a redirected port, a cloned image); the
    // command fails after the warning was raised, and the target keeps both.
    let second = add_clone(&app, &host, "clone", ".ssh/authorized_keys2").await;
    let id = app
        .queue(
            &format!("/api/platforms/{second}/run_command"),
            json!({"command": "echo out; echo err >&2; exit 3"}),
        )
        .await;
    let frames = app.ws_frames(&id).await;
    let task = app.wait_task(&id).await;
    let target = &task["targets"][0];
    assert_eq!(task["status"], "failed", "{task}");
    assert_eq!(target["exit_code"], 3, "{task}");
    let expected = format!(
        "host key {fingerprint} is also pinned by original: a cloned image or a redirected port?"
    );
    assert_eq!(target["warnings"], json!([expected]), "{task}");
    let last_target_frame = frames
        .iter()
        .rev()
        .find(|f| f["type"] == "target")
        .expect("a target frame");
    assert_eq!(last_target_frame["status"], "failed", "{frames:?}");
    assert_eq!(
        last_target_frame["warnings"],
        json!([expected]),
        "{frames:?}"
    );
    // Output is exactly the command's, in the raw streams, the JSON pages and the live frames.
    assert_eq!(app.raw_output(&id, &second, "stdout").await, b"out\n");
    assert_eq!(app.raw_output(&id, &second, "stderr").await, b"err\n");
    let chunks = output_chunks(&app, &id).await;
    assert!(!chunks.is_empty());
    let outputs = frames.iter().filter(|f| f["type"] == "output");
    for chunk in chunks.iter().chain(outputs) {
        let data = chunk["data"].as_str().unwrap();
        assert!(!data.contains("also pinned"), "{chunk}");
    }

    // A deploy's first connection is flagged the same way (all other platforms named); its
    // stdout keeps only the summary of what changed.
    let third = add_clone(&app, &host, "clone2", ".ssh/authorized_keys3").await;
    let client = common::ClientKey::generate(KeyKind::Ed25519, None);
    let key = app.add_key("carol", &client.public_line).await;
    let task = app
        .run_task(
            &format!("/api/platforms/{third}/deploy_keys"),
            json!({"key_ids": [key]}),
        )
        .await;
    let id = task["id"].as_str().unwrap();
    assert_eq!(task["status"], "succeeded", "{task}");
    let warnings = &task["targets"][0]["warnings"];
    assert_eq!(
        warnings,
        &json!([format!(
            "host key {fingerprint} is also pinned by clone, original: a cloned image or a \
             redirected port?"
        )]),
        "{task}"
    );
    let stdout = String::from_utf8(app.raw_output(id, &third, "stdout").await).unwrap();
    assert!(stdout.contains("1 managed key(s)"), "{stdout}");
    assert!(!stdout.contains("warning"), "{stdout}");
    assert!(app.raw_output(id, &third, "stderr").await.is_empty());

    // The audit event still lists every platform sharing the key.
    let audit = app.get("/api/audit?action=host_key.pin").await;
    assert_eq!(
        audit["items"][0]["details"]["also_pinned_by"],
        json!(["clone", "original"]),
        "{audit}"
    );
    // And the API schema says what a target's warnings are.
    let doc = app.get("/api/openapi.json").await;
    let schema = &doc["components"]["schemas"]["Target"];
    assert_eq!(
        schema["properties"]["warnings"]["type"], "array",
        "{schema}"
    );
    assert!(
        schema["required"]
            .as_array()
            .unwrap()
            .contains(&json!("warnings")),
        "{schema}"
    );
}

#[tokio::test]
async fn a_failed_revoke_never_looks_done_and_platforms_with_keys_are_not_silently_deleted() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host, "stubborn").await;
    let client = common::ClientKey::generate(KeyKind::Ed25519, None);
    let key = app.add_key("bob", &client.public_line).await;
    let deploy = app
        .run_task(
            &format!("/api/platforms/{platform}/deploy_keys"),
            json!({"key_ids": [key]}),
        )
        .await;
    assert_eq!(deploy["status"], "succeeded", "{deploy}");

    // The login user cannot write ~/.ssh any more: the revoke fails and says so.
    let ssh_dir = host.user.path(".ssh");
    std::fs::set_permissions(
        &ssh_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o500),
    )
    .unwrap();
    let revoke = app
        .run_task(
            &format!("/api/platforms/{platform}/revoke_keys"),
            json!({"key_ids": [key]}),
        )
        .await;
    assert_eq!(revoke["status"], "failed", "{revoke}");
    assert!(host.ssh_login_works(&client), "the key must still be there");
    let assigned = app.get(&format!("/api/platforms/{platform}/keys")).await;
    assert_eq!(
        assigned["items"][0]["sync_status"], "revoking",
        "{assigned}"
    );
    assert!(
        assigned["items"][0]["sync_error"]
            .as_str()
            .unwrap()
            .contains("Permission denied"),
        "{assigned}"
    );
    let (status, problem) = app
        .call(reqwest::Method::DELETE, &format!("/api/keys/{key}"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (status, problem) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/platforms/{platform}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("forget_keys"),
        "{problem}"
    );

    // Fixed on the host: the next revoke really removes it, and only then is it gone here.
    std::fs::set_permissions(
        &ssh_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let revoke = app
        .run_task(
            &format!("/api/platforms/{platform}/revoke_keys"),
            json!({"key_ids": [key]}),
        )
        .await;
    assert_eq!(revoke["status"], "succeeded", "{revoke}");
    assert!(!host.ssh_login_works(&client));
    assert_eq!(
        app.get(&format!("/api/platforms/{platform}/keys")).await["items"],
        json!([])
    );
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/platforms/{platform}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_deploy_to_an_unreachable_host_is_recorded_as_failed() {
    let app = TestApp::start().await;
    let (status, dead) = app
        .post("/api/platforms", json!({"name": "gone", "host": "127.0.0.1", "port": 1,
                                       "username": "nobody", "auth_method": "password", "password": "x"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let dead = dead["id"].as_str().unwrap();
    let client = common::ClientKey::generate(KeyKind::Ed25519, None);
    let key = app.add_key("carol", &client.public_line).await;
    let task = app
        .run_task(
            &format!("/api/platforms/{dead}/deploy_keys"),
            json!({"key_ids": [key]}),
        )
        .await;
    assert_eq!(task["status"], "failed");
    let assigned = app.get(&format!("/api/platforms/{dead}/keys")).await;
    assert_eq!(assigned["items"][0]["sync_status"], "failed", "{assigned}");
    assert!(
        assigned["items"][0]["sync_error"]
            .as_str()
            .unwrap()
            .contains("connect"),
        "{assigned}"
    );
    // The host is gone for good: forgetting it is explicit and audited.
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/platforms/{dead}?forget_keys=true"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let audit = app.get("/api/audit?action=platform.delete").await;
    assert_eq!(
        audit["items"][0]["details"]["keys_left_on_host"], 1,
        "{audit}"
    );
}

#[tokio::test]
async fn output_is_capped_per_target_and_paged() {
    let host = TestHost::start();
    let app = TestApp::start_with(|config| config.settings.max_output_bytes = 10_000).await;
    let platform = add_platform(&app, &host, "chatty").await;
    let task = app
        .run_task(
            &format!("/api/platforms/{platform}/run_command"),
            json!({"command": "yes | head -c 1000000; echo done >&2"}),
        )
        .await;
    // The command ran to its end (its exit status is known); only its output was cut.
    assert_eq!(task["status"], "succeeded", "{task}");
    let id = task["id"].as_str().unwrap();
    let stdout = app.raw_output(id, &platform, "stdout").await;
    assert!(
        stdout.len() <= 10_000 && stdout.len() > 5_000,
        "{}",
        stdout.len()
    );
    let stderr = String::from_utf8(app.raw_output(id, &platform, "stderr").await).unwrap();
    assert!(
        stderr.contains("output limit of 10000 bytes reached"),
        "{stderr}"
    );

    // JSON output comes in pages that chain without gap or overlap.
    let mut seqs = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .get(&format!("/api/tasks/{id}/output?after_seq={after}&limit=2"))
            .await;
        for item in page["items"].as_array().unwrap() {
            seqs.push(item["seq"].as_i64().unwrap());
        }
        match page["next_after_seq"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    let mut sorted = seqs.clone();
    sorted.dedup();
    assert_eq!(seqs, sorted);
    assert!(seqs.len() >= 2, "{seqs:?}");
    let (status, _) = app
        .call(
            reqwest::Method::GET,
            &format!(
                "/api/tasks/{id}/output?platform_id={}&stream=stdout",
                uuid::Uuid::new_v4()
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn shutdown_ends_running_commands_on_their_hosts() {
    let host = TestHost::start();
    let mut app = TestApp::start().await;
    let platform = add_platform(&app, &host, "draining").await;
    let marker = format!("testum-drain-{}", std::process::id());
    let (status, accepted) = app
        .post(
            &format!("/api/platforms/{platform}/run_command"),
            json!({"command": format!("echo started; sleep 300 # {marker}")}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let task = accepted["task_id"].as_str().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.raw_output(&task, &platform, "stdout").await != b"started\n" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the command did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.shutdown_worker(Duration::from_millis(500)).await;
    let ended = app.get(&format!("/api/tasks/{task}")).await;
    assert_eq!(ended["status"], "failed", "{ended}");
    assert!(
        ended["targets"][0]["error"]
            .as_str()
            .unwrap()
            .contains("interrupted"),
        "{ended}"
    );
    let leftover = std::process::Command::new("pgrep")
        .args(["-f", &marker])
        .output()
        .unwrap();
    assert!(
        leftover.stdout.is_empty(),
        "the remote command survived the shutdown"
    );
}

/// From a trial: a WebSocket opened before a user was disabled kept streaming a long task to
/// them. A stream re-checks its credential and closes (1008) once the session is gone.
#[tokio::test]
async fn a_task_stream_ends_when_its_user_is_disabled() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = app
        .add_password_platform("p", host.sshd.port(), &host.user.name, &host.user.password)
        .await;
    let (status, viewer) = app
        .post(
            "/api/users",
            json!({"username": "vera", "password": "a viewer's password", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{viewer}");
    let (status, login) = app
        .call_anon(
            reqwest::Method::POST,
            "/api/auth/login",
            Some(json!({"username": "vera", "password": "a viewer's password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    // Prints a line, then waits for a file that nobody creates: it runs until cancelled.
    let task = app
        .queue(
            &format!("/api/platforms/{platform}/run_command"),
            json!({"command": "echo started; while [ ! -e \"$HOME/never\" ]; do sleep 0.2; done"}),
        )
        .await;
    let url = format!(
        "{}/ws/tasks/{task}?access_token={}",
        app.base.replace("http://", "ws://"),
        login["access_token"].as_str().unwrap()
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let read = async {
        let mut disabled = false;
        while let Some(message) = socket.next().await {
            match message.unwrap() {
                Message::Text(text) if !disabled && text.contains("started") => {
                    let (status, _) = app
                        .call(
                            reqwest::Method::PATCH,
                            &format!("/api/users/{}", viewer["id"].as_str().unwrap()),
                            Some(json!({"disabled": true})),
                        )
                        .await;
                    assert_eq!(status, StatusCode::OK);
                    disabled = true;
                }
                Message::Text(text) => assert!(!text.contains("\"done\""), "{text}"),
                Message::Close(frame) => return (disabled, frame.map(|f| u16::from(f.code))),
                _ => {}
            }
        }
        (disabled, None)
    };
    let (disabled, code) = tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the stream of a disabled user was not closed");
    assert!(disabled, "the command's first line never arrived");
    assert_eq!(code, Some(1008));
    // Let the command end and wait for the task, so nothing outlives the test on the host (a
    // leftover process would show up under a later test user that gets the same uid).
    std::fs::write(host.user.path("never"), b"").unwrap();
    app.wait_task(&task).await;
}

#[tokio::test]
async fn binary_websocket_frames_carry_the_exact_bytes() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host, "bytes1").await;
    // NUL, invalid UTF-8 and a character split over two writes, on both streams.
    let task = app
        .queue(
            &format!("/api/platforms/{platform}/run_command"),
            json!({"command": "printf 'a\\000\\377\\342'; printf '\\202\\254z'; printf 'e\\000\\376' >&2"}),
        )
        .await;
    let url = format!(
        "{}/ws/tasks/{task}?access_token={}&output=binary",
        app.base.replace("http://", "ws://"),
        app.token
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut streams: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut seqs = Vec::new();
    let mut done = false;
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(message) = socket.next().await {
            match message.unwrap() {
                Message::Binary(frame) => {
                    assert_eq!(frame[0], 1, "an output message");
                    seqs.push(u64::from_be_bytes(frame[1..9].try_into().unwrap()));
                    let from = uuid::Uuid::from_slice(&frame[9..25]).unwrap();
                    assert_eq!(from.to_string(), platform);
                    streams[usize::from(frame[25] - 1)].extend_from_slice(&frame[26..]);
                }
                Message::Text(text) => {
                    let frame: Value = serde_json::from_str(&text).unwrap();
                    assert_ne!(frame["type"], "output", "output came as text: {frame}");
                    if frame["type"] == "done" {
                        done = true;
                        break;
                    }
                }
                _ => {}
            }
        }
    })
    .await
    .expect("the WebSocket reached done in time");
    assert!(done);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(streams[0], b"a\0\xff\xe2\x82\xacz");
    assert_eq!(streams[1], b"e\0\xfe");
    assert_eq!(app.raw_output(&task, &platform, "stdout").await, streams[0]);

    // Anything but text or binary is refused before the upgrade.
    let url = format!(
        "{}/ws/tasks/{task}?access_token={}&output=hex",
        app.base.replace("http://", "ws://"),
        app.token
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY)
        }
        other => panic!("output=hex was not refused: {other:?}"),
    }
}

/// Issue 13, types that fail closed: a host-key policy or an auth method the store does not know
/// (here capitalised, written behind testum's back) fails the target; the worker never falls back
/// to a default (trust on first use for the policy), so it neither logs in nor pins the host's
/// key.
#[tokio::test]
async fn unknown_words_in_the_platforms_table_fail_closed() {
    let app = TestApp::start().await;
    for (column, bad, good) in [
        ("host_key_policy", "Strict", "tofu"),
        ("auth_method", "Password", "password"),
    ] {
        let host = TestHost::start();
        let platform = add_platform(&app, &host, column).await;
        let set = |value: &str| {
            format!("UPDATE platforms SET {column} = '{value}' WHERE id = '{platform}'")
        };
        app.sql(&set(bad)).await;
        // Through /api/tasks, which names platforms by id only: the worker reads the platform.
        let task = app
            .run_task(
                "/api/tasks",
                json!({"kind": "run_command", "platform_ids": [platform], "command": "true"}),
            )
            .await;
        assert_eq!(task["targets"][0]["status"], "failed", "{task}");
        let error = task["targets"][0]["error"].as_str().unwrap_or_default();
        assert!(error.contains(column) && error.contains(bad), "{task}");
        assert!(
            !host.sshd.log().contains("Accepted password"),
            "the worker logged in:\n{}",
            host.sshd.log()
        );
        app.sql(&set(good)).await;
        let now = app.get(&format!("/api/platforms/{platform}")).await;
        assert!(now["host_key_fingerprint"].is_null(), "pinned: {now}");
    }
}

/// Issue 13, types that fail closed: a task whose kind the store does not know is never claimed
/// (its targets stay queued; nothing runs), and it does not stop other tasks from being claimed.
#[tokio::test]
async fn a_task_of_an_unknown_kind_is_never_run() {
    let host = TestHost::start();
    let mut app = TestApp::start().await;
    app.shutdown_worker(Duration::from_secs(5)).await;
    let platform = add_platform(&app, &host, "kinds").await;
    let command = json!({"kind": "run_command", "platform_ids": [platform], "command": "true"});
    let odd = app.queue("/api/tasks", command.clone()).await;
    let fine = app.queue("/api/tasks", command).await;
    app.sql(&format!(
        "UPDATE tasks SET kind = 'Run_Command' WHERE id = '{odd}'"
    ))
    .await;
    let claimed = app
        .store()
        .claim_targets("test-worker", 10, Duration::from_secs(30))
        .await
        .expect("one odd task must not stop the queue");
    let tasks: Vec<String> = claimed.iter().map(|t| t.task_id.to_string()).collect();
    assert_eq!(
        tasks,
        vec![fine],
        "only the task of a known kind is claimed"
    );
}

/// Issue 13, types that fail closed: an assignment whose sync status the store does not know
/// (here `Revoking`, capitalised) fails the next sync of its platform with the reason, instead
/// of being taken for a wanted key and kept on the host.
#[tokio::test]
async fn an_unknown_sync_status_fails_the_sync() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host, "sync-status").await;
    let first = common::ClientKey::generate(KeyKind::Ed25519, None);
    let first = app.add_key("first", &first.public_line).await;
    let deploy = format!("/api/platforms/{platform}/deploy_keys");
    let task = app.run_task(&deploy, json!({"key_ids": [first]})).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    app.sql(&format!(
        "UPDATE assignments SET sync_status = 'Revoking' WHERE key_id = '{first}'"
    ))
    .await;
    let second = common::ClientKey::generate(KeyKind::Ed25519, None);
    let second = app.add_key("second", &second.public_line).await;
    let task = app.run_task(&deploy, json!({"key_ids": [second]})).await;
    assert_eq!(task["targets"][0]["status"], "failed", "{task}");
    let error = task["targets"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("sync_status") && error.contains("Revoking"),
        "{task}"
    );
}

/// Issue 13, types that fail closed (second point): a database failure during a target is told
/// to its user as what failed, and the database's own words stay in the worker's log. Here a
/// trigger refuses every lease row, so a deploy cannot take its platform's lock.
#[tokio::test]
async fn a_database_failure_reaches_the_target_without_the_databases_words() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let platform = add_platform(&app, &host, "db-failure").await;
    let key = common::ClientKey::generate(KeyKind::Ed25519, None);
    let key = app.add_key("k", &key.public_line).await;
    let detail = "leases are frozen by trigger t9";
    if app.database_url_in_force().starts_with("postgres") {
        app.sql(&format!(
            "CREATE FUNCTION refuse_leases() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION '{detail}'; END $$ LANGUAGE plpgsql"
        ))
        .await;
        app.sql("CREATE TRIGGER refuse_leases BEFORE INSERT ON leases FOR EACH ROW EXECUTE FUNCTION refuse_leases()")
            .await;
    } else {
        app.sql(&format!(
            "CREATE TRIGGER refuse_leases BEFORE INSERT ON leases BEGIN SELECT RAISE(ABORT, '{detail}'); END"
        ))
        .await;
    }
    let deploy = format!("/api/platforms/{platform}/deploy_keys");
    let task = app.run_task(&deploy, json!({"key_ids": [key]})).await;
    assert_eq!(task["targets"][0]["status"], "failed", "{task}");
    let error = task["targets"][0]["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("taking the platform's lock: "), "{task}");
    assert!(error.contains("worker's log"), "{task}");
    assert!(
        !error.contains(detail) && !error.contains("database error:"),
        "{task}"
    );
}
