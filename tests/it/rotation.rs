//! Rotation and offboarding against real OpenSSH servers (issue 10, item 6): replacing a key
//! everywhere it is assigned, and revoking every key of an owner as one task; proved with real
//! `ssh` logins.

use crate::app;
use crate::common;

use app::TestApp;
use common::{ClientKey, KeyKind, TestHost};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn platform(app: &TestApp, host: &TestHost, name: &str) -> String {
    app.add_password_platform(name, host.sshd.port(), &host.user.name, &host.user.password)
        .await
}

fn target<'a>(task: &'a Value, platform: &str) -> &'a Value {
    task["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["platform_id"] == platform)
        .unwrap_or_else(|| panic!("no target for {platform} in {task}"))
}

fn assignment(keys: &Value, key: &str) -> Option<Value> {
    keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["key_id"] == key)
        .cloned()
}

#[tokio::test]
async fn replace_puts_the_new_key_where_the_old_was_and_removes_the_old_only_where_it_landed() {
    let web = TestHost::start();
    let db = TestHost::start();
    let app = TestApp::start().await;
    let web_id = platform(&app, &web, "web1").await;
    let db_id = platform(&app, &db, "db1").await;
    let old = ClientKey::generate(KeyKind::Ed25519, None);
    let new = ClientKey::generate(KeyKind::Ed25519, None);
    let old_id = app
        .add_owned_key("alice-2025", "alice", &old.public_line)
        .await;
    let new_id = app
        .add_owned_key("alice-2026", "alice", &new.public_line)
        .await;
    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "deploy_keys", "platform_ids": [web_id, db_id], "key_ids": [old_id],
                   "options": {old_id.as_str(): {"no-port-forwarding": true}}}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");

    // db1's .ssh becomes read-only: the replacement cannot land there.
    db.user.mkdir(".ssh", 0o500);
    let (status, accepted) = app
        .post(
            &format!("/api/keys/{old_id}/replace"),
            json!({"new_key_id": new_id}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let task = app.wait_task(accepted["task_id"].as_str().unwrap()).await;
    db.user.mkdir(".ssh", 0o700);
    assert_eq!(task["kind"], "replace_key");
    assert_eq!(target(&task, &web_id)["status"], "succeeded", "{task}");
    assert_eq!(target(&task, &db_id)["status"], "failed", "{task}");

    assert!(
        web.ssh_login_works(&new),
        "the new key does not log in on web1"
    );
    assert!(
        !web.ssh_login_works(&old),
        "the old key still logs in on web1"
    );
    assert!(
        db.ssh_login_works(&old),
        "the old key was removed where the new one did not land"
    );
    assert!(!db.ssh_login_works(&new));

    let keys = app.get(&format!("/api/platforms/{web_id}/keys")).await;
    let replaced = assignment(&keys, &new_id).expect("new key assigned on web1");
    assert_eq!(
        replaced["options"],
        json!({"no-port-forwarding": true}),
        "{keys}"
    );
    assert_eq!(replaced["sync_status"], "present");
    assert!(assignment(&keys, &old_id).is_none(), "{keys}");
    let keys = app.get(&format!("/api/platforms/{db_id}/keys")).await;
    assert_eq!(
        assignment(&keys, &old_id).unwrap()["sync_status"],
        "revoking",
        "db1 still has the old key: {keys}"
    );
    // A scan of db1 says the old line is testum's, waiting to be removed, not a hand edit.
    let scan = app
        .run_task(
            "/api/tasks",
            json!({"kind": "scan", "platform_ids": [db_id]}),
        )
        .await;
    assert_eq!(scan["status"], "succeeded", "{scan}");
    let scan = app.get(&format!("/api/platforms/{db_id}/scan")).await;
    let kinds: Vec<&str> = scan["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"managed_leaving"), "{scan}");
    assert!(!kinds.contains(&"managed_changed"), "{scan}");
    let access = app
        .get(&format!("/api/access?platform_id={db_id}&key_id={old_id}"))
        .await;
    assert_eq!(access["items"][0]["managed"], true, "{access}");

    // Bad requests change nothing.
    let (status, problem) = app
        .post(
            &format!("/api/keys/{old_id}/replace"),
            json!({"new_key_id": old_id}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "new_key_id");
    let (status, problem) = app
        .post(
            &format!("/api/keys/{new_id}/replace"),
            json!({"new_key_id": uuid::Uuid::new_v4().to_string()}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let unassigned = ClientKey::generate(KeyKind::Ed25519, None);
    let unassigned_id = app
        .add_owned_key("spare", "alice", &unassigned.public_line)
        .await;
    let (status, problem) = app
        .post(
            &format!("/api/keys/{unassigned_id}/replace"),
            json!({"new_key_id": new_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
}

#[tokio::test]
async fn revoking_by_owner_takes_every_key_of_a_person_off_every_host_as_one_task() {
    let web = TestHost::start();
    let db = TestHost::start();
    let app = TestApp::start().await;
    let web_id = platform(&app, &web, "web1").await;
    let db_id = platform(&app, &db, "db1").await;
    let laptop = ClientKey::generate(KeyKind::Ed25519, None);
    let desktop = ClientKey::generate(KeyKind::Ecdsa, None);
    let bob = ClientKey::generate(KeyKind::Ed25519, None);
    let laptop_id = app
        .add_owned_key("alice-laptop", "alice", &laptop.public_line)
        .await;
    let desktop_id = app
        .add_owned_key("alice-desktop", "alice", &desktop.public_line)
        .await;
    let bob_id = app
        .add_owned_key("bob-laptop", "bob", &bob.public_line)
        .await;
    for (platforms, keys) in [
        (json!([web_id, db_id]), json!([laptop_id, bob_id])),
        (json!([db_id]), json!([desktop_id])),
    ] {
        let task = app
            .run_task(
                "/api/tasks",
                json!({"kind": "deploy_keys", "platform_ids": platforms, "key_ids": keys}),
            )
            .await;
        assert_eq!(task["status"], "succeeded", "{task}");
    }

    // A dry run shows what would go and changes nothing.
    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "revoke_keys", "owner": "alice", "dry_run": true}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert!(db.ssh_login_works(&desktop));

    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "revoke_keys", "owner": "alice"}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["owner"], "alice", "{task}");
    assert_eq!(task["targets"].as_array().unwrap().len(), 2, "{task}");
    for host in [&web, &db] {
        assert!(
            !host.ssh_login_works(&laptop),
            "alice's laptop still logs in"
        );
        assert!(
            !host.ssh_login_works(&desktop),
            "alice's desktop still logs in"
        );
        assert!(host.ssh_login_works(&bob), "bob lost access");
    }
    // One audited action naming the owner and every target.
    let audit = app
        .get(&format!(
            "/api/audit?action=task.create&target=task:{}",
            task["id"].as_str().unwrap()
        ))
        .await;
    let created = &audit["items"][0];
    assert_eq!(created["action"], "task.create", "{audit}");
    assert_eq!(created["details"]["owner"], "alice");
    assert_eq!(
        created["details"]["platform_ids"].as_array().unwrap().len(),
        2
    );

    // An empty platform list is never "everywhere".
    let (status, problem) = app
        .post(
            "/api/tasks",
            json!({"kind": "revoke_keys", "owner": "bob", "platform_ids": []}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "platform_ids", "{problem}");
    assert!(web.ssh_login_works(&bob));
    // Nothing left to revoke, or nobody by that name: a 422 naming the field.
    for owner in ["alice", "nobody"] {
        let (status, problem) = app
            .post("/api/tasks", json!({"kind": "revoke_keys", "owner": owner}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["errors"][0]["field"], "owner", "{problem}");
    }
    let (status, problem) = app
        .post(
            "/api/tasks",
            json!({"kind": "deploy_keys", "owner": "bob", "platform_ids": [web_id]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
}

#[tokio::test]
async fn a_replacement_never_changes_another_persons_or_another_restriction() {
    let web = TestHost::start();
    let app = TestApp::start().await;
    let web_id = platform(&app, &web, "web1").await;
    let (old, restricted, bobs) = (
        ClientKey::generate(KeyKind::Ed25519, None),
        ClientKey::generate(KeyKind::Ed25519, None),
        ClientKey::generate(KeyKind::Ed25519, None),
    );
    let old_id = app
        .add_owned_key("alice-old", "alice", &old.public_line)
        .await;
    let restricted_id = app
        .add_owned_key("alice-new", "alice", &restricted.public_line)
        .await;
    let bob_id = app.add_owned_key("bob", "bob", &bobs.public_line).await;
    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "deploy_keys", "platform_ids": [web_id],
                   "key_ids": [old_id, restricted_id],
                   "options": {restricted_id.as_str(): {"restrict": true, "from": "10.0.0.0/8"}}}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let before = web.user.read_file(".ssh/authorized_keys");

    // The new key is already there with other options: replacing would loosen them.
    let (status, problem) = app
        .post(
            &format!("/api/keys/{old_id}/replace"),
            json!({"new_key_id": restricted_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("web1"),
        "{problem}"
    );
    // Another person's key: refused, naming both owners.
    let (status, problem) = app
        .post(
            &format!("/api/keys/{old_id}/replace"),
            json!({"new_key_id": bob_id}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "new_key_id");
    assert_eq!(web.user.read_file(".ssh/authorized_keys"), before);
    assert!(
        app.get("/api/tasks?kind=replace_key").await["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn testum_never_revokes_the_key_it_logs_in_with() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let login = host.authorized_key(KeyKind::Ed25519);
    let (status, created) = app
        .post(
            "/api/platforms",
            json!({"name": "web1", "host": "127.0.0.1", "port": host.sshd.port(),
                   "username": host.user.name, "auth_method": "private_key",
                   "private_key": login.private_pem}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    // Someone registers the login key as "ops" and deploys it; then the hand-made copy goes.
    let ops = app.add_owned_key("ops", "ops", &login.public_line).await;
    let task = app
        .run_task(
            &format!("/api/platforms/{id}/deploy_keys"),
            json!({"key_ids": [ops]}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let file = String::from_utf8(host.user.read_file(".ssh/authorized_keys")).unwrap();
    let only_managed: String = file
        .lines()
        .skip_while(|l| !l.starts_with("# BEGIN"))
        .map(|l| format!("{l}\n"))
        .collect();
    host.user
        .write_file(".ssh/authorized_keys", only_managed.as_bytes(), 0o600);

    // Options that would stop testum's own login (from= elsewhere): refused, nothing written.
    let task = app
        .run_task(
            &format!("/api/platforms/{id}/deploy_keys"),
            json!({"key_ids": [ops], "options": {ops.as_str(): {"from": "10.9.9.9"}}}),
        )
        .await;
    assert_eq!(task["status"], "failed", "{task}");
    assert!(
        task["targets"][0]["error"]
            .as_str()
            .unwrap()
            .contains("the key testum logs in with"),
        "{task}"
    );
    assert_eq!(
        host.user.read_file(".ssh/authorized_keys"),
        only_managed.as_bytes()
    );
    // Offboarding "ops" would remove the key testum logs in with: refused, nothing written.
    let task = app
        .run_task("/api/tasks", json!({"kind": "revoke_keys", "owner": "ops"}))
        .await;
    assert_eq!(task["status"], "failed", "{task}");
    let error = task["targets"][0]["error"].as_str().unwrap();
    assert!(error.contains("the key testum logs in with"), "{error}");
    assert_eq!(
        host.user.read_file(".ssh/authorized_keys"),
        only_managed.as_bytes()
    );
    assert!(host.ssh_login_works(&login), "testum locked itself out");
}
