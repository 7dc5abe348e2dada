//! Host keys in the UI, in a real Chromium against a real sshd: a changed host key shows both
//! fingerprints on the platform's page and is trusted from there (pinning exactly the key the
//! host presented, then scanning to confirm); the known_hosts import page previews and pins.
//! Also the task page's grouping: a host whose key changed is its own output group, not one of
//! the hosts that refused the connection.

use crate::app::{ADMIN_PASSWORD, TestApp};
use crate::browser::Browser;
use crate::common::{TestHost, closed_port};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn sign_in(browser: &Browser, base: &str) {
    browser.open(&format!("{base}/")).await;
    browser.fill("#username", "admin").await;
    browser.fill("#password", ADMIN_PASSWORD).await;
    browser.click("form[action='/ui/login'] button").await;
    browser.wait_path("/ui/keys").await;
}

async fn add_platform(app: &TestApp, host: &TestHost, name: &str) -> String {
    app.add_password_platform(name, host.sshd.port(), &host.user.name, &host.user.password)
        .await
}

async fn platform(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/platforms/{id}")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_host_key_is_trusted_from_the_browser() {
    let mut host = TestHost::start();
    let app = TestApp::start().await;
    let id = add_platform(&app, &host, "moved").await;
    let run = format!("/api/platforms/{id}/run_command");
    let first = app.run_task(&run, json!({"command": "true"})).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    let pinned = platform(&app, &id).await["host_key_fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(platform(&app, &id).await["host_key_presented"], Value::Null);

    host.sshd.restart_with_new_host_keys();
    let refused = app.run_task(&run, json!({"command": "true"})).await;
    assert_eq!(refused["status"], "failed", "{refused}");
    let error = refused["targets"][0]["error"].as_str().unwrap();
    // The error tells an operator where to re-trust, not only the API route.
    assert!(error.contains("testum host-key trust moved"), "{error}");
    assert_eq!(refused["targets"][0]["error_reason"], "host key changed");

    // The platform keeps the key it presented, with its type, beside the unchanged pin.
    let seen = platform(&app, &id).await;
    assert_eq!(seen["host_key_fingerprint"], pinned.as_str());
    let presented = &seen["host_key_presented"];
    let key_type = presented["key_type"].as_str().unwrap().to_string();
    let fingerprint = presented["fingerprint"].as_str().unwrap().to_string();
    let kind = match key_type.as_str() {
        "ssh-ed25519" => "ed25519",
        "ssh-rsa" => "rsa",
        _ => "ecdsa",
    };
    assert_eq!(host.sshd.host_key(kind).fingerprint, fingerprint);
    assert!(error.contains(&fingerprint), "{error}");
    // A run_command records no scan state, yet the platform counts as a mismatch.
    let listed = app.get("/api/platforms?host_key=mismatch").await;
    assert_eq!(listed["items"][0]["name"], "moved", "{listed}");
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "{listed}");
    // The CLI's list says so too, and what to run.
    let (stdout, _) = crate::cli::succeeds(&app, &["platforms", "list"]).await;
    assert!(
        stdout.contains(&format!(
            "CHANGED: presents {fingerprint} (testum host-key trust moved)"
        )),
        "{stdout}"
    );

    // A task over it and two closed ports: the changed key is a group of its own, listed first.
    let dead: Vec<String> = {
        let mut ids = Vec::new();
        for n in 0..2 {
            ids.push(
                app.add_password_platform(&format!("dead-{n}"), closed_port(), "nobody", "x")
                    .await,
            );
        }
        ids
    };
    let mixed = app
        .run_task(
            "/api/tasks",
            json!({"kind": "run_command", "command": "true",
                   "platform_ids": [dead[0], id, dead[1]]}),
        )
        .await;
    let task = mixed["id"].as_str().unwrap();
    let groups = app.get(&format!("/api/tasks/{task}/output_groups")).await;
    let groups = groups["items"].as_array().unwrap();
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert_eq!(groups[0]["count"], 1);
    assert_eq!(groups[0]["sample"]["platform_name"], "moved");
    assert_eq!(groups[0]["sample"]["error_reason"], "host key changed");
    assert_eq!(groups[1]["count"], 2);
    // Its members, listed as the page lists them: digest, status and reason.
    let members = app
        .get(&format!(
            "/api/tasks/{task}/targets?status=failed&output_digest={}&error_reason=host%20key%20changed",
            groups[0]["output_digest"].as_str().unwrap()
        ))
        .await;
    let names: Vec<&str> = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["platform_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["moved"]);

    let browser = Browser::start().await;
    let base = &app.base;
    sign_in(&browser, base).await;
    browser.open(&format!("{base}/ui/platforms/{id}")).await;
    assert!(browser.text("#hk-pinned").await.ends_with(&pinned));
    assert_eq!(
        browser.text("#hk-presented").await,
        format!("{key_type} {fingerprint}")
    );
    browser.click("#trust-open").await;
    // The dialog names the fingerprint to compare and the file sshd keeps that key in.
    assert_eq!(browser.text("#trust-fingerprint").await, fingerprint);
    let dialog = browser.text("#trust-dialog").await;
    assert!(
        dialog.contains(&format!("ssh-keygen -lf /etc/ssh/ssh_host_{kind}_key.pub")),
        "{dialog}"
    );
    browser.screenshot("host-key-trust").await;
    browser.click("#trust-confirm").await;

    // Trusting pins exactly that key and starts a scan, whose page the browser lands on.
    let scan = browser.wait_path("/ui/tasks/").await;
    let scan = app.wait_task(scan.trim_start_matches("/ui/tasks/")).await;
    assert_eq!(scan["kind"], "scan");
    assert_eq!(scan["status"], "succeeded", "{scan}");
    let trusted = platform(&app, &id).await;
    assert_eq!(trusted["host_key_fingerprint"], fingerprint.as_str());
    assert_eq!(trusted["host_key_type"], key_type.as_str());
    assert_eq!(trusted["host_key_presented"], Value::Null);
    assert_ne!(trusted["state"], "host_key_mismatch");
    let listed = app.get("/api/platforms?host_key=mismatch").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 0, "{listed}");
    let audit = app.get("/api/audit?action=host_key.trust").await;
    let details = &audit["items"][0]["details"];
    assert_eq!(details["old"]["fingerprint"], pinned.as_str(), "{audit}");
    assert_eq!(
        details["new"]["fingerprint"],
        fingerprint.as_str(),
        "{audit}"
    );
    assert_eq!(
        app.run_task(&run, json!({"command": "true"})).await["status"],
        "succeeded"
    );
    // No mismatch any more: the page shows no trust card.
    browser.open(&format!("{base}/ui/platforms/{id}")).await;
    assert!(!browser.source().await.contains("trust-open"));
}

