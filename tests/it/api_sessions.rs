//! Accounts and sessions over the real API: users and the last-admin guard, sessions that end on
//! logout, password change and disabling, refresh rotation and reuse detection, API tokens,
//! forged JWTs, the login rate limit, and the browser's login and logout forms (login CSRF,
//! audited logout).

use crate::app;

use app::{ADMIN_PASSWORD, TestApp};
use base64::Engine as _;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub(crate) const PASSWORD: &str = "a long enough password";

/// Call the API with bearer `token` (or none).
pub(crate) async fn call_as(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value, HeaderMap) {
    let mut request = app.http.request(method, format!("{}{}", app.base, path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value, headers)
}

/// Status of `GET path` with `token`.
async fn get_status(app: &TestApp, token: &str, path: &str) -> StatusCode {
    call_as(app, Some(token), Method::GET, path, None).await.0
}

async fn login_raw(
    app: &TestApp,
    username: &str,
    password: &str,
) -> (StatusCode, Value, HeaderMap) {
    call_as(
        app,
        None,
        Method::POST,
        "/api/auth/login",
        Some(json!({"username": username, "password": password})),
    )
    .await
}

/// Log in (must succeed); the token pair.
async fn login(app: &TestApp, username: &str, password: &str) -> Value {
    let (status, body, _) = login_raw(app, username, password).await;
    assert_eq!(status, StatusCode::OK, "login {username}: {body}");
    body
}

async fn refresh(app: &TestApp, refresh_token: &Value) -> (StatusCode, Value) {
    let (status, body, _) = call_as(
        app,
        None,
        Method::POST,
        "/api/auth/refresh",
        Some(json!({"refresh_token": refresh_token})),
    )
    .await;
    (status, body)
}

/// Create user `name` with `role` as the admin; its id.
pub(crate) async fn create_user(app: &TestApp, name: &str, role: &str) -> String {
    let (status, user) = app
        .post(
            "/api/users",
            json!({"username": name, "password": PASSWORD, "role": role}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    user["id"].as_str().unwrap().to_string()
}

fn access(pair: &Value) -> &str {
    pair["access_token"].as_str().unwrap()
}

/// The single field named by a 422.
fn field(body: &Value) -> &str {
    assert_eq!(body["status"], 422, "{body}");
    body["errors"][0]["field"].as_str().unwrap()
}

async fn audit_actions(app: &TestApp, action: &str) -> Vec<Value> {
    app.get(&format!("/api/audit?action={action}")).await["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn users_crud_and_the_last_admin_guard() {
    let app = TestApp::start().await;
    let id = create_user(&app, "olga", "operator").await;
    let user = app.get(&format!("/api/users/{id}")).await;
    assert_eq!(
        (
            user["username"].as_str(),
            user["role"].as_str(),
            &user["disabled"]
        ),
        (Some("olga"), Some("operator"), &json!(false))
    );
    let listed = app.get("/api/users").await;
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["olga", "admin"]);
    let shown = listed.to_string();
    assert!(
        !shown.contains("argon2") && !shown.contains("password"),
        "{shown}"
    );

    // Bad input names the field; a taken username is a conflict.
    let cases = [
        (
            json!({"username": "x", "password": "short", "role": "viewer"}),
            "password",
        ),
        (
            json!({"username": "bad name", "password": PASSWORD, "role": "viewer"}),
            "username",
        ),
        (
            json!({"username": "x", "password": PASSWORD, "role": "root"}),
            "role",
        ),
    ];
    for (body, name) in cases {
        let (status, problem) = app.post("/api/users", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(field(&problem), name);
    }
    let (status, problem) = app
        .post(
            "/api/users",
            json!({"username": "x", "password": "short", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("12"),
        "{problem}"
    );
    let (status, _) = app
        .post(
            "/api/users",
            json!({"username": "olga", "password": PASSWORD, "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // An operator manages no users.
    let olga = login(&app, "olga", PASSWORD).await;
    assert_eq!(
        get_status(&app, access(&olga), "/api/users").await,
        StatusCode::FORBIDDEN
    );
    let admin_id = app.get("/api/users").await["items"][1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let admin_path = format!("/api/users/{admin_id}");

    // The only admin can be neither demoted, disabled nor deleted.
    for body in [json!({"role": "operator"}), json!({"disabled": true})] {
        let (status, problem) = app.call(Method::PATCH, &admin_path, Some(body)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    }
    let (status, _) = app.call(Method::DELETE, &admin_path, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(app.get(&admin_path).await["role"], "admin");

    // With a second admin, the first may step down; then the second is the last one.
    let (status, promoted) = app
        .call(
            Method::PATCH,
            &format!("/api/users/{id}"),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(
        (status, promoted["role"].as_str()),
        (StatusCode::OK, Some("admin"))
    );
    // The role is read on each request: olga's existing session is an admin's now.
    assert_eq!(
        get_status(&app, access(&olga), "/api/users").await,
        StatusCode::OK
    );
    let (status, _, _) = call_as(
        &app,
        Some(access(&olga)),
        Method::PATCH,
        &admin_path,
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call_as(
        &app,
        Some(access(&olga)),
        Method::DELETE,
        &format!("/api/users/{id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Deleting a user ends its sessions.
    let (status, _, _) = call_as(
        &app,
        Some(access(&olga)),
        Method::PATCH,
        &admin_path,
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(Method::DELETE, &format!("/api/users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        get_status(&app, access(&olga), "/api/keys").await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = app
        .call(Method::GET, &format!("/api/users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The first admin (created by the system at start-up) and olga.
    let created = audit_actions(&app, "user.create").await;
    let actors: Vec<&str> = created
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["admin", "system"]);
    assert_eq!(audit_actions(&app, "user.update").await.len(), 3);
    assert_eq!(audit_actions(&app, "user.delete").await.len(), 1);
}

#[tokio::test]
async fn a_password_change_ends_every_session_of_the_user() {
    let app = TestApp::start().await;
    let id = create_user(&app, "pat", "viewer").await;
    let first = login(&app, "pat", PASSWORD).await;
    let second = login(&app, "pat", PASSWORD).await;

    let (status, problem, _) = call_as(
        &app,
        Some(access(&first)),
        Method::POST,
        "/api/users/me/password",
        Some(
            json!({"current_password": "wrong password!", "new_password": "another long password"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&problem), "current_password");
    let (status, problem, _) = call_as(
        &app,
        Some(access(&first)),
        Method::POST,
        "/api/users/me/password",
        Some(json!({"current_password": PASSWORD, "new_password": "short"})),
    )
    .await;
    assert_eq!(field(&problem), "new_password", "{status}");
    assert_eq!(
        get_status(&app, access(&first), "/api/keys").await,
        StatusCode::OK
    );

    let (status, _, _) = call_as(
        &app,
        Some(access(&first)),
        Method::POST,
        "/api/users/me/password",
        Some(json!({"current_password": PASSWORD, "new_password": "another long password"})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for pair in [&first, &second] {
        assert_eq!(
            get_status(&app, access(pair), "/api/keys").await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            refresh(&app, &pair["refresh_token"]).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_raw(&app, "pat", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    let third = login(&app, "pat", "another long password").await;

    // An admin setting the password ends the sessions too.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/users/{id}"),
            Some(json!({"password": "yet another password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        get_status(&app, access(&third), "/api/keys").await,
        StatusCode::UNAUTHORIZED
    );
    // The admin's own session is untouched.
    assert_eq!(
        get_status(&app, &app.token, "/api/keys").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_disabled_user_is_refused_with_every_credential() {
    let app = TestApp::start().await;
    let id = create_user(&app, "dora", "operator").await;
    let pair = login(&app, "dora", PASSWORD).await;
    let (status, token, _) = call_as(
        &app,
        Some(access(&pair)),
        Method::POST,
        "/api/tokens",
        Some(json!({"name": "ci", "role": "viewer"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let api_token = token["token"].as_str().unwrap().to_string();
    assert_eq!(
        get_status(&app, &api_token, "/api/keys").await,
        StatusCode::OK
    );

    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/users/{id}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        get_status(&app, access(&pair), "/api/keys").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_status(&app, &api_token, "/api/keys").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &pair["refresh_token"]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_raw(&app, "dora", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Deleting the user deletes its tokens: enabling a new "dora" does not revive them.
    let (status, _) = app
        .call(Method::DELETE, &format!("/api/users/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    create_user(&app, "dora", "operator").await;
    assert_eq!(
        get_status(&app, &api_token, "/api/keys").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_chain() {
    let app = TestApp::start().await;
    create_user(&app, "rita", "viewer").await;
    let first = login(&app, "rita", PASSWORD).await;
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["expires_in"], 900);
    assert!(first["refresh_token"].as_str().unwrap().starts_with("tsr_"));

    let (status, second) = refresh(&app, &first["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(
        get_status(&app, access(&second), "/api/keys").await,
        StatusCode::OK
    );
    let (status, third) = refresh(&app, &second["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{third}");

    // The first token again: it was spent, so someone copied it. The whole chain ends,
    // the newest tokens included.
    let (status, problem) = refresh(&app, &first["refresh_token"]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    assert_eq!(
        get_status(&app, access(&third), "/api/keys").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &third["refresh_token"]).await.0,
        StatusCode::UNAUTHORIZED
    );
    let events = audit_actions(&app, "auth.refresh").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (events[0]["outcome"].as_str(), events[0]["actor"].as_str()),
        (Some("denied"), Some("rita"))
    );

    // Garbage and unknown tokens: 401, and a missing field: 422.
    assert_eq!(
        refresh(&app, &json!("tsr_nope")).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _, _) = call_as(
        &app,
        None,
        Method::POST,
        "/api/auth/refresh",
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Another session of the same user lives on.
    let other = login(&app, "rita", PASSWORD).await;
    assert_eq!(
        get_status(&app, access(&other), "/api/keys").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn logout_ends_only_the_current_session() {
    let app = TestApp::start().await;
    let pair = login(&app, "admin", ADMIN_PASSWORD).await;
    let (status, _, _) = call_as(
        &app,
        Some(access(&pair)),
        Method::POST,
        "/api/auth/logout",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        get_status(&app, access(&pair), "/api/keys").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        refresh(&app, &pair["refresh_token"]).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_status(&app, &app.token, "/api/keys").await,
        StatusCode::OK
    );
    let (status, _, _) = call_as(&app, None, Method::POST, "/api/auth/logout", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(audit_actions(&app, "auth.logout").await.len(), 1);
}

/// Post the UI login form with `headers` (name, value); the response is not followed.
async fn ui_login(app: &TestApp, headers: &[(&str, &str)]) -> reqwest::Response {
    let form =
        serde_urlencoded::to_string([("username", "admin"), ("password", ADMIN_PASSWORD)]).unwrap();
    let mut request = no_redirects()
        .post(format!("{}/ui/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Issue 13, finding 2 (login CSRF): a cross-site post of the login form signs nobody in, the
/// same-origin form and a client without browser headers do.
#[tokio::test]
async fn the_login_form_refuses_cross_site_posts() {
    let app = TestApp::start().await;
    let own = app.base.clone();
    for headers in [
        vec![
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ],
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
        vec![("sec-fetch-site", "same-site")],
    ] {
        let response = ui_login(&app, &headers).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{headers:?}");
        assert!(
            response.headers().get("set-cookie").is_none(),
            "{headers:?} got a session cookie"
        );
    }
    for headers in [
        vec![("origin", own.as_str()), ("sec-fetch-site", "same-origin")],
        vec![("origin", own.as_str())],
        vec![],
    ] {
        let response = ui_login(&app, &headers).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{headers:?}");
        assert!(
            response.headers().get("set-cookie").is_some(),
            "{headers:?}"
        );
    }
}

/// Issue 13, finding 4: the UI's logout is audited like the API's (`auth.logout`, the user as
/// actor), and the session is over afterwards.
#[tokio::test]
async fn the_ui_logout_is_audited() {
    let app = TestApp::start().await;
    let response = ui_login(&app, &[]).await;
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let browser = no_redirects();
    let page = app::ui_page(&browser, &format!("{}/ui/keys", app.base), &cookie).await;
    let csrf = app::page_csrf(&page).expect("the page carries a CSRF token");
    let response = browser
        .post(format!("{}/ui/logout", app.base))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string([("csrf", &csrf)]).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let events = audit_actions(&app, "auth.logout").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["actor"], "admin", "{}", events[0]);
    assert_eq!(events[0]["outcome"], "success", "{}", events[0]);
    assert!(
        events[0]["target"]
            .as_str()
            .is_some_and(|t| t.starts_with("ui_session:")),
        "{}",
        events[0]
    );
    // The session is over: the cookie no longer signs in.
    let status = browser
        .get(format!("{}/api/keys", app.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Issue 13, finding 3: names with invisible or bidirectional formatting characters are refused
/// with a 422 naming the field; usernames are unique whatever their case; a database that
/// already holds two usernames differing in case stops at the migration, naming the index.
#[tokio::test]
async fn names_must_be_visible_and_usernames_unique_whatever_their_case() {
    let app = TestApp::start().await;
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDJ/428ajAHnljnnc2pUDYdGVEI5L4KrLLTT0Ul48lMC";
    for (path, body, named) in [
        (
            "/api/keys",
            json!({"name": "alice\u{200B}", "public_key": key}),
            "name",
        ),
        (
            "/api/keys",
            json!({"name": "alice", "public_key": key, "owner": "\u{202E}ecila"}),
            "owner",
        ),
        (
            "/api/tokens",
            json!({"name": "\u{FEFF}ci", "role": "viewer"}),
            "name",
        ),
        (
            "/api/platforms",
            json!({"name": "web\u{202E}1", "host": "192.0.2.1", "username": "deploy",
                   "auth_method": "password", "password": "pw"}),
            "name",
        ),
    ] {
        let (status, body) = app.post(path, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(field(&body), named, "{path}: {body}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("formatting characters")),
            "{body}"
        );
    }

    create_user(&app, "Alice", "viewer").await;
    let (status, body) = app
        .post(
            "/api/users",
            json!({"username": "alice", "password": PASSWORD, "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // A database from before the rule with `Alice` and `ALICE`: the migration refuses it.
    app.sql("DROP INDEX users_username_case_insensitive").await;
    create_user(&app, "ALICE", "viewer").await;
    app.sql("DELETE FROM _sqlx_migrations WHERE version = 9")
        .await;
    let err = testum::store::Store::open(&app.database_url_in_force(), Default::default())
        .await
        .err()
        .expect("the migration must refuse duplicate usernames");
    assert!(
        err.to_string().contains("users_username_case_insensitive"),
        "{err}"
    );
}

#[tokio::test]
async fn api_tokens_are_shown_once_capped_by_role_listed_without_secret_and_revocable() {
    let app = TestApp::start().await;
    create_user(&app, "vic", "viewer").await;
    let vic = login(&app, "vic", PASSWORD).await;
    let vt = Some(access(&vic));

    let (status, problem, _) = call_as(
        &app,
        vt,
        Method::POST,
        "/api/tokens",
        Some(json!({"name": "ci", "role": "operator"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&problem), "role");
    let (status, problem, _) = call_as(
        &app,
        vt,
        Method::POST,
        "/api/tokens",
        Some(json!({"name": "ci", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(
        (status, field(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, "expires_at")
    );
    let (status, created, _) = call_as(
        &app,
        vt,
        Method::POST,
        "/api/tokens",
        Some(json!({"name": "ci", "role": "viewer", "expires_at": "2999-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("tsm_") && secret.len() == 47, "{secret}");
    assert_eq!(
        (created["role"].as_str(), created["username"].as_str()),
        (Some("viewer"), Some("vic"))
    );

    // Usable as a bearer token, with the token's role.
    assert_eq!(get_status(&app, &secret, "/api/keys").await, StatusCode::OK);
    let (status, problem, _) =
        call_as(&app, Some(&secret), Method::POST, "/api/auth/logout", None).await;
    assert_eq!(
        (status, field(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, "Authorization")
    );

    // An admin's viewer token is a viewer.
    let (status, admin_token) = app
        .post(
            "/api/tokens",
            json!({"name": "read-only", "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let admin_secret = admin_token["token"].as_str().unwrap();
    assert_eq!(
        get_status(&app, admin_secret, "/api/users").await,
        StatusCode::FORBIDDEN
    );

    // Listed without the secret: vic sees its own, the admin sees both.
    let (status, own, _) = call_as(&app, vt, Method::GET, "/api/tokens", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(own["items"].as_array().unwrap().len(), 1, "{own}");
    let everyone = app.get("/api/tokens").await;
    assert_eq!(everyone["items"].as_array().unwrap().len(), 2, "{everyone}");
    for listing in [own.to_string(), everyone.to_string()] {
        assert!(
            !listing.contains(&secret) && !listing.contains(admin_secret),
            "{listing}"
        );
        assert!(!listing.contains("\"token\""), "{listing}");
    }
    // The token's own use was recorded.
    assert!(own["items"][0]["last_used_at"].is_string(), "{own}");

    // Vic cannot revoke the admin's token; the admin can revoke vic's.
    let admin_token_id = admin_token["id"].as_str().unwrap();
    let (status, _, _) = call_as(
        &app,
        vt,
        Method::DELETE,
        &format!("/api/tokens/{admin_token_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        get_status(&app, admin_secret, "/api/keys").await,
        StatusCode::OK
    );
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/tokens/{}", created["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        get_status(&app, &secret, "/api/keys").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(audit_actions(&app, "token.create").await.len(), 2);
    assert_eq!(audit_actions(&app, "token.revoke").await.len(), 1);
    // A made-up token of the right shape is refused like any other.
    let fake = format!("tsm_{}", "A".repeat(43));
    assert_eq!(
        get_status(&app, &fake, "/api/keys").await,
        StatusCode::UNAUTHORIZED
    );
}

/// Sign `claims` with HS256 under `key`.
fn sign(claims: &Value, key: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key).unwrap(),
    )
    .unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn expired_tampered_unsigned_and_foreign_jwts_are_refused() {
    let app = TestApp::start().await;
    create_user(&app, "vera", "viewer").await;
    let vera = login(&app, "vera", PASSWORD).await;
    let token = access(&vera);
    assert_eq!(
        get_status(&app, token, "/api/users").await,
        StatusCode::FORBIDDEN
    );
    let parts: Vec<&str> = token.split('.').collect();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[1])
        .unwrap();
    let mut claims: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(claims["role"], "viewer");

    // The server's real key, as the service derives it, signs tokens that work...
    let master =
        testum::crypto::MasterKey::load_or_create(&app.data_dir.path().join("master.key")).unwrap();
    let key = master.derive("testum access token v1");
    assert_eq!(
        get_status(&app, &sign(&claims, &key), "/api/keys").await,
        StatusCode::OK
    );
    // ...but not once expired.
    let now = chrono::Utc::now().timestamp();
    let mut expired = claims.clone();
    expired["iat"] = json!(now - 3600);
    expired["exp"] = json!(now - 120);
    assert_eq!(
        get_status(&app, &sign(&expired, &key), "/api/keys").await,
        StatusCode::UNAUTHORIZED
    );

    // The payload's role changed to admin, the signature kept.
    claims["role"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(claims.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(
        get_status(&app, &tampered, "/api/keys").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_status(&app, &tampered, "/api/users").await,
        StatusCode::UNAUTHORIZED
    );

    // alg: none, with and without the old signature.
    let none_header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    let body = b64(claims.to_string().as_bytes());
    for forged in [
        format!("{none_header}.{body}."),
        format!("{none_header}.{body}.{}", parts[2]),
    ] {
        assert_eq!(
            get_status(&app, &forged, "/api/keys").await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Well formed and signed, but with another key.
    assert_eq!(
        get_status(&app, &sign(&claims, &[7u8; 32]), "/api/keys").await,
        StatusCode::UNAUTHORIZED
    );
    // The genuine token still works.
    assert_eq!(get_status(&app, token, "/api/keys").await, StatusCode::OK);
}

#[tokio::test]
async fn login_is_rate_limited_per_username_and_per_ip_without_slowing_other_routes() {
    let app = TestApp::start_with(|config| {
        config.rate_limits.auth_rate_per_ip_per_min = 1;
        config.rate_limits.auth_rate_per_ip_burst = 4;
        config.rate_limits.login_rate_per_user_per_min = 2;
    })
    .await;
    // The harness's admin login was attempt 1 from this address.
    for _ in 0..2 {
        assert_eq!(
            login_raw(&app, "ghost", "wrong").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let assert_limited = |(status, body, headers): (StatusCode, Value, HeaderMap)| {
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["status"], 429);
        assert_eq!(headers["content-type"], "application/problem+json");
        let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "Retry-After {wait}");
    };
    // Third try for the same username: refused by the per-username limit.
    assert_limited(login_raw(&app, "ghost", "wrong").await);
    // Fifth request from this address: refused by the per-IP limit, whatever the username,
    // and refresh shares it.
    assert_limited(login_raw(&app, "admin", ADMIN_PASSWORD).await);
    let (status, body, headers) = call_as(
        &app,
        None,
        Method::POST,
        "/api/auth/refresh",
        Some(json!({"refresh_token": "tsr_x"})),
    )
    .await;
    assert_limited((status, body, headers));

    // Everything else answers as usual.
    let (status, _) = app.call_anon(Method::GET, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        get_status(&app, &app.token, "/api/keys").await,
        StatusCode::OK
    );
    // Failed attempts were audited; the refused ones never reached a password check.
    let failures = audit_actions(&app, "auth.login").await;
    assert_eq!(
        failures
            .iter()
            .filter(|e| e["outcome"] == "failure")
            .count(),
        2
    );
}

/// From a fresh-user trial: a leaked API token, even a viewer one, must not become its owner's
/// account (guessing and then changing the password) or outlive its revocation (minting more
/// tokens); guessing the current password is throttled and audited like a login.
#[tokio::test]
async fn api_tokens_cannot_manage_credentials_and_password_guesses_are_limited() {
    // Three logins below, then room for a few guesses before the shared per-username limit.
    let app =
        TestApp::start_with(|config| config.rate_limits.login_rate_per_user_per_min = 6).await;
    create_user(&app, "erin", "operator").await;
    let erin = login(&app, "erin", PASSWORD).await;
    let (status, created, _) = call_as(
        &app,
        Some(access(&erin)),
        Method::POST,
        "/api/tokens",
        Some(json!({"name": "dashboard", "role": "viewer"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap();

    let (status, body, _) = call_as(
        &app,
        Some(token),
        Method::POST,
        "/api/users/me/password",
        Some(json!({"current_password": PASSWORD, "new_password": "a brand new password"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body, _) = call_as(
        &app,
        Some(token),
        Method::POST,
        "/api/tokens",
        Some(json!({"name": "child", "role": "viewer"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // The password still works: nothing changed.
    login(&app, "erin", PASSWORD).await;

    // Wrong guesses with a real session: 422 naming the field, audited, then 429 like login.
    let erin = login(&app, "erin", PASSWORD).await;
    let mut statuses = Vec::new();
    for guess in 0..8 {
        let (status, body, headers) = call_as(
            &app,
            Some(access(&erin)),
            Method::POST,
            "/api/users/me/password",
            Some(json!({"current_password": format!("guess number {guess}"),
                        "new_password": "a brand new password"})),
        )
        .await;
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(field(&body), "current_password");
        } else {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
            assert!(headers.contains_key("retry-after"));
        }
        statuses.push(status);
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "eight guesses in a row were never limited: {statuses:?}"
    );
    let failures: Vec<_> = audit_actions(&app, "user.password")
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "failure")
        .collect();
    assert_eq!(
        failures.len(),
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
            .count(),
        "every wrong guess is audited"
    );
}

/// From a second trial: an admin API token could still set its owner's password through
/// `PATCH /api/users/{id}` (and create users), and an admin session could skip the current
/// password by patching its own account.
#[tokio::test]
async fn passwords_are_set_only_by_a_signed_in_admin_and_ones_own_only_with_the_current_one() {
    let app = TestApp::start().await;
    let target = create_user(&app, "otto", "operator").await;
    let (status, created) = app
        .post(
            "/api/tokens",
            json!({"name": "automation", "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().unwrap();
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/api/users/{target}"),
            json!({"password": "set by a token!"}),
        ),
        (
            Method::POST,
            "/api/users".to_string(),
            json!({"username": "mallory", "password": "a long password", "role": "admin"}),
        ),
    ] {
        let (status, body, _) = call_as(&app, Some(token), method, &path, Some(body)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    // The same token may still do admin work that sets no credential.
    let (status, body, _) = call_as(
        &app,
        Some(token),
        Method::PATCH,
        &format!("/api/users/{target}"),
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let admins: Vec<Value> = app.get("/api/users").await["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["username"] == "admin")
        .cloned()
        .collect();
    let admin_id = admins[0]["id"].as_str().unwrap();
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/api/users/{admin_id}"),
            Some(json!({"password": "no current one asked"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(field(&body), "password");
    // Another admin's session still sets someone else's password.
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/api/users/{target}"),
            Some(json!({"password": "set by an admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    login(&app, "otto", "set by an admin").await;
}
