//! API tokens on the account page, in a real headless Chromium: a user makes a token (a refused
//! field named next to it first), sees the secret once with how the CLI takes it, the secret
//! works as `Authorization: Bearer` against the API, the list shows the token with its role and
//! last use, and revoking it (after a confirmation) makes the API refuse it. The page fits 400 px
//! throughout. Screenshots: `account-token-*.png`.

use crate::api_sessions::{PASSWORD, create_user};
use crate::app::TestApp;
use crate::browser::Browser;
use crate::ui_browser::sign_in;
use reqwest::StatusCode;
use serde_json::json;

/// The status of `GET /api/keys` with `token` as the bearer.
async fn keys_status(app: &TestApp, token: &str) -> StatusCode {
    app.http
        .get(format!("{}/api/keys", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

/// Narrow the window to 400 px: nothing may stick out of the account page.
async fn fits_400_px(browser: &Browser, screenshot: &str) {
    browser.client.set_window_size(400, 900).await.unwrap();
    browser.screenshot(screenshot).await;
    assert_eq!(browser.sticking_out().await, json!([]), "wider than 400 px");
    browser.client.set_window_size(1280, 900).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_makes_a_token_on_the_account_page_uses_it_and_revokes_it() {
    let app = TestApp::start().await;
    create_user(&app, "tess", "operator").await;
    let browser = Browser::start().await;
    let base = &app.base;
    sign_in(&browser, base, "tess", PASSWORD).await;
    browser.open(&format!("{base}/ui/account")).await;
    browser.find("#no-tokens").await;

    // The roles offered go up to tess's own, the weakest chosen first.
    let roles = browser
        .client
        .execute(
            "return [...document.querySelectorAll('#token-role option')].map((o) => o.value)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(roles, json!(["viewer", "operator"]));

    // An expiry in the past: the API's 422 shows next to the field, and no token is made.
    browser.fill("#token-name", "ci-deploy").await;
    browser
        .client
        .execute(
            "document.getElementById('token-expires').value = '2020-01-31'",
            vec![],
        )
        .await
        .unwrap();
    browser.click("#token-create button[type=submit]").await;
    let refused = browser
        .wait_text("#token-create [data-error-for='expires_at']", |t| {
            !t.is_empty()
        })
        .await;
    assert_eq!(refused, "must be in the future");
    assert_eq!(app.get("/api/tokens").await["items"], json!([]));

    // Made as operator: the secret is shown once, with how to use it.
    browser
        .client
        .execute(
            "document.getElementById('token-expires').value = ''",
            vec![],
        )
        .await
        .unwrap();
    browser
        .find("#token-role")
        .await
        .select_by_value("operator")
        .await
        .unwrap();
    browser.click("#token-create button[type=submit]").await;
    let secret = browser
        .wait_text("#token-secret", |t| t.starts_with("tsm_"))
        .await;
    let made = browser.text("#token-made [role=status]").await;
    assert!(made.contains("shown this once"), "{made}");
    let usage = browser.text("#token-usage").await;
    assert!(
        usage.contains(&format!(
            "export TESTUM_URL={base}\nexport TESTUM_TOKEN={secret}\n"
        )),
        "{usage}"
    );
    fits_400_px(&browser, "account-token-made").await;

    // The secret signs API calls in as tess.
    assert_eq!(keys_status(&app, &secret).await, StatusCode::OK);

    // Done: the page read again lists the token with its role and last use, never the secret.
    browser.click("#token-done").await;
    let entry = browser
        .wait_text("#token-list li", |t| t.contains("ci-deploy"))
        .await;
    assert!(entry.contains("up to operator"), "{entry}");
    assert!(entry.contains("expires never"), "{entry}");
    let used = browser
        .text("#token-list li [data-field='last-used']")
        .await;
    assert!(used.starts_with("last used 20"), "{used}");
    assert!(!browser.source().await.contains(&secret));
    fits_400_px(&browser, "account-token-list").await;

    // Revoked after the confirmation: gone from the list, and refused by the API.
    browser
        .click("button[aria-label='Revoke token ci-deploy']")
        .await;
    let question = browser.client.get_alert_text().await.unwrap();
    assert!(
        question.starts_with("Revoke token ci-deploy?"),
        "{question}"
    );
    browser.client.accept_alert().await.unwrap();
    browser.find("#no-tokens").await;
    assert_eq!(keys_status(&app, &secret).await, StatusCode::UNAUTHORIZED);
    let revoked = app.get("/api/audit?action=token.revoke&limit=1").await;
    assert_eq!(revoked["items"][0]["actor"], "tess");
}
