//! The tamper-evident audit log: a keyed hash chain that `testum audit verify` (the real binary)
//! walks, forgeries a database writer can make without the master key (a recomputed SHA-256, a
//! rewritten rule column, a keyed end rewritten unkeyed) found, events of the old unkeyed rule
//! still verified, the chain intact across `testum rotate-master-key`, appends that never fork
//! under concurrent writers on PostgreSQL, events written before the chain adopted once, and the
//! time filters of `GET /api/audit`. Runs on SQLite, and on PostgreSQL when
//! `TESTUM_TEST_DATABASE_URL` is set (the concurrency test always uses PostgreSQL).

use crate::app;
use crate::common;

use app::TestApp;
use common::TestHost;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Row as _;
use testum::crypto::{Keyring, MasterKey};
use testum::store::audit_chain::{ChainedEvent, HashRule, Keying};
use testum::store::{AUDIT_KEY_SETTING, Actor, NewAudit, PoolConfig, Store};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every chained event of the database at `url`, in `seq` order, as stored.
async fn chain_rows(url: &str) -> Vec<ChainedEvent> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let rows = sqlx::query(
        "SELECT seq, id, created_at, actor, action, target, outcome, details, prev_hash, hash,
                hash_rule
         FROM audit_events WHERE seq IS NOT NULL ORDER BY seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.iter()
        .map(|row| ChainedEvent {
            seq: row.get("seq"),
            id: row.get("id"),
            created_at: row.get("created_at"),
            actor: row.get("actor"),
            action: row.get("action"),
            target: row.get("target"),
            outcome: row.get("outcome"),
            details: row.get("details"),
            prev_hash: row.get("prev_hash"),
            rule: row.get::<String, _>("hash_rule").parse().unwrap(),
            hash: row.get("hash"),
        })
        .collect()
}

/// Store `event`'s actor, chain columns and rule over its row, as a forger with SQL would.
async fn overwrite(app: &TestApp, event: &ChainedEvent) {
    app.sql(&format!(
        "UPDATE audit_events SET actor = '{}', prev_hash = '{}', hash = '{}', hash_rule = '{}'
         WHERE id = '{}'",
        event.actor, event.prev_hash, event.hash, event.rule, event.id
    ))
    .await;
}

