//! The platforms page at 300 platforms in a real headless Chromium, against the real service
//! and real sshds (three real platforms, one whose pin the host contradicts, the rest on a closed
//! port): search, the host-key filter, sorting and page size through the GET form (so the URL
//! holds them), the composed selector and its count, "all N matching" across pages as a task's
//! exact targets, bulk delete after a confirmation naming the count, and the one status cell (a
//! failed sync stays visible behind a later successful command; a host-key mismatch is red).
//! The page at 300 platforms is saved as `ui-platforms-300.png` (see `browser::screenshot_dir`).

use crate::app;
use crate::browser;
use crate::common;
use crate::platform_list::WRONG_PIN;
use crate::task_targets;
use crate::ui_browser::sign_in;

use std::collections::HashSet;

use app::{ADMIN_PASSWORD, TestApp};
use browser::Browser;
use common::{ClientKey, KeyKind, TestHost};
use fantoccini::Locator;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Names in the page's platform list, in order.
async fn listed(browser: &Browser) -> Vec<String> {
    let rows = browser
        .client
        .find_all(Locator::Css("#platform-list tbody tr[data-platform]"))
        .await
        .unwrap();
    let mut names = Vec::new();
    for row in rows {
        names.push(row.attr("data-platform").await.unwrap().unwrap());
    }
    names
}

/// Run `script` in the page; its value.
async fn js(browser: &Browser, script: &str) -> Value {
    browser.client.execute(script, vec![]).await.unwrap()
}