#[tokio::test(flavor = "multi_thread")]
async fn known_hosts_lines_are_previewed_then_pinned_from_the_browser() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let id = add_platform(&app, &host, "fresh").await;
    let key = host.sshd.host_key("ed25519");
    // As ssh-keyscan prints it for a port other than 22.
    let blob = host.sshd.host_key_line("ed25519");
    let mut fields = blob.split_whitespace();
    let line = format!(
        "[127.0.0.1]:{} {} {}\nnot a known_hosts line\n",
        host.sshd.port(),
        fields.next().unwrap(),
        fields.next().unwrap()
    );

    let browser = Browser::start().await;
    let base = &app.base;
    sign_in(&browser, base).await;
    browser.open(&format!("{base}/ui/import#known-hosts")).await;
    browser.fill("#kh-content", &line).await;
    browser
        .click("#import-known-hosts button[data-dry-run]")
        .await;
    browser
        .wait_text("#import-known-hosts [data-field='summary']", |t| {
            t == "Preview: 1 host key(s) to pin, 0 already pinned, 0 refused"
        })
        .await;
    let rows = browser.text("#import-known-hosts tbody").await;
    assert!(
        rows.contains("fresh") && rows.contains(&key.fingerprint),
        "{rows}"
    );
    assert!(rows.contains("invalid"), "{rows}");
    assert_eq!(
        platform(&app, &id).await["host_key_fingerprint"],
        Value::Null
    );
    browser.screenshot("import-known-hosts").await;

    browser.click("#import-known-hosts-go").await;
    browser
        .wait_text("#import-known-hosts [data-field='summary']", |t| {
            t == "Imported: 1 host key(s) pinned, 0 already pinned, 0 refused"
        })
        .await;
    assert_eq!(
        platform(&app, &id).await["host_key_fingerprint"],
        key.fingerprint.as_str()
    );
    // The API's dry run writes nothing either; a blank import names the field.
    let (status, again) = app
        .post(
            "/api/known_hosts",
            json!({"known_hosts": line, "dry_run": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        (again["dry_run"].clone(), again["unchanged"].clone()),
        (json!(true), json!(1))
    );
    let (status, blank) = app
        .post("/api/known_hosts", json!({"known_hosts": " "}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(blank["errors"][0]["field"], "known_hosts");
}
