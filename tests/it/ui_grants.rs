//! Groups and grants in a real headless Chromium: the admin adds a user without a fleet-wide
//! role, a group with that user, and a grant of operator on `tag:web` to the group, all from
//! the pages; the user then signs in and the platforms page shows the web host only, the
//! fleet-wide pages are not offered (and refused when typed), a db host's page is a 404.
//! Screenshots go to `target/ui-screenshots/` (`groups.png`, `scoped-platforms.png`).

use crate::app;
use crate::browser;
use crate::common;

use app::{ADMIN_PASSWORD, TestApp};
use browser::Browser;
use serde_json::{Value, json};

async fn sign_in(browser: &Browser, base: &str, username: &str, password: &str) {
    browser.open(&format!("{base}/")).await;
    browser.fill("#username", username).await;
    browser.fill("#password", password).await;
    browser.click("form[action='/ui/login'] button").await;
    browser.wait_path("/ui/keys").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_gives_a_group_operator_on_web_hosts_from_the_browser() {
    let app = TestApp::start().await;
    let browser = Browser::start().await;
    let base = &app.base;
    let mut ids = Vec::new();
    for (name, tag) in [("web1", "web"), ("db1", "db")] {
        let (_, platform) = app
            .post(
                "/api/platforms",
                json!({"name": name, "host": "127.0.0.1", "port": common::closed_port(),
                       "username": "x", "auth_method": "password", "password": "x",
                       "tags": [tag]}),
            )
            .await;
        ids.push(platform["id"].as_str().unwrap().to_string());
    }
    sign_in(&browser, base, "admin", ADMIN_PASSWORD).await;

    // A user without a fleet-wide role, from the users page.
    let password = "wendy has a long password";
    browser.open(&format!("{base}/ui/users")).await;
    browser.fill("#u-name", "wendy").await;
    browser.fill("#u-password", password).await;
    browser.click("#u-role option[value='null']").await;
    browser.click("#add-user button[type=submit]").await;
    browser.wait_text("#users", |t| t.contains("wendy")).await;
    let users = app.get("/api/users").await;
    let wendy = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "wendy")
        .unwrap()
        .clone();
    assert_eq!(wendy["role"], Value::Null, "{wendy}");

    // A group with wendy, and operator on tag:web for the group.
    browser.open(&format!("{base}/ui/groups")).await;
    browser.fill("#group-name", "web-team").await;
    browser.click("#add-group button[type=submit]").await;
    browser
        .wait_text("main", |t| t.contains("web-team (0 members)"))
        .await;
    let group = app.get("/api/groups").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let form = format!("#group-{group}");
    let wendy_id = wendy["id"].as_str().unwrap();
    browser
        .click(&format!("{form} option[value='{wendy_id}']"))
        .await;
    browser.click(&format!("{form} button[type=submit]")).await;
    browser
        .wait_text(&format!("{form} h3"), |t| t.contains("1 member)"))
        .await;
    browser
        .click("#grant-group-subject option:nth-child(1)")
        .await;
    browser.fill("#grant-group-selector", "tag:web").await;
    let count = browser
        .wait_text("#grant-group-count", |t| t.starts_with("1 platform"))
        .await;
    assert_eq!(count, "1 platform matches: web1");
    browser.click("#grant-group button[type=submit]").await;
    let grants = browser
        .wait_text("#grants", |t| t.contains("web-team"))
        .await;
    assert!(
        grants.contains("operator") && grants.contains("tag:web"),
        "{grants}"
    );
    browser.screenshot("groups").await;
    let audit = app.get("/api/audit?limit=50").await.to_string();
    for action in ["group.create", "group.update", "grant.create"] {
        assert!(audit.contains(action), "{action} not audited");
    }

    // wendy sees the web host only, and no fleet-wide page.
    browser.click(".logout button").await;
    browser.wait_path("/").await;
    sign_in(&browser, base, "wendy", password).await;
    let nav = browser.text("header nav").await;
    assert!(nav.contains("Platforms"), "{nav}");
    for page in ["Audit", "Users", "Groups", "Notifications"] {
        assert!(!nav.contains(page), "{page} offered: {nav}");
    }
    assert!(
        browser.text(".who").await.contains("operator on tag:web"),
        "the header names her grant"
    );
    browser.open(&format!("{base}/ui/platforms")).await;
    let listed = browser.text("main table").await;
    assert!(
        listed.contains("web1") && !listed.contains("db1"),
        "{listed}"
    );
    browser.screenshot("scoped-platforms").await;
    for (path, status) in [
        ("/ui/groups".to_string(), "403"),
        ("/ui/audit".to_string(), "403"),
        (format!("/ui/platforms/{}", ids[1]), "404"),
    ] {
        browser.open(&format!("{base}{path}")).await;
        let shown = browser.text("main").await;
        assert!(shown.contains(status), "{path}: {shown}");
    }
}
