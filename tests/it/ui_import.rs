//! The Import page in a real headless Chromium against the real service: reached from the
//! platforms and keys pages; a CSV with a bad row previews row by row and its import is refused
//! with the row named, writing nothing; the fixed file imports; keys from an authorized_keys text
//! preview and import. Screenshots go to `target/ui-screenshots/`.

use crate::app;
use crate::browser;

use app::{ADMIN_PASSWORD, TestApp};
use browser::Browser;

#[tokio::test(flavor = "multi_thread")]
async fn platforms_and_keys_import_with_a_preview_in_the_browser() {
    let app = TestApp::start().await;
    let browser = Browser::start().await;
    let base = &app.base;
    browser.open(&format!("{base}/")).await;
    browser.fill("#username", "admin").await;
    browser.fill("#password", ADMIN_PASSWORD).await;
    browser.click("form[action='/ui/login'] button").await;
    browser.wait_path("/ui/keys").await;

    browser.open(&format!("{base}/ui/platforms")).await;
    browser.click("#import-platforms-link").await;
    browser.wait_path("/ui/import").await;

    browser
        .fill(
            "#ip-content",
            "name,host,port,tags\nweb1,10.0.0.1,22,web\nweb2,10.0.0.2,99999,web\n",
        )
        .await;
    browser.fill("#ip-username", "ops").await;
    browser.fill("#ip-password", "s3cret").await;
    browser
        .click("#import-platforms button[data-dry-run]")
        .await;
    let summary = browser
        .wait_text("#import-platforms [data-field='summary']", |t| {
            !t.is_empty()
        })
        .await;
    assert_eq!(
        summary,
        "Preview: 1 to create, 0 to update, 0 unchanged, 1 refused (csv)"
    );
    let table = browser.text("#import-platforms tbody").await;
    assert!(
        table.contains("web1") && table.contains("create"),
        "{table}"
    );
    assert!(
        table.contains("rows[3].port: must be a number from 1 to 65535"),
        "{table}"
    );
    browser.screenshot("import-preview").await;

    // The real import is refused as a whole, naming the row; nothing is written.
    browser.click("#import-platforms-go").await;
    let summary = browser
        .wait_text("#import-platforms [data-field='summary']", |t| {
            t.contains("nothing was imported")
        })
        .await;
    assert!(summary.starts_with("1 of 2 rows refused"), "{summary}");
    assert!(
        browser
            .text("#import-platforms tbody")
            .await
            .contains("rows[3].port")
    );
    let page = app.get("/api/platforms").await;
    assert!(page["items"].as_array().unwrap().is_empty());

    browser
        .fill(
            "#ip-content",
            "name,host,port,tags\nweb1,10.0.0.1,22,web\nweb2,10.0.0.2,2222,web\n",
        )
        .await;
    browser.click("#import-platforms-go").await;
    let summary = browser
        .wait_text("#import-platforms [data-field='summary']", |t| {
            t.starts_with("Imported")
        })
        .await;
    assert_eq!(
        summary,
        "Imported: 2 created, 0 updated, 0 unchanged, 0 refused (csv)"
    );
    let page = app.get("/api/platforms").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    browser.screenshot("import-done").await;

    // Keys, reached from the keys page.
    browser.open(&format!("{base}/ui/keys")).await;
    browser.click("#import-keys-link").await;
    browser.wait_path("/ui/import").await;
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDjB5N8UWg4fMoiJnlr0FMQQghSIp5o2WJvFyZNBe8H1 bob@example";
    browser
        .fill("#ik-content", &format!("# team\nno-pty {key}\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n-----END OPENSSH PRIVATE KEY-----\n"))
        .await;
    browser.click("#import-keys button[data-dry-run]").await;
    let summary = browser
        .wait_text("#import-keys [data-field='summary']", |t| !t.is_empty())
        .await;
    assert_eq!(
        summary,
        "Preview: 1 to register, 0 already registered, 1 refused, 1 blank or comment lines"
    );
    let table = browser.text("#import-keys tbody").await;
    assert!(
        table.contains("bob@example") && table.contains("options ignored: no-pty"),
        "{table}"
    );
    assert!(table.contains("this is a private key"), "{table}");
    browser
        .fill("#ik-content", &format!("no-pty {key}\n"))
        .await;
    browser.fill("#ik-owner", "bob").await;
    browser.click("#import-keys-go").await;
    browser
        .wait_text("#import-keys [data-field='summary']", |t| {
            t.starts_with("Imported: 1 registered")
        })
        .await;
    let keys = app.get("/api/keys").await;
    assert_eq!(keys["items"][0]["owner"], "bob");
    browser.screenshot("import-keys").await;
}
