//! Sign-in through OpenID Connect in a real headless Chromium against a real OpenID provider
//! (`oidc-provider` from npm, [`crate::common::oidc`]): the login page offers "Sign in with …",
//! the provider's sign-in page takes the password, and testum makes the account and its groups
//! from the ID token; grants on those groups give the roles. Then every way a sign-in must fail:
//! a callback whose `state` was changed or that this browser did not start, an ID token with
//! another `nonce`, an expired ID token, one issued in the future, a username given to another subject, and, with
//! `AUTO_CREATE=false`, a user without an account; each audited without a code or token. Also
//! the start checks: an unreachable issuer and a wrong client secret stop the start naming the
//! setting, or leave the provider out with `ON_ERROR=disable`. A provider's user is not offered
//! testum's two-factor sign-in on the account page, and makes an API token there instead.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testum::config::ServeConfig;
use testum::oidc::{OidcSettings, ProviderSettings};
use testum::secret::Secret;

use crate::app::{ADMIN_PASSWORD, TestApp};
use crate::browser::Browser;
use crate::common;
use crate::common::oidc::{CLIENT_ID, CLIENT_SECRET, TestProvider};

/// Settings of provider `name` at `issuer`, as the variables would give them.
fn provider_settings(name: &str, display_name: &str, issuer: &str) -> ProviderSettings {
    ProviderSettings {
        name: name.into(),
        display_name: display_name.into(),
        issuer: issuer.into(),
        client_id: CLIENT_ID.into(),
        client_secret: Secret::new(CLIENT_SECRET),
        client_secret_setting: "CLIENT_SECRET_FILE",
        scopes: vec!["profile".into(), "groups".into()],
        username_claim: "preferred_username".into(),
        groups_claim: Some("groups".into()),
        auto_create: true,
        ca_file: None,
        disable_on_error: false,
    }
}

/// A free loopback listener for testum, and its base URL as browsers reach it: by the name
/// `localhost` while the providers are at `127.0.0.1`, so that testum and the provider are two
/// sites, as a company's provider is (cookies and redirects behave as they would there).
async fn listener() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    (listener, base)
}

/// The redirect URI of provider `name` of testum at `base`.
fn redirect_uri(base: &str, name: &str) -> String {
    format!("{base}/ui/oidc/{name}/callback")
}

/// testum at `base` (on `listener`) with `providers`.
async fn start(
    listener: tokio::net::TcpListener,
    base: &str,
    providers: Vec<ProviderSettings>,
    adjust: impl FnOnce(&mut ServeConfig),
) -> TestApp {
    let public_url = base.to_string();
    TestApp::start_on(listener, move |config| {
        config.oidc = OidcSettings {
            public_url: Some(public_url),
            providers,
        };
        adjust(config);
    })
    .await
}

/// Sign in at the test provider's page, to which the browser has been sent.
async fn at_provider(browser: &Browser, login: &str, password: &str) {
    browser.fill("#provider-login", login).await;
    browser.fill("#provider-password", password).await;
    browser.click("#provider-submit").await;
}

/// As a fresh browser (no testum session, no session at any provider: they are all on
/// 127.0.0.1, whose cookies are shared across ports), open the login page and click "Sign in
/// with …" of provider `name`.
async fn click_sign_in_with(browser: &Browser, base: &str, name: &str) {
    forget_sessions(browser, base).await;
    browser.open(&format!("{base}/")).await;
    browser.click(&format!("#sign-in-{name}")).await;
}

/// Delete the browser's cookies of testum (at `base`) and of the providers (at 127.0.0.1).
async fn forget_sessions(browser: &Browser, base: &str) {
    let port = base.rsplit(':').next().unwrap();
    for site in [base.to_string(), format!("http://127.0.0.1:{port}")] {
        browser.open(&format!("{site}/")).await;
        browser
            .client
            .delete_all_cookies()
            .await
            .expect("clear cookies");
    }
}

/// The newest `auth.login` event of outcome `outcome`.
async fn last_login(app: &TestApp, outcome: &str) -> Value {
    let audit = app
        .get(&format!(
            "/api/audit?action=auth.login&outcome={outcome}&limit=1"
        ))
        .await;
    audit["items"][0].clone()
}

