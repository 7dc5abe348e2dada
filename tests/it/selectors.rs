//! Selectors resolved against a real database (SQLite, or PostgreSQL with
//! `TESTUM_TEST_DATABASE_URL`): `Store::select_platforms`, and the API that uses selectors.

use crate::app;

use app::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
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

/// A small fleet on documentation addresses (nothing answers there): web-1 (prod, in_sync), web-2 (staging, drift), db-1 (prod, unreachable),
/// bastion (no tags, never scanned).
async fn fleet(app: &TestApp) -> Vec<String> {
    let web1 = platform(app, "web-1", "192.0.2.1", &["web", "env=prod"]).await;
    let web2 = platform(app, "web-2", "192.0.2.2", &["web", "env=staging"]).await;
    let db1 = platform(app, "db-1", "192.0.2.101", &["db", "env=prod"]).await;
    let bastion = platform(app, "bastion", "198.51.100.10", &[]).await;
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
        selected(&app, "host:192.0.2.*").await,
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

/// `path?selector=<text>` (plus `rest`), the selector URL-encoded.
fn with_selector(path: &str, text: &str, rest: &str) -> String {
    format!(
        "{path}?{}{rest}",
        serde_urlencoded::to_string([("selector", text)]).unwrap()
    )
}

fn names(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// The 422 of `path`: its `selector` field error's message.
async fn selector_error(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> String {
    let (status, problem) = app.call(method, path, body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let errors = problem["errors"].as_array().unwrap();
    let error = errors
        .iter()
        .find(|e| e["field"] == "selector")
        .unwrap_or_else(|| panic!("no selector error in {problem}"));
    error["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_platform_list_is_filtered_and_still_paged() {
    let app = TestApp::start().await;
    fleet(&app).await;
    let page = app
        .get(&with_selector(
            "/api/platforms",
            "tag:web and not tag:db",
            "",
        ))
        .await;
    // Newest first, like the unfiltered list.
    assert_eq!(names(&page["items"]), ["web-2", "web-1"]);
    assert!(page["next_cursor"].is_null());
    let page = app
        .get(&with_selector(
            "/api/platforms",
            "env=prod",
            "&state=unreachable",
        ))
        .await;
    assert_eq!(names(&page["items"]), ["db-1"]);
    // One at a time through the cursor.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app
            .get(&with_selector(
                "/api/platforms",
                "not name:web-2",
                &format!("&limit=1{cursor}"),
            ))
            .await;
        seen.extend(names(&page["items"]));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["bastion", "db-1", "web-1"]);
    // A blank selector is no filter.
    let page = app.get(&with_selector("/api/platforms", " ", "")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 4);
    // A syntax error is a 422 naming the field, with position and reason.
    let message = selector_error(
        &app,
        Method::GET,
        &with_selector("/api/platforms", "tag:web and", ""),
        None,
    )
    .await;
    assert_eq!(message, "at position 12: expected a selector after 'and'");
    let message = selector_error(
        &app,
        Method::GET,
        &with_selector("/api/platforms", "colour:red", ""),
        None,
    )
    .await;
    assert!(
        message.starts_with("at position 1: unknown field 'colour'"),
        "{message}"
    );
}

#[tokio::test]
async fn match_counts_and_names_the_first_platforms() {
    let app = TestApp::start().await;
    fleet(&app).await;
    let found = app
        .get(&with_selector("/api/platforms/match", "  env=prod  ", ""))
        .await;
    assert_eq!(found["selector"], "tag:env=prod");
    assert_eq!(found["count"], 2);
    assert_eq!(names(&found["platforms"]), ["db-1", "web-1"]);
    assert!(found["platforms"][0]["id"].is_string());
    let none = app
        .get(&with_selector("/api/platforms/match", "tag:nothing", ""))
        .await;
    assert_eq!(none["count"], 0);
    assert_eq!(none["platforms"], json!([]));
    let message = selector_error(
        &app,
        Method::GET,
        &with_selector("/api/platforms/match", "(tag:web", ""),
        None,
    )
    .await;
    assert!(
        message.starts_with("at position 9: expected ')'"),
        "{message}"
    );
    let message = selector_error(&app, Method::GET, "/api/platforms/match", None).await;
    assert_eq!(message, "is required");
    // Many platforms: the count is all of them, the list the first 20 by name.
    for i in 0..25 {
        platform(
            &app,
            &format!("n-{i:02}"),
            &format!("203.0.113.{i}"),
            &["many"],
        )
        .await;
    }
    let many = app
        .get(&with_selector("/api/platforms/match", "tag:many", ""))
        .await;
    assert_eq!(many["count"], 25);
    let listed = names(&many["platforms"]);
    assert_eq!(listed.len(), 20);
    assert_eq!(listed.first().unwrap(), "n-00");
    assert_eq!(listed.last().unwrap(), "n-19");
}

#[tokio::test]
async fn a_task_by_selector_stores_it_and_targets_what_it_matched() {
    let app = TestApp::start().await;
    let ids = fleet(&app).await;
    let task = app
        .queue(
            "/api/tasks",
            json!({"kind": "scan", "selector": "env=prod and not state:in_sync or name:bastion"}),
        )
        .await;
    let task = app.get(&format!("/api/tasks/{task}")).await;
    assert_eq!(
        task["selector"],
        "tag:env=prod and not state:in_sync or name:bastion"
    );
    let mut targets: Vec<&str> = task["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["platform_id"].as_str().unwrap())
        .collect();
    targets.sort();
    let mut expected = vec![ids[2].as_str(), ids[3].as_str()];
    expected.sort();
    assert_eq!(targets, expected);
    // The list of tasks shows it too.
    let list = app.get("/api/tasks").await;
    assert_eq!(
        list["items"][0]["selector"],
        "tag:env=prod and not state:in_sync or name:bastion"
    );
    // A task by platform_ids has no selector.
    let other = app
        .queue(
            "/api/tasks",
            json!({"kind": "scan", "platform_ids": [ids[0]]}),
        )
        .await;
    assert!(app.get(&format!("/api/tasks/{other}")).await["selector"].is_null());
}

#[tokio::test]
async fn a_task_selector_that_matches_nothing_or_does_not_parse_is_refused() {
    let app = TestApp::start().await;
    let ids = fleet(&app).await;
    let count = || async {
        app.get("/api/tasks").await["items"]
            .as_array()
            .unwrap()
            .len()
    };
    let message = selector_error(
        &app,
        Method::POST,
        "/api/tasks",
        Some(json!({"kind": "scan", "selector": "tag:nothing"})),
    )
    .await;
    assert_eq!(message, "matches no platform: tag:nothing");
    let message = selector_error(
        &app,
        Method::POST,
        "/api/tasks",
        Some(json!({"kind": "run_command", "command": "true", "selector": "tag:web or"})),
    )
    .await;
    assert_eq!(message, "at position 11: expected a selector after 'or'");
    let message = selector_error(
        &app,
        Method::POST,
        "/api/tasks",
        Some(json!({"kind": "scan", "selector": "tag:web", "platform_ids": [ids[0]]})),
    )
    .await;
    assert_eq!(message, "give platform_ids or selector, not both");
    let message = selector_error(
        &app,
        Method::POST,
        "/api/tasks",
        Some(json!({"kind": "scan", "selector": "  "})),
    )
    .await;
    assert_eq!(message, "must not be blank");
    assert_eq!(count().await, 0, "no task was created");
}

const ED25519: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDjB5N8UWg4fMoiJnlr0FMQQghSIp5o2WJvFyZNBe8H1 bob@example";

#[tokio::test]
async fn a_selector_narrows_an_offboarding_like_platform_ids() {
    let app = TestApp::start().await;
    let ids = fleet(&app).await;
    let key = app.add_owned_key("bob", "bob", ED25519).await;
    // Assigned on web-1, web-2 and db-1 (the deploy cannot reach them; the assignments stay).
    app.queue(
        "/api/tasks",
        json!({"kind": "deploy_keys", "key_ids": [key], "platform_ids": [ids[0], ids[1], ids[2]]}),
    )
    .await;
    let task = app
        .queue(
            "/api/tasks",
            json!({"kind": "revoke_keys", "owner": "bob", "selector": "env=prod", "dry_run": true}),
        )
        .await;
    let task = app.get(&format!("/api/tasks/{task}")).await;
    assert_eq!(task["selector"], "tag:env=prod");
    assert_eq!(task["owner"], "bob");
    let mut targets: Vec<&str> = task["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["platform_name"].as_str().unwrap())
        .collect();
    targets.sort();
    assert_eq!(targets, ["db-1", "web-1"]);
    // Matching only platforms where bob has no key: the owner's 422, as with platform_ids.
    let (status, problem) = app
        .post(
            "/api/tasks",
            json!({"kind": "revoke_keys", "owner": "bob", "selector": "name:bastion"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "owner");
}