/// The query of the page's URL, as `key=value` pairs.
async fn url_query(browser: &Browser) -> Vec<(String, String)> {
    let url = browser.client.current_url().await.unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_platforms_page_at_three_hundred_platforms() {
    let app = TestApp::start().await;
    let odd_host = TestHost::start();
    let same_host = TestHost::start();
    let moved_host = TestHost::start();
    let base = &app.base;
    // 299 from the task fleet (real-odd, real-same-0/1, closed-000..295) and one whose pinned
    // key is not the one its host presents.
    let fleet = task_targets::fleet(&app, &odd_host, &same_host, 296).await;
    let (status, moved) = app
        .post(
            "/api/platforms",
            json!({"name": "real-moved", "host": "127.0.0.1", "port": moved_host.sshd.port(),
                   "username": moved_host.user.name, "auth_method": "password",
                   "password": moved_host.user.password, "host_key_type": "ssh-ed25519",
                   "host_key_fingerprint": WRONG_PIN}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{moved}");
    let moved = moved["id"].as_str().unwrap().to_string();
    // Every third closed platform is tagged web: 99 of them.
    let closed = &fleet.ids[3..];
    for id in closed.iter().step_by(3) {
        let (status, body) = app
            .call(
                Method::PATCH,
                &format!("/api/platforms/{id}"),
                Some(json!({"tags": ["web"]})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // The moved host is scanned: refused, host_key_mismatch.
    let scan = app
        .run_task(
            "/api/tasks",
            json!({"kind": "scan", "platform_ids": [moved]}),
        )
        .await;
    assert_eq!(scan["status"], "failed", "{scan}");
    // real-odd: a deploy fails (its .ssh is read-only), then a command succeeds.
    odd_host.user.mkdir(".ssh", 0o500);
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    let key = app.add_key("ops", &key.public_line).await;
    let deploy = app
        .run_task(
            "/api/tasks",
            json!({"kind": "deploy_keys", "platform_ids": [fleet.odd], "key_ids": [key]}),
        )
        .await;
    assert_eq!(deploy["status"], "failed", "{deploy}");
    let run = app
        .run_task(
            "/api/tasks",
            json!({"kind": "run_command", "platform_ids": [fleet.odd], "command": "true"}),
        )
        .await;
    assert_eq!(run["status"], "succeeded", "{run}");

    let browser = Browser::start().await;
    sign_in(&browser, base, "admin", ADMIN_PASSWORD).await;
    browser.open(&format!("{base}/ui/platforms")).await;
    assert_eq!(browser.text("#matching-count").await, "300");
    assert_eq!(browser.text("#matching-selector").await, "all");
    assert_eq!(listed(&browser).await.len(), 50);
    assert_eq!(
        browser.text("#targets-summary").await,
        "Targets: 0 ticked on this page"
    );

    // The status cell: the failed deploy, not the later successful command; reachable; pinned.
    let odd = "tr[data-platform='real-odd'] td.status";
    browser
        .open(&format!("{base}/ui/platforms?q=real-odd"))
        .await;
    assert_eq!(listed(&browser).await, ["real-odd"]);
    let cell = browser.text(odd).await;
    assert!(cell.contains("deploy_keys failed"), "{cell}");
    assert!(
        cell.contains("reachable") && cell.contains("key pinned"),
        "{cell}"
    );
    assert!(cell.contains("deploy_keys:"), "{cell}");

    // Host key filter: the mismatch, in red and never "pinned".
    browser
        .open(&format!("{base}/ui/platforms?host_key=mismatch"))
        .await;
    assert_eq!(listed(&browser).await, ["real-moved"]);
    assert_eq!(
        browser.text("#matching-selector").await,
        "host_key:mismatch"
    );
    let cell = browser
        .text("tr[data-platform='real-moved'] td.status")
        .await;
    assert!(cell.contains("host key mismatch"), "{cell}");
    assert!(!cell.contains("key pinned"), "{cell}");
    assert_eq!(
        browser
            .count("tr[data-platform='real-moved'] [data-host-key]")
            .await,
        1
    );
    browser
        .find("tr[data-platform='real-moved'] [data-host-key='mismatch']")
        .await;
    let colours = js(
        &browser,
        "const probe = document.createElement('span'); probe.className = 'badge failed'; \
         document.body.append(probe); \
         const red = getComputedStyle(probe).color; probe.remove(); \
         return [red, getComputedStyle(document.querySelector('[data-host-key=mismatch]')).color];",
    )
    .await;
    assert_eq!(colours[0], colours[1], "mismatch badge colour: {colours}");

    // Search through the form (case ignored), sorted by name, 25 a page: the URL holds the
    // filters (none of the empty ones), the page the composed selector and its count.
    browser.open(&format!("{base}/ui/platforms")).await;
    browser.fill("#f-q", "CLOSED-1").await;
    js(
        &browser,
        "document.getElementById('f-sort').value = 'name'; \
         document.getElementById('f-limit').value = '25'; return null;",
    )
    .await;
    browser.click("#platform-filters button[type=submit]").await;
    browser
        .wait_text("#matching-selector", |t| t == "text:*CLOSED-1*")
        .await;
    let query = url_query(&browser).await;
    let keys: Vec<&str> = query.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["q", "sort", "limit"], "{query:?}");
    assert_eq!(browser.text("#matching-count").await, "100");
    let first = listed(&browser).await;
    assert_eq!(first.len(), 25);
    assert_eq!(first[0], "closed-100");
    assert_eq!(first[24], "closed-124");
    // Paging keeps the filters and the order.
    browser.click("#next-page").await;
    browser
        .wait_text("#platform-list tbody tr:first-child", |t| {
            t.contains("closed-125")
        })
        .await;
    assert_eq!(browser.text("#matching-count").await, "100");
    assert_eq!(
        url_query(&browser)
            .await
            .iter()
            .find(|(k, _)| k == "sort")
            .unwrap()
            .1,
        "name"
    );
    // Sorted by state (worst first): the mismatch leads.
    browser
        .open(&format!("{base}/ui/platforms?sort=state&limit=25"))
        .await;
    assert_eq!(listed(&browser).await[0], "real-moved");
    assert_eq!(listed(&browser).await[1], "real-odd");
    browser.screenshot("ui-platforms-300").await;
    // A bad value shows its error next to its field, and no platforms.
    browser
        .open(&format!("{base}/ui/platforms?sort=size"))
        .await;
    assert_eq!(
        browser.text("#f-sort-error").await,
        "must be one of newest, name, host, state"
    );
    assert!(listed(&browser).await.is_empty());

    // Ticks: the summary counts them.
    browser
        .open(&format!(
            "{base}/ui/platforms?selector=tag:web&sort=name&limit=25"
        ))
        .await;
    assert_eq!(browser.text("#matching-count").await, "99");
    // The header box ticks the whole page (25 rows), and unticks it again.
    browser.click("#tick-page").await;
    browser
        .wait_text("#targets-summary", |t| {
            t == "Targets: 25 ticked on this page"
        })
        .await;
    browser.click("#tick-page").await;
    browser
        .wait_text("#targets-summary", |t| {
            t == "Targets: 0 ticked on this page"
        })
        .await;
    browser
        .click("#platform-list tbody tr:nth-child(1) input[type=checkbox]")
        .await;
    browser
        .click("#platform-list tbody tr:nth-child(2) input[type=checkbox]")
        .await;
    browser
        .wait_text("#targets-summary", |t| {
            t == "Targets: 2 ticked on this page"
        })
        .await;
    // All 99 matching, across four pages: a command on exactly those.
    browser.click("#target-matching").await;
    browser
        .wait_text("#targets-summary", |t| {
            t == "Targets: all 99 matching tag:web"
        })
        .await;
    browser.fill("#run-command", "true").await;
    browser.click("#run button[type=submit]").await;
    browser.wait_path("/ui/tasks/").await;
    let task_id = browser.client.current_url().await.unwrap();
    let task_id = task_id.path().rsplit('/').next().unwrap().to_string();
    let task = app.get(&format!("/api/tasks/{task_id}")).await;
    assert_eq!(task["selector"], "tag:web");
    let targets: HashSet<String> = task["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["platform_id"].as_str().unwrap().to_string())
        .collect();
    let web: HashSet<String> = closed.iter().step_by(3).cloned().collect();
    assert_eq!(targets.len(), 99);
    assert_eq!(targets, web);

    // Delete all matching a search, after a confirmation naming the count.
    browser
        .open(&format!("{base}/ui/platforms?q=closed-29"))
        .await;
    assert_eq!(browser.text("#matching-count").await, "6");
    browser.click("#target-matching").await;
    js(
        &browser,
        "window.confirm = (m) => { sessionStorage.setItem('asked', m); return true; }; \
         return null;",
    )
    .await;
    browser.click("#delete-targets-button").await;
    browser.wait_text("#matching-count", |t| t == "0").await;
    // (The page reloaded after the deletions: the question was kept in sessionStorage.)
    let asked = js(&browser, "return sessionStorage.getItem('asked');").await;
    assert_eq!(
        asked,
        "Delete 6 platforms (matching text:*closed-29*)? This cannot be undone."
    );
    let left = app.get("/api/platforms/match?selector=all").await;
    assert_eq!(left["count"], 294);

    // At 400 px the page does not scroll sideways (the table scrolls in its own box).
    browser.client.set_window_size(400, 900).await.unwrap();
    browser.open(&format!("{base}/ui/platforms")).await;
    let wide = browser.sticking_out().await;
    assert_eq!(wide, json!([]), "wider than 400 px");
    browser.screenshot("ui-platforms-narrow").await;
}
