//! Two-factor sign-in in a real headless Chromium: a user an admin marked `require_totp` signs
//! in and is sent to the account page, sets it up from the key the page shows (the code computed
//! with `totp-rs`, as an authenticator app would), sees the recovery codes once, signs out, is
//! asked for a code, signs in with one and later with a recovery code, and turns it off with the
//! password. The admin's users page shows who has it on, marks a user required and resets it. The account page fits
//! 400 px. Screenshots: `account-totp-*.png`.

use crate::api_sessions::{PASSWORD, create_user};
use crate::app;
use crate::browser;
use crate::totp::{STEP, code_at, enrol, listed_user, now, token};

use app::TestApp;
use browser::Browser;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Fill the login form (the code field only when `code` is given) and send it.
async fn submit_login(browser: &Browser, base: &str, user: &str, code: Option<&str>) {
    browser.open(&format!("{base}/")).await;
    browser.fill("#username", user).await;
    browser.fill("#password", PASSWORD).await;
    if let Some(code) = code {
        browser.fill("#totp", code).await;
    }
    browser.click("form[action='/ui/login'] button").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_sets_up_two_factor_sign_in_in_the_browser_and_signs_in_with_codes() {
    let app = TestApp::start().await;
    let id = create_user(&app, "uma", "operator").await;
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/users/{id}"),
            Some(json!({"require_totp": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let browser = Browser::start().await;
    let base = &app.base;

    // Required and not set up: every page leads to the account page, which says why.
    submit_login(&browser, base, "uma", None).await;
    browser.wait_path("/ui/account").await;
    browser.open(&format!("{base}/ui/platforms")).await;
    browser.wait_path("/ui/account").await;
    let why = browser.text("#totp-required").await;
    assert!(why.contains("must use two-factor sign-in"), "{why}");

    // Set up: the QR code and the key in groups of four; a wrong code is refused next to the
    // field, the app's current code turns it on and shows ten recovery codes.
    browser.click("#totp-start").await;
    let key = browser
        .wait_text("#totp-secret", |t| t.len() == 39)
        .await
        .replace(' ', "");
    let qr = browser.find("#totp-qr").await;
    let src = qr.attr("src").await.unwrap().unwrap();
    assert!(src.starts_with("data:image/svg+xml"), "{src}");
    let alt = qr.attr("alt").await.unwrap().unwrap();
    assert!(alt.contains("QR code"), "{alt}");
    browser.screenshot("account-totp-enrol").await;
    browser
        .fill("#totp-code", &code_at(&key, now() + 3 * STEP))
        .await;
    browser.click("#totp-confirm button[type=submit]").await;
    let refused = browser
        .wait_text("#totp-confirm [data-error-for='code']", |t| !t.is_empty())
        .await;
    assert!(refused.contains("current code"), "{refused}");
    browser.fill("#totp-code", &code_at(&key, now())).await;
    browser.click("#totp-confirm button[type=submit]").await;
    browser
        .wait_text("#totp-done", |t| t.contains("Two-factor sign-in is on"))
        .await;
    assert_eq!(browser.count("#recovery-codes li").await, 10);
    let recovery = browser.text("#recovery-codes li:first-child").await;
    assert_eq!(recovery.len(), 19, "{recovery}");
    browser.screenshot("account-totp-recovery-codes").await;
    browser.click("#totp-done a").await;
    browser.wait_path("/ui/keys").await;

    // The account page at 400 px: nothing sticks out.
    browser.client.set_window_size(400, 900).await.unwrap();
    browser.open(&format!("{base}/ui/account")).await;
    browser.screenshot("account-totp-narrow").await;
    assert_eq!(browser.sticking_out().await, json!([]), "wider than 400 px");
    browser.client.set_window_size(1280, 900).await.unwrap();

    // Signed out, the password alone is not enough: the page asks for it again with the code,
    // and focuses the password field; the next step's code signs in.
    browser.click(".logout button").await;
    browser.find("#username").await;
    submit_login(&browser, base, "uma", None).await;
    let asked = browser.text("#login-error").await;
    assert!(
        asked.starts_with("two-factor sign-in is on for this account"),
        "{asked}"
    );
    let focused = browser
        .client
        .execute("return document.activeElement.id", vec![])
        .await
        .unwrap();
    assert_eq!(focused, json!("password"));
    browser.screenshot("login-totp-asked").await;
    let next = code_at(&key, now() + STEP);
    submit_login(&browser, base, "uma", Some(&next)).await;
    browser.wait_path("/ui/keys").await;

    // The same code again is refused; a recovery code signs in once.
    browser.click(".logout button").await;
    browser.find("#username").await;
    submit_login(&browser, base, "uma", Some(&next)).await;
    let replayed = browser.text("#login-error").await;
    assert_eq!(replayed, "the code is wrong, expired or used already");
    submit_login(&browser, base, "uma", Some(&recovery)).await;
    browser.wait_path("/ui/keys").await;

    // The API shows uma with it on, and required.
    let uma = listed_user(&app, "uma").await;
    assert_eq!(
        (&uma["totp_enabled"], &uma["require_totp"]),
        (&json!(true), &json!(true))
    );

    // Uma turns it off with the password: the account page says it is off, and (still required)
    // offers to set it up again.
    browser.open(&format!("{base}/ui/account")).await;
    let on = browser.text("#totp-state").await;
    assert!(on.contains("9 recovery code(s) left"), "{on}");
    browser.fill("#disable-password", PASSWORD).await;
    browser.click("#totp-disable button[type=submit]").await;
    browser
        .wait_text("#totp-state", |t| t.starts_with("Off"))
        .await;
    browser.find("#totp-start").await;
    browser.find("#totp-required").await;
    browser.screenshot("account-totp-off").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_users_page_shows_two_factor_sign_in_and_resets_it() {
    let app = TestApp::start().await;
    let id = create_user(&app, "vic", "viewer").await;
    let vic = token(&app, "vic", PASSWORD, None).await;
    enrol(&app, &vic).await;

    let browser = Browser::start().await;
    crate::ui_browser::sign_in(&browser, &app.base, "admin", app::ADMIN_PASSWORD).await;
    browser.open(&format!("{}/ui/users", app.base)).await;
    // Newest first: vic's row, whose two-factor cell says it is on.
    browser
        .wait_text("#users tbody tr:first-child", |t| t.starts_with("vic"))
        .await;
    let cell = browser
        .text("#users tbody tr:first-child td:nth-child(4)")
        .await;
    assert!(cell.starts_with("on"), "{cell}");
    browser.screenshot("users-totp").await;
    // Mark vic required, then reset (after the confirmation the page asks for).
    browser
        .click("input[aria-label='Require two-factor sign-in of vic']")
        .await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !app.get(&format!("/api/users/{id}")).await["require_totp"]
        .as_bool()
        .unwrap()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never marked required"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // (Opened again: the box's change reloads the page, which must not race the next click.)
    browser.open(&format!("{}/ui/users", app.base)).await;
    browser
        .click("button[aria-label='Reset two-factor sign-in of vic']")
        .await;
    let question = browser.client.get_alert_text().await.unwrap();
    assert!(
        question.contains("Reset two-factor sign-in of vic?"),
        "{question}"
    );
    browser.client.accept_alert().await.unwrap();
    while app.get(&format!("/api/users/{id}")).await["totp_enabled"]
        .as_bool()
        .unwrap()
    {
        assert!(tokio::time::Instant::now() < deadline, "never reset");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let reset = app
        .get(&format!("/api/audit?action=totp.reset&target=user:{id}"))
        .await;
    assert_eq!(reset["items"][0]["actor"], "admin");
}
