//! `GET /api/platforms` at fleet scale: search (`q`), host-key status, sort orders with their
//! own cursors, page sizes, each bad field a 422 naming it; and the same set through the
//! `text:` and `host_key:` selector atoms (`GET /api/platforms/match`). SQLite, and PostgreSQL
//! with `TESTUM_TEST_DATABASE_URL`.

use crate::api_import::fields;
use crate::app;

use std::collections::HashSet;

use app::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// A pin that no host presents (a syntactically valid SHA-256 fingerprint).
pub const WRONG_PIN: &str = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Register `name` on a documentation address (nothing answers); pinned with [`WRONG_PIN`]
/// when `pinned`. Its id.
async fn add(app: &TestApp, name: &str, host: &str, tags: &[&str], pinned: bool) -> String {
    let mut body = json!({"name": name, "host": host, "port": 22, "username": "deploy",
                          "auth_method": "password", "password": "pw", "tags": tags});
    if pinned {
        body["host_key_fingerprint"] = json!(WRONG_PIN);
        body["host_key_type"] = json!("ssh-ed25519");
    }
    let (status, created) = app.post("/api/platforms", body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created["id"].as_str().unwrap().to_string()
}

/// Every page of `GET /api/platforms?{query}` (following `next_cursor`): the names in order.
async fn all_pages(app: &TestApp, query: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = app.get(&format!("/api/platforms?{query}{cursor}")).await;
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return names,
        }
    }
}

/// The 422 of `GET path`: the fields its errors name.
async fn refused(app: &TestApp, path: &str) -> Vec<String> {
    let (status, problem) = app.call(Method::GET, path, None).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{path}: {problem}"
    );
    fields(&problem)
}

/// 45 platforms: `app-NN` (tag `web` on every third, host `HOST-NN.example.net`), some pinned,
/// two in host_key_mismatch; their names by id.
async fn fleet(app: &TestApp) -> Vec<(String, String)> {
    let mut made = Vec::new();
    for n in 0..45 {
        let name = format!("app-{n:02}");
        let host = format!("HOST-{:02}.example.net", 44 - n);
        let tags: &[&str] = if n % 3 == 0 { &["web"] } else { &["db"] };
        let id = add(app, &name, &host, tags, n % 5 == 0).await;
        made.push((id, name));
    }
    for (id, _) in made
        .iter()
        .filter(|(_, name)| name == "app-05" || name == "app-10")
    {
        app.sql(&format!(
            "INSERT INTO platform_scans (platform_id, state, scanned_at, lines, findings) \
             VALUES ('{id}', 'host_key_mismatch', '2026-01-01T00:00:00.000000Z', '[]', '[]')"
        ))
        .await;
    }
    made
}

#[tokio::test]
async fn search_host_key_sort_and_page_size() {
    let app = TestApp::start().await;
    let made = fleet(&app).await;
    let mut by_name: Vec<String> = made.iter().map(|(_, n)| n.clone()).collect();
    by_name.sort();

    // Every sort order pages through every platform exactly once, at any page size.
    assert_eq!(all_pages(&app, "sort=name&limit=7").await, by_name);
    let newest: Vec<String> = by_name.iter().rev().cloned().collect();
    assert_eq!(all_pages(&app, "sort=newest&limit=10").await, newest);
    assert_eq!(all_pages(&app, "limit=500").await, newest);
    // Hosts run the other way from names (and sort ignoring ASCII case).
    assert_eq!(all_pages(&app, "sort=host&limit=6").await, newest);
    // Worst state first, then by name.
    let by_state = all_pages(&app, "sort=state&limit=4").await;
    assert_eq!(by_state.len(), 45);
    assert_eq!(by_state[..2], ["app-05", "app-10"]);
    assert_eq!(
        by_state[2..],
        by_name
            .iter()
            .filter(|n| *n != "app-05" && *n != "app-10")
            .cloned()
            .collect::<Vec<_>>()[..]
    );
    let page = app.get("/api/platforms?sort=name&limit=25").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 25);

    // Search: a substring of the name, host or a tag, ASCII case ignored.
    assert_eq!(all_pages(&app, "q=APP-1&sort=name").await.len(), 10);
    assert_eq!(
        all_pages(&app, "q=host-44.EXAMPLE&sort=name").await,
        ["app-00"]
    );
    let web = all_pages(&app, "q=WEB&sort=name&limit=5").await;
    assert_eq!(web.len(), 15);
    // Host-key status: mismatch wins over the pin it contradicts.
    assert_eq!(
        all_pages(&app, "host_key=mismatch&sort=name").await,
        ["app-05", "app-10"]
    );
    assert_eq!(all_pages(&app, "host_key=pinned").await.len(), 7);
    assert_eq!(all_pages(&app, "host_key=unpinned").await.len(), 36);
    // Filters and-ed: search, host key and a selector.
    assert_eq!(
        all_pages(
            &app,
            "q=web&host_key=pinned&selector=not%20name:app-00&sort=name"
        )
        .await,
        ["app-15", "app-30"]
    );

    // The same sets as selectors, e.g. for a task or a live count.
    let matched = app
        .get("/api/platforms/match?selector=text:*web*%20and%20host_key:pinned")
        .await;
    assert_eq!(matched["count"], 3, "{matched}");
    assert_eq!(matched["selector"], "text:*web* and host_key:pinned");
    let names: HashSet<&str> = matched["platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, HashSet::from(["app-00", "app-15", "app-30"]));
}

#[tokio::test]
async fn bad_list_fields_are_422s_naming_them() {
    let app = TestApp::start().await;
    add(&app, "one", "192.0.2.1", &[], false).await;
    add(&app, "two", "192.0.2.2", &[], false).await;
    let long = "x".repeat(201);
    for (query, field) in [
        ("sort=size", "sort"),
        ("host_key=green", "host_key"),
        ("state=fine", "state"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=many", "limit"),
        (&format!("q={long}") as &str, "q"),
        ("q=a%01b", "q"),
        ("selector=tag:", "selector"),
        ("cursor=nonsense", "cursor"),
    ] {
        assert_eq!(
            refused(&app, &format!("/api/platforms?{query}")).await,
            [field],
            "{query}"
        );
    }
    // Several bad fields at once: each named.
    assert_eq!(
        refused(&app, "/api/platforms?sort=up&host_key=x&limit=-1").await,
        ["host_key", "sort", "limit"]
    );
    // A cursor belongs to its order: a name-sorted list's cursor is refused by a host-sorted
    // or newest-first one.
    let page = app.get("/api/platforms?sort=name&limit=1").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let next = app
        .get(&format!("/api/platforms?sort=name&limit=1&cursor={cursor}"))
        .await;
    assert_eq!(next["items"][0]["name"], "two");
    for sort in ["host", "newest", "state"] {
        assert_eq!(
            refused(
                &app,
                &format!("/api/platforms?sort={sort}&limit=1&cursor={cursor}")
            )
            .await,
            ["cursor"],
            "{sort}"
        );
    }
    // The atoms' own errors, through the live count.
    let (status, problem) = app
        .call(
            Method::GET,
            "/api/platforms/match?selector=host_key:red",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("at position 10: unknown host_key status 'red'"),
        "{message}"
    );
}