/// `testum audit verify` on `app`'s database: exit status, stdout, stderr.
async fn verify(app: &TestApp, env: &[(&str, &str)]) -> (bool, String, String) {
    let out = app.admin_command(&["audit", "verify"], env).await;
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// `store` keyed with the master key in `app`'s data dir, as a server would be.
async fn keyed(app: &TestApp, store: Store) -> Store {
    let key = MasterKey::load(&app.data_dir.path().join("master.key"))
        .unwrap()
        .unwrap();
    testum::audit_key::keyed_store(store, &Keyring::new(key, Vec::new()))
        .await
        .unwrap()
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
    let (ok, stdout, stderr) = verify(&app, &[]).await;
    assert!(ok, "{stderr}");
    // A new installation is keyed from its first event on.
    assert!(
        stdout.contains(&format!(
            "audit chain intact: {count} events (0 sha256, {count} hmac-sha256; keyed from seq \
             1), head hash "
        )),
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
    add_platforms(&app, &["a", "b", "c"]).await;
    app.sql("DELETE FROM audit_events WHERE seq = 2").await;
    let broken = app.admin_command(&["audit", "verify"], &[]).await;
    assert!(!broken.status.success());
    let stderr = text(&broken.stderr);
    assert!(stderr.contains("seq 3"), "{stderr}");
    assert!(stderr.contains("expected seq 2"), "{stderr}");
}

/// A fresh reviewer's finding: rows with a seq of 0 or below were never walked, so a forged
/// event with one passed verify and was listed by the API.
#[tokio::test]
async fn an_event_with_a_seq_below_one_is_outside_the_chain() {
    let app = TestApp::start().await;
    add_platforms(&app, &["a"]).await;
    for seq in [0i64, -7] {
        app.sql(&format!(
            "INSERT INTO audit_events (id, created_at, actor, action, target, outcome, details,
                                       seq, prev_hash, hash, hash_rule)
             VALUES ('11111111-2222-4333-8444-55555555555{}', '2026-12-01T23:51:20.000000Z',
                     'alice', 'user.update', 'user:x', 'success', '{{}}', {seq}, 'x', 'y',
                     'hmac-sha256')",
            seq.abs() % 10
        ))
        .await;
        let broken = app.admin_command(&["audit", "verify"], &[]).await;
        let stderr = text(&broken.stderr);
        assert!(!broken.status.success(), "seq {seq}: {stderr}");
        assert!(stderr.contains("outside the chain"), "{stderr}");
        app.sql("DELETE FROM audit_events WHERE actor = 'alice'")
            .await;
    }
}

#[tokio::test]
async fn events_written_before_the_chain_are_chained_once_on_start() {
    let app = TestApp::start().await;
    app.add_key(
        "k",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl a@b",
    )
    .await;
    // The state migration 0005 finds: rows without chain columns (of the only rule there was),
    // adoption pending, and no chain key yet.
    app.sql(
        "UPDATE audit_events SET seq = NULL, prev_hash = NULL, hash = NULL, hash_rule = 'sha256'",
    )
    .await;
    app.sql(&format!(
        "DELETE FROM settings WHERE name = '{AUDIT_KEY_SETTING}'"
    ))
    .await;
    let count = app.get("/api/audit?limit=500").await["items"]
        .as_array()
        .unwrap()
        .len() as u64;
    app.sql(
        "INSERT INTO settings (name, value) SELECT 'audit_chain_adopt', value FROM settings \
         WHERE name = 'master_key_check'",
    )
    .await;
    let store = Store::open(&app.database_url_in_force(), PoolConfig::default())
        .await
        .unwrap();
    let after = store
        .verify_audit_chain(Keying::Unkeyed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((after.count, after.keyed), (count, 0));
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
    let broken = store
        .verify_audit_chain(Keying::Unkeyed)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(broken.id, "00000000-0000-4000-8000-000000000001");
}

#[tokio::test]
async fn audit_time_filters_bound_the_list_and_bad_times_are_422() {
    let app = TestApp::start().await;
    add_platforms(&app, &["a", "b", "c", "d"]).await;
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
    // Two pools stand for two processes: they share nothing but the database and the master
    // key; the first keys the chain, the second finds the key record.
    let ring = Keyring::new(MasterKey::generate(), Vec::new());
    let open = || async {
        let store = Store::open(&url, PoolConfig::default()).await.unwrap();
        testum::audit_key::keyed_store(store, &ring).await.unwrap()
    };
    let (first, second) = (open().await, open().await);
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
    let record = testum::audit_key::find(&first, Some(ring.primary()))
        .await
        .unwrap();
    let head = first
        .verify_audit_chain(record.keying())
        .await
        .unwrap()
        .unwrap();
    // Every write, and `audit.chain_keyed` before them, keyed.
    assert_eq!((head.count, head.keyed), (81, 81));
}

/// Append an event `action` of the system through `store`.
async fn append(store: &Store, action: &str) -> testum::store::StoreResult<()> {
    let event = NewAudit {
        actor: &Actor::system(),
        action,
        target: None,
        outcome: "success",
        details: json!({}),
    };
    store.audit(event).await
}

/// Platforms `names` added (unreachable ones: only their audit events matter).
async fn add_platforms(app: &TestApp, names: &[&str]) {
    for name in names {
        let (status, _) = app
            .post(
                "/api/platforms",
                json!({"name": name, "host": "127.0.0.1", "port": 22,
                   "username": name, "auth_method": "password", "password": "p"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
}

#[tokio::test]
async fn forgeries_without_the_master_key_are_found() {
    let app = TestApp::start().await;
    add_platforms(&app, &["a", "b", "c"]).await;
    let url = app.database_url_in_force();
    let events = chain_rows(&url).await;
    assert!(events.iter().all(|e| e.rule == HashRule::HmacSha256));
    let victim = events[events.len() / 2].clone();

    // An edited event with its hash recomputed by the plain SHA-256 rule, its rule column left.
    let mut forged = victim.clone();
    forged.actor = "mallory".into();
    forged.hash = forged.sha256();
    overwrite(&app, &forged).await;
    let (ok, stdout, stderr) = verify(&app, &[]).await;
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(&format!("seq {} (id {})", victim.seq, victim.id)),
        "{stderr}"
    );
    assert!(stderr.contains("edited"), "{stderr}");

    // The same with the rule column rewritten to match.
    forged.rule = HashRule::Sha256;
    overwrite(&app, &forged).await;
    let (ok, _, stderr) = verify(&app, &[]).await;
    assert!(!ok);
    assert!(stderr.contains(&format!("seq {}", victim.seq)), "{stderr}");
    assert!(stderr.contains("hash_rule was rewritten"), "{stderr}");
    overwrite(&app, &victim).await;
    let (ok, _, stderr) = verify(&app, &[]).await;
    assert!(ok, "{stderr}");

    // Only the rule column of the last event rewritten: its MAC no longer matches any rule.
    let last = events.last().unwrap().clone();
    app.sql(&format!(
        "UPDATE audit_events SET hash_rule = 'sha256' WHERE id = '{}'",
        last.id
    ))
    .await;
    let (ok, _, stderr) = verify(&app, &[]).await;
    assert!(!ok);
    assert!(stderr.contains(&format!("(id {})", last.id)), "{stderr}");
    overwrite(&app, &last).await;

    // Every keyed event rewritten unkeyed, every hash and link recomputed: the chain now looks
    // unkeyed throughout, but the key record says where the keyed part starts.
    let mut prev = testum::store::audit_chain::GENESIS.to_string();
    for event in &events {
        let mut plain = event.clone();
        plain.rule = HashRule::Sha256;
        plain.prev_hash = prev;
        plain.hash = plain.expected_hash(None).unwrap();
        prev = plain.hash.clone();
        overwrite(&app, &plain).await;
    }
    let (ok, _, stderr) = verify(&app, &[]).await;
    assert!(!ok);
    assert!(stderr.contains("seq 1 "), "{stderr}");
    assert!(stderr.contains("keyed from seq 1"), "{stderr}");
    // Without the master key the record cannot be read, yet it exists, so a chain with no keyed
    // event left is refused too.
    let key_file = app.data_dir.path().join("master.key");
    let aside = app.data_dir.path().join("master.key.aside");
    std::fs::rename(&key_file, &aside).unwrap();
    let (ok, _, stderr) = verify(&app, &[]).await;
    assert!(!ok);
    assert!(stderr.contains("without a keyed event"), "{stderr}");
    std::fs::rename(&aside, &key_file).unwrap();
}

#[tokio::test]
async fn without_the_master_key_verify_checks_links_and_says_macs_were_not_checked() {
    let app = TestApp::start().await;
    add_platforms(&app, &["a", "b", "c"]).await;
    let key_file = app.data_dir.path().join("master.key");
    let aside = app.data_dir.path().join("master.key.aside");
    std::fs::rename(&key_file, &aside).unwrap();
    let (ok, stdout, stderr) = verify(&app, &[]).await;
    assert!(!ok && stdout.is_empty(), "{stdout}");
    let count = chain_rows(&app.database_url_in_force()).await.len();
    assert!(
        stderr.contains(&format!(
            "audit chain NOT fully checked: {count} events in order and linked, 0 sha256 hashes \
             checked, but the MACs of {count} hmac-sha256 events were not: no master key"
        )),
        "{stderr}"
    );
    // A broken link still shows without the key.
    app.sql("DELETE FROM audit_events WHERE seq = 2").await;
    let (ok, _, stderr) = verify(&app, &[]).await;
    assert!(!ok);
    assert!(stderr.contains("expected seq 2"), "{stderr}");
    // The key given in the environment instead of the file.
    let key = std::fs::read_to_string(&aside).unwrap();
    let (ok, _, stderr) = verify(&app, &[("TESTUM_MASTER_KEY", key.trim())]).await;
    assert!(!ok);
    assert!(stderr.contains("expected seq 2"), "{stderr}");
}

#[tokio::test]
async fn events_of_the_old_unkeyed_rule_still_verify_before_the_keyed_ones() {
    // A database as testum wrote it before the chain was keyed: plain SHA-256 events.
    let (url, _dir) = match app::test_database_url().await {
        Some(url) => (url, None),
        None => {
            let dir = tempfile::tempdir().unwrap();
            (Store::sqlite_url(&dir.path().join("old.db")), Some(dir))
        }
    };
    let old = Store::open(&url, PoolConfig::default()).await.unwrap();
    for i in 0..3 {
        old.audit(NewAudit {
            actor: &Actor::system(),
            action: "test.old",
            target: Some(format!("n:{i}")),
            outcome: "success",
            details: json!({"i": i}),
        })
        .await
        .unwrap();
    }
    old.close().await;
    let old_events = chain_rows(&url).await;
    assert!(old_events.iter().all(|e| e.rule == HashRule::Sha256));

    // The upgraded service starts on it and keys the chain from seq 4 on.
    let app = TestApp::start_with(|config| config.settings.database_url = Some(url.clone())).await;
    add_platforms(&app, &["a", "b", "c"]).await;
    let events = chain_rows(&url).await;
    assert_eq!(&events[..3], &old_events[..]);
    assert_eq!(events[3].action, "audit.chain_keyed");
    assert!(events[3..].iter().all(|e| e.rule == HashRule::HmacSha256));
    let (ok, stdout, stderr) = verify(&app, &[]).await;
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "{} events (3 sha256, {} hmac-sha256; keyed from seq 4)",
            events.len(),
            events.len() - 3
        )),
        "{stdout}"
    );
    // An old event edited and its SHA-256 recomputed: the first keyed event's link to it, which
    // its MAC covers, breaks.
    let mut forged = events[2].clone();
    forged.actor = "mallory".into();
    forged.hash = forged.expected_hash(None).unwrap();
    overwrite(&app, &forged).await;
    let (ok, _, stderr) = verify(&app, &[]).await;
    assert!(!ok);
    assert!(stderr.contains("seq 4 "), "{stderr}");
    assert!(stderr.contains("prev_hash"), "{stderr}");
    // A process without the master key may not append to a keyed chain.
    overwrite(&app, &events[2]).await;
    let keyless = Store::open(&url, PoolConfig::default()).await.unwrap();
    let refused = append(&keyless, "test.keyless").await.unwrap_err();
    assert!(refused.to_string().contains("chain is keyed"), "{refused}");
    let keyed = keyed(&app, keyless).await;
    append(&keyed, "test.keyed").await.unwrap();
    let (ok, _, stderr) = verify(&app, &[]).await;
    assert!(ok, "{stderr}");
}

#[tokio::test]
async fn the_chain_verifies_after_rotate_master_key() {
    let mut app = TestApp::start().await;
    add_platforms(&app, &["a", "b", "c"]).await;
    app.shutdown_worker(std::time::Duration::from_secs(5)).await;
    let before = chain_rows(&app.database_url_in_force()).await;
    let rotated = app.admin_command(&["rotate-master-key"], &[]).await;
    assert!(rotated.status.success(), "{}", text(&rotated.stderr));
    let (ok, stdout, stderr) = verify(&app, &[]).await;
    assert!(ok, "{stderr}");
    // The rotation is itself a keyed event; no earlier event was rewritten.
    let after = chain_rows(&app.database_url_in_force()).await;
    assert_eq!(&after[..before.len()], &before[..]);
    assert_eq!(after.last().unwrap().action, "master_key.rotate");
    assert!(
        stdout.contains(&format!(
            "{n} events (0 sha256, {n} hmac-sha256; keyed from seq 1)",
            n = after.len()
        )),
        "{stdout}"
    );
    // A server started with the new key appends keyed events the chain accepts.
    let mut config = app::config(app.data_dir.path().to_path_buf());
    config.settings.database_url = app.database_url.clone();
    let state = testum::server::prepare(&config).await.unwrap();
    append(&state.store, "test.after_rotation").await.unwrap();
    let (ok, _, stderr) = verify(&app, &[]).await;
    assert!(ok, "{stderr}");
    // Another master key does not open the key record: verify with it is refused, naming it.
    let other = MasterKey::generate().to_base64();
    let (ok, _, stderr) = verify(&app, &[("TESTUM_MASTER_KEY", &other)]).await;
    assert!(!ok);
    assert!(stderr.contains("audit chain key record"), "{stderr}");
}
