//! Selectors resolved against a real database (SQLite, or PostgreSQL with
//! `TESTUM_TEST_DATABASE_URL`): `Store::select_platforms`, and the API that uses selectors.

mod app;

use app::TestApp;
use reqwest::StatusCode;
use serde_json::json;
use testum::selector::Selector;
use testum::ssh::{AuthMethod, HostKeyPolicy};
use testum::store::{Actor, NewPlatform};
use uuid::Uuid;

/// Register a password platform with `host` and `tags`; its id.
async fn platform(app: &TestApp, name: &str, host: &str, tags: &[&str]) -> String {
    let (status, body) = app
        .post(
            "/api/platforms",
            json!({"name": name, "host": host, "port": 22, "username": "deploy",
                   "auth_method": "password", "password": "pw", "tags": tags}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_string()
}

/// Give platform `id` a latest scan in `state`, behind the API's back.
async fn set_state(app: &TestApp, id: &str, state: &str) {
    app.sql(&format!(
        "INSERT INTO platform_scans (platform_id, state, scanned_at, lines, findings) \
         VALUES ('{id}', '{state}', '2026-01-01T00:00:00.000000Z', '[]', '[]')"
    ))
    .await;
}

/// A small fleet: web-1 (prod, in_sync), web-2 (staging, drift), db-1 (prod, unreachable),
/// bastion (no tags, never scanned).
async fn fleet(app: &TestApp) -> Vec<String> {
    let web1 = platform(app, "web-1", "10.0.0.1", &["web", "env=prod"]).await;
    let web2 = platform(app, "web-2", "10.0.0.2", &["web", "env=staging"]).await;
    let db1 = platform(app, "db-1", "10.0.1.1", &["db", "env=prod"]).await;
    let bastion = platform(app, "bastion", "192.168.1.10", &[]).await;
    set_state(app, &web1, "in_sync").await;
    set_state(app, &web2, "drift").await;
    set_state(app, &db1, "unreachable").await;
    vec![web1, web2, db1, bastion]
}

async fn selected(app: &TestApp, text: &str) -> Vec<String> {
    let selector: Selector = text.parse().unwrap();
    app.store()
        .select_platforms(&selector)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, name)| name)
        .collect()
}

#[tokio::test]
async fn the_store_resolves_selectors_by_name_order() {
    let app = TestApp::start().await;
    let ids = fleet(&app).await;
    assert_eq!(
        selected(&app, "all").await,
        ["bastion", "db-1", "web-1", "web-2"]
    );
    assert_eq!(
        selected(&app, "tag:web and not tag:db").await,
        ["web-1", "web-2"]
    );
    assert_eq!(selected(&app, "env=prod").await, ["db-1", "web-1"]);
    assert_eq!(selected(&app, "name:web-*").await, ["web-1", "web-2"]);
    assert_eq!(
        selected(&app, "host:10.0.*").await,
        ["db-1", "web-1", "web-2"]
    );
    assert_eq!(
        selected(&app, "state:drift or state:unreachable").await,
        ["db-1", "web-2"]
    );
    assert_eq!(selected(&app, "state:never_scanned").await, ["bastion"]);
    assert_eq!(
        selected(
            &app,
            "(tag:web or tag:db) and env=prod and not state:in_sync"
        )
        .await,
        ["db-1"]
    );
    assert!(selected(&app, "tag:nothing").await.is_empty());
    // Ids come with the names.
    let selector: Selector = "name:bastion".parse().unwrap();
    let found = app.store().select_platforms(&selector).await.unwrap();
    assert_eq!(
        found,
        [(Uuid::parse_str(&ids[3]).unwrap(), "bastion".to_string())]
    );
}

#[tokio::test]
async fn the_store_reads_every_page_of_a_large_fleet() {
    let app = TestApp::start().await;
    let store = app.store();
    // More than one page (1000 a page) of platforms.
    for i in 0..1203u32 {
        let id = Uuid::new_v4();
        store
            .create_platform(
                &Actor::system(),
                NewPlatform {
                    id,
                    name: format!("host-{i:04}"),
                    host: format!("10.1.{}.{}", i / 256, i % 256),
                    port: 22,
                    username: "deploy".into(),
                    auth_method: AuthMethod::Password,
                    credential: vec![0],
                    host_key_policy: HostKeyPolicy::Tofu,
                    host_key_type: None,
                    host_key_fingerprint: None,
                    authorized_keys_path: ".ssh/authorized_keys".into(),
                    tags: if i % 2 == 0 {
                        vec!["even".into()]
                    } else {
                        vec![]
                    },
                    exclusive: false,
                },
            )
            .await
            .unwrap();
    }
    let all = selected(&app, "all").await;
    assert_eq!(all.len(), 1203);
    assert!(all.windows(2).all(|w| w[0] < w[1]), "ordered by name");
    let even = selected(&app, "tag:even").await;
    assert_eq!(even.len(), 602);
    assert_eq!(even.last().unwrap(), "host-1202");
    assert_eq!(selected(&app, "name:host-1*").await.len(), 203);
}
