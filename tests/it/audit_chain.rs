//! The tamper-evident audit log: a hash chain that `testum audit verify` (the real binary) walks,
//! appends that never fork under concurrent writers on PostgreSQL, events written before the
//! chain adopted once, and the time filters of `GET /api/audit`. Runs on SQLite, and on
//! PostgreSQL when `TESTUM_TEST_DATABASE_URL` is set (the concurrency test always uses
//! PostgreSQL).

use crate::app;
use crate::common;

use app::TestApp;
use common::TestHost;
use reqwest::{Method, StatusCode};
use serde_json::json;
use testum::store::{Actor, NewAudit, PoolConfig, Store};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn verify_passes_after_real_activity_and_names_an_edited_event() {
    let mut host = TestHost::start();
    let app = TestApp::start().await;
    // Real activity: a failed login, a platform, a command, a refused host key.
    let (status, _) = app
        .call_anon(
            Method::POST,
            "/api/auth/login",
            Some(json!({"username": "admin", "password": "wrong"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let platform = app
        .add_password_platform(
            "web1",
            host.sshd.port(),
            &host.user.name,
            &host.user.password,
        )
        .await;
    let path = format!("/api/platforms/{platform}/run_command");
    let task = app.run_task(&path, json!({"command": "true"})).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    host.sshd.restart_with_new_host_keys();
    let task = app.run_task(&path, json!({"command": "true"})).await;
    assert_eq!(task["status"], "failed", "{task}");

    let failed = app.get("/api/audit?action=auth.login").await;
    assert!(
        failed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["outcome"] == "failure" && e["actor"] == "admin"),
        "failed login not audited: {failed}"
    );
    let refused = app.get("/api/audit?action=host_key.mismatch").await;
    assert_eq!(refused["items"][0]["outcome"], "denied", "{refused}");
    assert_eq!(
        refused["items"][0]["target"],
        format!("platform:{platform}")
    );

    let all = app.get("/api/audit?limit=500").await;
    let count = all["items"].as_array().unwrap().len();
    let verified = app.admin_command(&["audit", "verify"], &[]).await;
    assert!(verified.status.success(), "{}", text(&verified.stderr));
    let stdout = text(&verified.stdout);
    assert!(
        stdout.contains(&format!("audit chain intact: {count} events, head hash ")),
        "{stdout}"
    );

    // One column of one event edited with SQL: verify fails and names that event.
    let victim = &all["items"][count / 2];
    let id = victim["id"].as_str().unwrap();
    app.sql(&format!(
        "UPDATE audit_events SET actor = 'mallory' WHERE id = '{id}'"
    ))
    .await;
    let broken = app.admin_command(&["audit", "verify"], &[]).await;
    assert!(!broken.status.success());
    let stderr = text(&broken.stderr);
    assert!(stderr.contains(&format!("(id {id})")), "{stderr}");
    assert!(stderr.contains("edited"), "{stderr}");
    assert!(broken.stdout.is_empty());
}

#[tokio::test]
async fn a_deleted_event_breaks_the_chain_at_the_next_one() {
    let app = TestApp::start().await;
    for name in ["a", "b", "c"] {
        let (status, _) = app
            .post(
                "/api/platforms",
                json!({"name": name, "host": "127.0.0.1", "port": 22,
                   "username": name, "auth_method": "password", "password": "p"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    app.sql("DELETE FROM audit_events WHERE seq = 2").await;
    let broken = app.admin_command(&["audit", "verify"], &[]).await;
    assert!(!broken.status.success());
    let stderr = text(&broken.stderr);
    assert!(stderr.contains("seq 3"), "{stderr}");
    assert!(stderr.contains("expected seq 2"), "{stderr}");
}

#[tokio::test]
async fn events_written_before_the_chain_are_chained_once_on_start() {
    let app = TestApp::start().await;
    app.add_key(
        "k",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b",
    )
    .await;
    let before = app.store().verify_audit_chain().await.unwrap().unwrap();
    // The state migration 0005 finds: rows without chain columns, adoption pending.
    app.sql("UPDATE audit_events SET seq = NULL, prev_hash = NULL, hash = NULL")
        .await;
    app.sql(
        "INSERT INTO settings (name, value) SELECT 'audit_chain_adopt', value FROM settings \
         WHERE name = 'master_key_check'",
    )
    .await;
    let store = Store::open(&app.database_url_in_force(), PoolConfig::default())
        .await
        .unwrap();
    let after = store.verify_audit_chain().await.unwrap().unwrap();
    assert_eq!(after.count, before.count);
    // Adoption happens once: a row written later without chain columns is reported.
    app.sql(
        "INSERT INTO audit_events (id, created_at, actor, action, outcome, details) VALUES \
         ('00000000-0000-4000-8000-000000000001', '2026-01-01T00:00:00.000000Z', 'mallory', \
          'cover.up', 'success', '{}')",
    )
    .await;
    let store = Store::open(&app.database_url_in_force(), PoolConfig::default())
        .await
        .unwrap();
    let broken = store.verify_audit_chain().await.unwrap().unwrap_err();
    assert_eq!(broken.id, "00000000-0000-4000-8000-000000000001");
}

#[tokio::test]
async fn audit_time_filters_bound_the_list_and_bad_times_are_422() {
    let app = TestApp::start().await;
    for name in ["a", "b", "c", "d"] {
        let (status, _) = app
            .post(
                "/api/platforms",
                json!({"name": name, "host": "127.0.0.1", "port": 22,
                   "username": name, "auth_method": "password", "password": "p"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let all = app.get("/api/audit?limit=500").await;
    let items = all["items"].as_array().unwrap();
    let pivot = items[items.len() / 2]["created_at"].as_str().unwrap();
    let ids = |filter: &str, keep: &dyn Fn(&str) -> bool| {
        let expected: Vec<_> = items
            .iter()
            .filter(|e| keep(e["created_at"].as_str().unwrap()))
            .map(|e| e["id"].clone())
            .collect();
        (filter.to_string(), expected)
    };
    for (filter, expected) in [
        ids(&format!("since={pivot}"), &|t| t >= pivot),
        ids(&format!("until={pivot}"), &|t| t < pivot),
        ids(&format!("since={pivot}&until={pivot}"), &|_| false),
    ] {
        let got = app.get(&format!("/api/audit?limit=500&{filter}")).await;
        let got: Vec<_> = got["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].clone())
            .collect();
        assert_eq!(got, expected, "{filter}");
    }
    for field in ["since", "until"] {
        let (status, body) = app
            .call(Method::GET, &format!("/api/audit?{field}=yesterday"), None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_in_two_pools_never_fork_the_chain_on_postgres() {
    let server = std::env::var("TESTUM_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let url = app::new_postgres_database(&server).await;
    // Two pools stand for two processes: they share nothing but the database.
    let first = Store::open(&url, PoolConfig::default()).await.unwrap();
    let second = Store::open(&url, PoolConfig::default()).await.unwrap();
    let write = |store: Store, name: &'static str| async move {
        let actor = Actor {
            user_id: None,
            name: name.into(),
        };
        let writes = (0..40).map(|i| {
            let (store, actor) = (store.clone(), actor.clone());
            async move {
                store
                    .audit(NewAudit {
                        actor: &actor,
                        action: "test.write",
                        target: Some(format!("n:{i}")),
                        outcome: "success",
                        details: json!({"i": i}),
                    })
                    .await
            }
        });
        futures::future::join_all(writes).await
    };
    let (a, b) = tokio::join!(
        tokio::spawn(write(first.clone(), "one")),
        tokio::spawn(write(second, "two"))
    );
    for result in a.unwrap().into_iter().chain(b.unwrap()) {
        result.expect("every concurrent append succeeds");
    }
    let head = first.verify_audit_chain().await.unwrap().unwrap();
    assert_eq!(head.count, 80);
}
