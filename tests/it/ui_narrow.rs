//! Every page of the web UI fits a 400 px wide window (a phone, a split screen at 2 a.m.): with a
//! key, a platform, a task that failed with a long error, a schedule, a group and an audit log in
//! place, no element sticks out on the right outside a box that scrolls on its own (`.scroll`).
//! Screenshots: `narrow-<page>.png`.

use serde_json::json;

use crate::app::{ADMIN_PASSWORD, TestApp};
use crate::browser::Browser;
use crate::common;

#[tokio::test(flavor = "multi_thread")]
async fn every_page_fits_a_400_px_window() {
    let app = TestApp::start().await;
    let key = app
        .add_key(
            "alice laptop with a rather long name for a key",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@a-long-host-name.example.com",
        )
        .await;
    let (_, platform) = app
        .post(
            "/api/platforms",
            json!({"name": "web-frontend-eu-west-1-0001", "host": "127.0.0.1",
                   "port": common::closed_port(), "username": "deploy-user",
                   "auth_method": "password", "password": "x",
                   "tags": ["web", "env=production", "team=platform-engineering"]}),
        )
        .await;
    let platform = platform["id"].as_str().unwrap().to_string();
    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "run_command", "platform_ids": [platform],
                   "command": "uptime; df -h / /var /srv; systemctl status nginx --no-pager"}),
        )
        .await;
    let task = task["id"].as_str().unwrap().to_string();
    let (status, body) = app
        .post(
            "/api/schedules",
            json!({"name": "morning-uptime-on-every-web-host", "cron": "30 6 * * mon-fri",
                   "time_zone": "Europe/Berlin", "kind": "run_command",
                   "selector": "tag:web and tag:env=production", "command": "uptime",
                   "timeout_s": 60}),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "{body}");
    let (status, body) = app
        .post(
            "/api/groups",
            json!({"name": "platform-engineering-oncall"}),
        )
        .await;
    assert_eq!(status.as_u16(), 201, "{body}");

    let browser = Browser::start().await;
    let base = &app.base;
    browser.open(&format!("{base}/")).await;
    browser.fill("#username", "admin").await;
    browser.fill("#password", ADMIN_PASSWORD).await;
    browser.click("form[action='/ui/login'] button").await;
    browser.wait_path("/ui/keys").await;
    browser.client.set_window_size(400, 900).await.unwrap();
    let mut wide = Vec::new();
    for (name, path) in [
        ("keys", "/ui/keys".to_string()),
        ("key", format!("/ui/keys/{key}")),
        ("platforms", "/ui/platforms".into()),
        ("platform", format!("/ui/platforms/{platform}")),
        ("tasks", "/ui/tasks".into()),
        ("task", format!("/ui/tasks/{task}")),
        ("schedules", "/ui/schedules".into()),
        ("access", "/ui/access".into()),
        ("audit", "/ui/audit".into()),
        ("users", "/ui/users".into()),
        ("groups", "/ui/groups".into()),
        ("import", "/ui/import".into()),
        ("notifications", "/ui/notifications".into()),
        ("account", "/ui/account".into()),
    ] {
        browser.open(&format!("{base}{path}")).await;
        // Let the page's script fill what it loads.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        browser.screenshot(&format!("narrow-{name}")).await;
        let out = browser.sticking_out().await;
        if out != json!([]) {
            wide.push(format!("{path}: {out}"));
        }
    }
    assert!(wide.is_empty(), "wider than 400 px:\n{}", wide.join("\n"));
}