/// Grant `role` on `selector` to the `oidc:corp` group `group` (made by a member's sign-in).
async fn grant_to_group(app: &TestApp, group: &str, role: &str, selector: &str) {
    let groups = app.get("/api/groups").await;
    let id = groups["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == group && g["source"] == "oidc:corp")
        .unwrap_or_else(|| panic!("no oidc:corp group {group} in {groups}"))["id"]
        .clone();
    let (status, body) = app
        .post(
            "/api/grants",
            json!({"group_id": id, "role": role, "selector": selector}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// GET `path` without signing in: the status and the body.
async fn anon_text(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = app
        .http
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Wait for the login page's error and return it.
async fn login_error(browser: &Browser) -> String {
    browser.wait_text("#login-error", |t| !t.is_empty()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_user_signs_in_through_the_provider_and_gets_roles_from_its_groups() {
    let (listener, base) = listener().await;
    let provider = TestProvider::start(
        &redirect_uri(&base, "corp"),
        json!({"alice": {"password": "alice-pw", "groups": ["web-ops", "all-staff"]},
               "mallory": {"password": "mallory-pw", "username": "alice"}}),
        json!({}),
    );
    let app = start(
        listener,
        &base,
        vec![provider_settings("corp", "Corp SSO", &provider.issuer)],
        |_| {},
    )
    .await;
    for (name, tag) in [("web1", "web"), ("db1", "db")] {
        let (status, body) = app
            .post(
                "/api/platforms",
                json!({"name": name, "host": "127.0.0.1", "port": common::closed_port(),
                       "username": "x", "auth_method": "password", "password": "x",
                       "tags": [tag]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let browser = Browser::start().await;

    // The login page offers the provider; its sign-in page takes the password; back at testum
    // the browser is signed in as the provider's user.
    browser.open(&format!("{base}/")).await;
    let offer = browser.text("#sign-in-corp").await;
    assert_eq!(offer, "Sign in with Corp SSO");
    browser.screenshot("oidc-login-page").await;
    browser.click("#sign-in-corp").await;
    at_provider(&browser, "alice", "alice-pw").await;
    browser.wait_path("/ui/keys").await;
    let header = browser.text("header").await;
    assert!(header.contains("alice"), "{header}");

    // An account from the provider, no fleet-wide role, in the provider's groups.
    let users = app.get("/api/users").await;
    let alice = users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(alice["source"], "oidc:corp", "{alice}");
    assert_eq!(alice["role"], Value::Null);
    let success = last_login(&app, "success").await;
    eprintln!("OIDC sign-in, as audited: {success:#}");
    assert_eq!(success["actor"], "alice");
    assert_eq!(success["details"]["provider"], "oidc:corp");
    assert_eq!(success["details"]["subject"], "sub-alice");
    assert_eq!(success["details"]["user_created"], true);
    assert_eq!(
        success["details"]["groups"],
        json!(["web-ops", "all-staff"])
    );
    assert_eq!(
        success["details"]["groups_joined"],
        json!(["web-ops", "all-staff"])
    );
    // It has no password here: the password login says no, and the audit says why.
    let (status, _) = app
        .call_anon(
            Method::POST,
            "/api/auth/login",
            Some(json!({"username": "alice", "password": "alice-pw"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        last_login(&app, "failure").await["details"]["reason"],
        "no_local_password"
    );
    let audit_text = app.get("/api/audit?limit=500").await.to_string();
    assert!(!audit_text.contains("alice-pw"));

    // No grant yet: no platform in sight. A grant on the provider's group web-ops (operator on
    // tag:web) shows web1, never db1.
    browser.open(&format!("{base}/ui/platforms")).await;
    assert!(!browser.source().await.contains("web1"));
    grant_to_group(&app, "web-ops", "operator", "tag:web").await;
    browser.open(&format!("{base}/ui/platforms")).await;
    let page = browser.source().await;
    assert!(page.contains("web1") && !page.contains("db1"), "{page}");

    // The provider's user mallory calls itself alice: another subject, refused, nothing changed.
    click_sign_in_with(&browser, &base, "corp").await;
    at_provider(&browser, "mallory", "mallory-pw").await;
    let error = login_error(&browser).await;
    assert!(
        error.contains("belongs to another Corp SSO user"),
        "{error}"
    );
    let refused = last_login(&app, "failure").await;
    assert_eq!(refused["details"]["reason"], "subject_changed");
    assert_eq!(refused["details"]["subject"], "sub-mallory");
    browser.open(&format!("{base}/ui/keys")).await;
    browser.wait_path("/").await;
    assert!(
        browser.count("#sign-in-corp").await == 1,
        "back at the login page"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_user_s_account_page_leaves_two_factor_to_the_provider_and_makes_tokens() {
    let (listener, base) = listener().await;
    let provider = TestProvider::start(
        &redirect_uri(&base, "corp"),
        json!({"erin": {"password": "erin-pw", "groups": ["web-ops"]}}),
        json!({}),
    );
    let app = start(
        listener,
        &base,
        vec![provider_settings("corp", "Corp SSO", &provider.issuer)],
        |_| {},
    )
    .await;
    let browser = Browser::start().await;
    browser.open(&format!("{base}/")).await;
    browser.click("#sign-in-corp").await;
    at_provider(&browser, "erin", "erin-pw").await;
    browser.wait_path("/ui/keys").await;

    // The second factor is the provider's: nothing to set up here. No role yet: no token either.
    browser.open(&format!("{base}/ui/account")).await;
    let two_factor = browser.text("#totp-state").await;
    assert!(
        two_factor.starts_with("Your sign-in provider asks for the second factor"),
        "{two_factor}"
    );
    assert_eq!(browser.count("#totp-start").await, 0);
    browser.find("#tokens-no-role").await;

    // Viewer through a grant on the provider's group: the page makes a token, the credential
    // the CLI and API take from a user without a password.
    grant_to_group(&app, "web-ops", "viewer", "all").await;
    browser.open(&format!("{base}/ui/account")).await;
    browser.fill("#token-name", "erin-cli").await;
    browser.click("#token-create button[type=submit]").await;
    let secret = browser
        .wait_text("#token-secret", |t| t.starts_with("tsm_"))
        .await;
    browser.client.set_window_size(400, 900).await.unwrap();
    browser.screenshot("account-oidc-narrow").await;
    assert_eq!(browser.sticking_out().await, json!([]), "wider than 400 px");
    let as_erin = |path: &str| {
        app.http
            .get(format!("{base}{path}"))
            .bearer_auth(&secret)
            .send()
    };
    let keys = as_erin("/api/keys").await.unwrap();
    assert_eq!(keys.status(), StatusCode::OK);
    let totp: Value = as_erin("/api/users/me/totp")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(totp["provider_handles_second_factor"], true, "{totp}");
    assert_eq!(totp["required"], false, "{totp}");
}

/// Start a sign-in outside the browser and hand the browser a changed authorization URL with the
/// pending sign-in's cookie, as a man in the middle or a forged link would: `change` edits the
/// query pairs of the provider's URL.
async fn tampered_sign_in(
    browser: &Browser,
    base: &str,
    name: &str,
    change: impl Fn(&str, &str) -> String,
) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let started = client
        .get(format!("{base}/ui/oidc/{name}/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let set_cookie = started.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));
    let value = set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.strip_prefix("testum_oidc="))
        .unwrap()
        .to_string();
    let mut url = reqwest::Url::parse(started.headers()["location"].to_str().unwrap()).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.to_string(), change(&k, &v)))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    // A cookie is set on the page's own site: open testum first (and forget any session).
    forget_sessions(browser, base).await;
    browser.open(&format!("{base}/")).await;
    // (Set from the page, as WebDriver cannot set a cookie on an IP address; HttpOnly is moot.)
    browser
        .client
        .execute(
            "document.cookie = 'testum_oidc=' + arguments[0] + '; path=/ui/oidc/'",
            vec![json!(value)],
        )
        .await
        .expect("set the pending sign-in cookie");
    browser.client.goto(url.as_str()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn changed_state_other_nonce_and_expired_id_tokens_are_refused_and_audited() {
    let (listener, base) = listener().await;
    let users = json!({"bob": {"password": "bob-pw", "groups": ["db-ops"]}});
    let provider = TestProvider::start(&redirect_uri(&base, "corp"), users.clone(), json!({}));
    // A provider whose clock is ten minutes slow and whose ID tokens live a minute: every token
    // it signs has expired nine minutes ago (past any allowed clock skew).
    let stale = TestProvider::start(
        &redirect_uri(&base, "stale"),
        users,
        json!({"clock_offset_secs": -600, "id_token_ttl_secs": 60}),
    );
    // And one two hours ahead: its tokens would live on two hours past their end.
    let ahead = TestProvider::start(
        &redirect_uri(&base, "ahead"),
        json!({"bob": {"password": "bob-pw"}}),
        json!({"clock_offset_secs": 7200}),
    );
    let app = start(
        listener,
        &base,
        vec![
            provider_settings("corp", "Corp SSO", &provider.issuer),
            provider_settings("stale", "Stale SSO", &stale.issuer),
            provider_settings("ahead", "Ahead SSO", &ahead.issuer),
        ],
        |_| {},
    )
    .await;
    let browser = Browser::start().await;

    // The state changed on the way: refused before the code is used.
    tampered_sign_in(&browser, &base, "corp", |k, v| {
        if k == "state" {
            format!("{v}x")
        } else {
            v.to_string()
        }
    })
    .await;
    at_provider(&browser, "bob", "bob-pw").await;
    let error = login_error(&browser).await;
    assert!(error.contains("was not started in this browser"), "{error}");
    assert_eq!(
        last_login(&app, "failure").await["details"]["reason"],
        "state_mismatch"
    );

    // Another nonce asked of the provider than the one testum keeps: the ID token is refused.
    tampered_sign_in(&browser, &base, "corp", |k, v| {
        if k == "nonce" {
            "a-nonce-testum-never-made".into()
        } else {
            v.to_string()
        }
    })
    .await;
    at_provider(&browser, "bob", "bob-pw").await;
    let error = login_error(&browser).await;
    assert!(
        error.contains("could not be verified (nonce mismatch)"),
        "{error}"
    );
    let refused = last_login(&app, "failure").await;
    eprintln!("OIDC sign-in refused, as audited: {refused:#}");
    assert_eq!(refused["details"]["reason"], "nonce_mismatch");
    assert_eq!(refused["details"]["provider"], "oidc:corp");

    // An expired ID token.
    click_sign_in_with(&browser, &base, "stale").await;
    at_provider(&browser, "bob", "bob-pw").await;
    let error = login_error(&browser).await;
    assert!(error.contains("id token expired"), "{error}");
    let refused = last_login(&app, "failure").await;
    assert_eq!(refused["details"]["reason"], "id_token_expired");
    assert_eq!(refused["details"]["provider"], "oidc:stale");

    // An ID token issued in the future.
    click_sign_in_with(&browser, &base, "ahead").await;
    at_provider(&browser, "bob", "bob-pw").await;
    let error = login_error(&browser).await;
    assert!(error.contains("id token from the future"), "{error}");
    assert_eq!(
        last_login(&app, "failure").await["details"]["reason"],
        "id_token_from_the_future"
    );

    // A callback this browser did not start (no cookie), e.g. a link someone sent.
    let (status, page) = anon_text(&app, "/ui/oidc/corp/callback?code=stolen&state=guessed").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("was not started in this browser"), "{page}");

    // None of these signed anyone in, made an account, or put a code or token in the log.
    browser.open(&format!("{base}/ui/keys")).await;
    browser.wait_path("/").await;
    let users = app.get("/api/users").await;
    assert!(!users.to_string().contains("bob"), "{users}");
    let audit = app.get("/api/audit?action=auth.login&limit=20").await;
    assert!(!audit.to_string().contains("stolen"), "{audit}");
    assert!(
        !audit.to_string().contains("eyJ"),
        "no JWT in the audit log: {audit}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_auto_create_only_accounts_an_admin_made_sign_in() {
    let (listener, base) = listener().await;
    let provider = TestProvider::start(
        &redirect_uri(&base, "corp"),
        json!({"carol": {"password": "carol-pw"}, "dave": {"password": "dave-pw"},
               "erin": {"password": "erin-pw"}, "admin": {"password": "admin-at-provider"}}),
        json!({}),
    );
    let mut settings = provider_settings("corp", "Corp SSO", &provider.issuer);
    settings.auto_create = false;
    let app = start(listener, &base, vec![settings], |_| {}).await;
    let browser = Browser::start().await;

    // No account: refused, none made.
    click_sign_in_with(&browser, &base, "corp").await;
    at_provider(&browser, "carol", "carol-pw").await;
    let error = login_error(&browser).await;
    assert!(error.contains("testum has no account \"carol\""), "{error}");
    assert_eq!(
        last_login(&app, "failure").await["details"]["reason"],
        "no_account"
    );

    // An admin makes carol (viewer); her first sign-in links the account to the provider.
    let carol = crate::api_sessions::create_user(&app, "carol", "viewer").await;
    click_sign_in_with(&browser, &base, "corp").await;
    at_provider(&browser, "carol", "carol-pw").await;
    browser.wait_path("/ui/keys").await;
    let account = app.get(&format!("/api/users/{carol}")).await;
    assert_eq!(account["source"], "oidc:corp", "{account}");
    let linked = app.get("/api/audit?action=user.link&limit=1").await;
    assert_eq!(linked["items"][0]["target"], format!("user:{carol}"));
    assert_eq!(linked["items"][0]["details"]["subject"], "sub-carol");
    // From now on through the provider only: its password (and with it any way around the
    // provider's second factor and offboarding) is gone.
    let (status, _) = app
        .call_anon(
            Method::POST,
            "/api/auth/login",
            Some(json!({"username": "carol", "password": crate::api_sessions::PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The provider's word alone never signs anyone in as an admin: not the bootstrap admin, not
    // an account that is admin through a group's grant.
    let erin = crate::api_sessions::create_user(&app, "erin", "viewer").await;
    let (status, group) = app.post("/api/groups", json!({"name": "admins"})).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group = group["id"].as_str().unwrap().to_string();
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/api/groups/{group}"),
            Some(json!({"members": [erin]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            "/api/grants",
            json!({"group_id": group, "role": "admin", "selector": "all"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (login, password) in [("admin", "admin-at-provider"), ("erin", "erin-pw")] {
        click_sign_in_with(&browser, &base, "corp").await;
        at_provider(&browser, login, password).await;
        let error = login_error(&browser).await;
        assert!(error.contains("holds the admin role"), "{error}");
        assert_eq!(
            last_login(&app, "failure").await["details"]["reason"],
            "admin_account_not_linked"
        );
    }
    let erin_now = app.get(&format!("/api/users/{erin}")).await;
    assert_eq!(erin_now["source"], "local", "{erin_now}");

    // A disabled account stays out.
    let dave = crate::api_sessions::create_user(&app, "dave", "viewer").await;
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/users/{dave}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    click_sign_in_with(&browser, &base, "corp").await;
    at_provider(&browser, "dave", "dave-pw").await;
    let error = login_error(&browser).await;
    assert!(error.contains("is disabled"), "{error}");

    // The local admin still signs in with its password.
    let (status, _) = app
        .call_anon(
            Method::POST,
            "/api/auth/login",
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_that_fails_its_start_check_stops_the_start_or_is_left_out() {
    let (listener, base) = listener().await;
    let provider = TestProvider::start(&redirect_uri(&base, "corp"), json!({}), json!({}));
    let prepare = |providers: Vec<ProviderSettings>| {
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = crate::app::config(data_dir.path().to_path_buf());
        config.oidc = OidcSettings {
            public_url: Some(base.clone()),
            providers,
        };
        async move {
            let result = testum::server::prepare(&config).await.map(|_| ());
            drop(data_dir);
            result.map_err(|e| e.to_string())
        }
    };

    // Nothing listens at the issuer.
    let down = format!("http://127.0.0.1:{}", common::closed_port());
    let e = prepare(vec![provider_settings("corp", "Corp", &down)])
        .await
        .unwrap_err();
    assert!(
        e.starts_with(&format!("TESTUM_OIDC_CORP_ISSUER: discovery of {down}")),
        "{e}"
    );

    // A wrong client secret: named, and never printed.
    let mut wrong = provider_settings("corp", "Corp", &provider.issuer);
    wrong.client_secret = Secret::new("not-the-secret");
    let e = prepare(vec![wrong.clone()]).await.unwrap_err();
    assert!(
        e.starts_with("TESTUM_OIDC_CORP_CLIENT_SECRET_FILE: the provider refused the client"),
        "{e}"
    );
    assert!(!e.contains("not-the-secret"));

    // An issuer over plain HTTP to another host.
    let e = prepare(vec![provider_settings(
        "corp",
        "Corp",
        "http://login.example.com",
    )])
    .await
    .unwrap_err();
    assert!(e.contains("must be https://"), "{e}");

    // ON_ERROR=disable: the start goes on without that provider; local sign-in works.
    wrong.disable_on_error = true;
    let app = start(listener, &base, vec![wrong], |_| {}).await;
    let page = anon_text(&app, "/").await.1;
    assert!(!page.contains("sign-in-corp"), "{page}");
    let (status, _) = anon_text(&app, "/ui/oidc/corp/login").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call_anon(
            Method::POST,
            "/api/auth/login",
            Some(json!({"username": "admin", "password": ADMIN_PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}
