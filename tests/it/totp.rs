//! Two-factor sign-in (TOTP, RFC 6238) over the real API, SQLite and PostgreSQL: enrolment and
//! its confirmation, login that needs a code, wrong and replayed codes refused and audited
//! without the code, recovery codes that work once, the policy `TESTUM_REQUIRE_TOTP_FOR=admin`
//! and the per-user flag holding a user to enrolment, an admin's reset, API tokens, the CLI's
//! `login --totp`, and the master-key rotation re-sealing the secrets. No secret, code or recovery
//! code is in an answer after enrolment, in the audit log or in the log.
//!
//! The server checks codes against the real clock; the tests compute them with `totp-rs`'s own
//! defaults (SHA-1, 6 digits, 30 s, what authenticator apps use) at chosen times: the current
//! step, the next one (inside the ±1 step skew, so a second code can be used at once), and three
//! steps ahead (outside it whatever step the server is in meanwhile).

use crate::api_sessions::{PASSWORD, call_as, create_user};
use crate::app;

use std::time::Duration;

use app::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testum::totp::RequireTotpFor;

/// Seconds of a time step.
pub(crate) const STEP: u64 = 30;

/// The Unix time now, in seconds.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The code of base32 `secret` at Unix time `at`, as an authenticator app computes it.
pub(crate) fn code_at(secret: &str, at: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret.replace(' ', "")).unwrap();
    totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .unwrap()
        .generate(at)
        .to_string()
}

/// `POST /api/auth/login` with `totp` when given.
async fn login(
    app: &TestApp,
    user: &str,
    password: &str,
    totp: Option<&str>,
) -> (StatusCode, Value) {
    let mut body = json!({"username": user, "password": password});
    if let Some(code) = totp {
        body["totp"] = code.into();
    }
    let (status, body, _) = call_as(app, None, Method::POST, "/api/auth/login", Some(body)).await;
    (status, body)
}

/// Log `user` in (must succeed); its access token.
pub(crate) async fn token(app: &TestApp, user: &str, password: &str, totp: Option<&str>) -> String {
    let (status, body) = login(app, user, password, totp).await;
    assert_eq!(status, StatusCode::OK, "login {user}: {body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn as_user(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let (status, body, _) = call_as(app, Some(token), method, path, body).await;
    (status, body)
}

/// `POST /api/users/me/totp/confirm {code}` as the holder of `token`.
async fn confirm(app: &TestApp, token: &str, code: &str) -> (StatusCode, Value) {
    let body = json!({"code": code});
    as_user(
        app,
        token,
        Method::POST,
        "/api/users/me/totp/confirm",
        Some(body),
    )
    .await
}

/// The recovery codes of a confirmation's answer.
fn recovery_codes(confirmed: &Value) -> Vec<String> {
    confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// User `name` as `GET /api/users` lists it.
pub(crate) async fn listed_user(app: &TestApp, name: &str) -> Value {
    let users = app.get("/api/users").await;
    users["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == name)
        .unwrap_or_else(|| panic!("no user {name} in {users}"))
        .clone()
}

/// Start and confirm two-factor sign-in for the holder of `token` with the current code; the
/// base32 secret and the recovery codes.
pub(crate) async fn enrol(app: &TestApp, token: &str) -> (String, Vec<String>) {
    let (status, started) = as_user(app, token, Method::POST, "/api/users/me/totp", None).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let secret = started["secret"].as_str().unwrap().to_string();
    let (status, confirmed) = confirm(app, token, &code_at(&secret, now())).await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    (secret, recovery_codes(&confirmed))
}

/// The audit events of `action` for `target`, newest first.
async fn audited(app: &TestApp, action: &str, target: &str) -> Vec<Value> {
    app.get(&format!(
        "/api/audit?action={action}&target={target}&limit=100"
    ))
    .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn enrolment_then_login_needs_a_code_once_and_recovery_codes_work_once() {
    crate::logs::captured();
    let app = TestApp::start().await;
    let id = create_user(&app, "tina", "operator").await;
    let target = format!("user:{id}");
    let tina = token(&app, "tina", PASSWORD, None).await;
    let (status, state) = as_user(&app, &tina, Method::GET, "/api/users/me/totp", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        state,
        json!({"enabled": false, "pending": false, "required": false, "recovery_codes_left": 0,
               "provider_handles_second_factor": false})
    );

    // Start: the URI, the same secret as text, and the URI as an SVG QR code. A second start
    // replaces the first, whose codes then do not confirm.
    let (_, first) = as_user(&app, &tina, Method::POST, "/api/users/me/totp", None).await;
    let (status, started) = as_user(&app, &tina, Method::POST, "/api/users/me/totp", None).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let secret = started["secret"].as_str().unwrap().to_string();
    assert_ne!(first["secret"], started["secret"]);
    assert_eq!(secret.len(), 32, "160 bits in base32: {secret}");
    let uri = started["otpauth_uri"].as_str().unwrap();
    assert_eq!(
        uri,
        format!("otpauth://totp/testum:tina?secret={secret}&issuer=testum")
    );
    let app_view = totp_rs::Totp::from_url(uri).unwrap();
    assert_eq!(
        app_view.generate(now()).to_string(),
        code_at(&secret, now())
    );
    assert!(started["qr_svg"].as_str().unwrap().contains("<svg"));
    let (_, state) = as_user(&app, &tina, Method::GET, "/api/users/me/totp", None).await;
    assert_eq!(
        (&state["enabled"], &state["pending"]),
        (&json!(false), &json!(true))
    );
    // Pending is not on: the password alone still signs in.
    token(&app, "tina", PASSWORD, None).await;

    // Confirm: a code of the replaced secret, or one three steps ahead, is refused (audited);
    // the current code turns it on and answers ten distinct recovery codes, once.
    let old_secret = first["secret"].as_str().unwrap();
    for wrong in [
        code_at(old_secret, now()),
        code_at(&secret, now() + 3 * STEP),
    ] {
        let (status, problem) = confirm(&app, &tina, &wrong).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["errors"][0]["field"], "code");
    }
    let refused = audited(&app, "totp.enable", &target).await;
    assert_eq!(refused.len(), 2);
    assert_eq!(refused[0]["outcome"], "failure");
    assert_eq!(refused[0]["details"], json!({"reason": "wrong code"}));
    let confirm_step = now() / STEP;
    let (status, confirmed) = confirm(&app, &tina, &code_at(&secret, now())).await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let recovery = recovery_codes(&confirmed);
    assert_eq!(recovery.len(), 10);
    assert_eq!(
        recovery
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        10
    );
    let (status, _) = confirm(&app, &tina, &code_at(&secret, now())).await;
    assert_eq!(status, StatusCode::CONFLICT, "confirmed once only");
    let (_, state) = as_user(&app, &tina, Method::GET, "/api/users/me/totp", None).await;
    assert_eq!(
        state,
        json!({"enabled": true, "pending": false, "required": false, "recovery_codes_left": 10,
               "provider_handles_second_factor": false})
    );
    let (status, _) = as_user(&app, &tina, Method::POST, "/api/users/me/totp", None).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "no second app while one is on"
    );

    // Login: without a code, the right password gets a typed 401 telling to send one; a wrong
    // code another; a wrong password the usual answer whatever the code.
    let (status, problem) = login(&app, "tina", PASSWORD, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        problem["type"], "tag:testum,2026:totp-required",
        "{problem}"
    );
    assert_eq!(problem["title"], "Second factor required");
    let far = code_at(&secret, now() + 3 * STEP);
    let (status, problem) = login(&app, "tina", PASSWORD, Some(&far)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["type"], "tag:testum,2026:totp-invalid", "{problem}");
    for garbage in ["12345", "abcdef", "1234567"] {
        let (status, problem) = login(&app, "tina", PASSWORD, Some(garbage)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{garbage}");
        assert_eq!(problem["type"], "tag:testum,2026:totp-invalid", "{problem}");
    }
    let (status, problem) = login(&app, "tina", "not the password", Some(&far)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["type"], "about:blank", "{problem}");
    assert_eq!(problem["detail"], "invalid username or password");

    // The next step's code signs in (within the skew); the same code again is a replay, and so
    // is the code of the step the enrolment used.
    let next = code_at(&secret, (confirm_step + 1) * STEP);
    token(&app, "tina", PASSWORD, Some(&next)).await;
    let (status, problem) = login(&app, "tina", PASSWORD, Some(&next)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["type"], "tag:testum,2026:totp-invalid");
    let enrolled = code_at(&secret, confirm_step * STEP);
    if enrolled != next {
        let (status, _) = login(&app, "tina", PASSWORD, Some(&enrolled)).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "the enrolment's code is spent"
        );
    }

    // A recovery code works once, typed in any case with spaces for dashes.
    let typed = recovery[3].to_uppercase().replace('-', " ");
    token(&app, "tina", PASSWORD, Some(&typed)).await;
    let (status, problem) = login(&app, "tina", PASSWORD, Some(&recovery[3])).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
    assert_eq!(problem["type"], "tag:testum,2026:totp-invalid");
    let (_, state) = as_user(&app, &tina, Method::GET, "/api/users/me/totp", None).await;
    assert_eq!(state["recovery_codes_left"], 9);

    // Every attempt is audited with its reason and how it passed, never with what was typed.
    let logins = audited(&app, "auth.login", &target).await;
    let reasons: Vec<&str> = logins
        .iter()
        .filter(|e| e["outcome"] == "failure")
        .map(|e| e["details"]["reason"].as_str().unwrap())
        .collect();
    let mut expected = vec!["unknown or used recovery code", "code already used"];
    if enrolled != next {
        expected.push("code already used");
    }
    expected.extend([
        "second factor malformed",
        "second factor malformed",
        "second factor malformed",
        "wrong code",
        "second factor required",
    ]);
    assert_eq!(reasons, expected);
    for event in &logins {
        let keys: Vec<&String> = event["details"].as_object().unwrap().keys().collect();
        for key in keys {
            assert!(
                [
                    "remote_addr",
                    "reason",
                    "second_factor",
                    "recovery_codes_left"
                ]
                .contains(&key.as_str()),
                "{event}"
            );
        }
    }
    let passed: Vec<&Value> = logins
        .iter()
        .filter(|e| e["outcome"] == "success")
        .map(|e| &e["details"])
        .collect();
    assert_eq!(passed[0]["second_factor"], "recovery_code");
    assert_eq!(passed[0]["recovery_codes_left"], 9);
    assert_eq!(passed[1]["second_factor"], "totp");
    assert_eq!(passed[2]["second_factor"], Value::Null, "before it was on");

    // No answer after enrolment, no audit event and no log line holds the secret or a recovery
    // code.
    let mut seen = String::new();
    for path in [
        "/api/users",
        &format!("/api/users/{id}"),
        "/api/audit?limit=500",
    ] {
        seen.push_str(&app.get(path).await.to_string());
    }
    seen.push_str(
        &as_user(&app, &tina, Method::GET, "/api/users/me/totp", None)
            .await
            .1
            .to_string(),
    );
    let log = crate::logs::text();
    for text in [&seen, &log] {
        assert!(!text.contains(&secret), "the secret leaked");
        assert!(!text.contains(old_secret), "the first secret leaked");
        for code in &recovery {
            assert!(!text.contains(code.as_str()), "a recovery code leaked");
            assert!(
                !text.contains(&code.replace('-', "")),
                "a recovery code leaked"
            );
        }
    }
    let user = app.get(&format!("/api/users/{id}")).await;
    assert_eq!(
        (&user["totp_enabled"], &user["require_totp"]),
        (&json!(true), &json!(false))
    );

    // An API token is not asked for a code, and cannot turn two-factor sign-in on or off.
    let (status, created) = as_user(
        &app,
        &tina,
        Method::POST,
        "/api/tokens",
        Some(json!({"name": "ci", "role": "viewer"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let api_token = created["token"].as_str().unwrap();
    let (status, _) = as_user(&app, api_token, Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    for (method, path) in [
        (Method::POST, "/api/users/me/totp"),
        (Method::POST, "/api/users/me/totp/confirm"),
        (Method::POST, "/api/users/me/totp/disable"),
    ] {
        let (status, body) = as_user(
            &app,
            api_token,
            method,
            path,
            Some(json!({"code": "123456"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }

    // Turning it off needs proof: a wrong password is refused (audited), nothing at all is a
    // 422, a recovery code does it.
    let disable = |body: Value| {
        let (app, tina) = (&app, &tina);
        async move {
            as_user(
                app,
                tina,
                Method::POST,
                "/api/users/me/totp/disable",
                Some(body),
            )
            .await
        }
    };
    let (status, problem) = disable(json!({"password": "not the password"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["errors"][0]["field"], "password");
    let (status, problem) = disable(json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, _) = disable(json!({"code": recovery[0]})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let off = audited(&app, "totp.disable", &target).await;
    assert_eq!(
        off[0]["details"],
        json!({"proved_with": "recovery_code", "was_enabled": true})
    );
    assert_eq!(off[1]["details"], json!({"reason": "wrong password"}));
    let (status, _) = disable(json!({"password": PASSWORD})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "off already");
    token(&app, "tina", PASSWORD, None).await;
    let (_, state) = as_user(&app, &tina, Method::GET, "/api/users/me/totp", None).await;
    assert_eq!(state["recovery_codes_left"], 0, "the codes went with it");
}

#[tokio::test]
async fn required_for_admins_holds_them_to_enrolment_and_an_admin_resets_a_user() {
    let app = TestApp::start_with(|config| config.require_totp_for = RequireTotpFor::Admin).await;
    // The admin signed in (with the password alone: nothing is enrolled yet), but may only enrol.
    let (status, problem) = app.call(Method::GET, "/api/keys", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        problem["type"], "tag:testum,2026:totp-enrolment-required",
        "{problem}"
    );
    assert!(
        problem["detail"].as_str().unwrap().contains("/ui/account"),
        "{problem}"
    );
    let (status, _) = app
        .post(
            "/api/users",
            json!({"username": "otto", "password": PASSWORD, "role": "operator"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let state = app.get("/api/users/me/totp").await;
    assert_eq!(
        (&state["required"], &state["enabled"]),
        (&json!(true), &json!(false))
    );
    let (secret, _) = enrol(&app, &app.token).await;
    assert_eq!(app.get("/api/keys").await["items"], json!([]));
    // From now on the admin signs in with a code.
    let (status, problem) = login(&app, "admin", app::ADMIN_PASSWORD, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["type"], "tag:testum,2026:totp-required");
    let next = code_at(&secret, now() + STEP);
    token(&app, "admin", app::ADMIN_PASSWORD, Some(&next)).await;

    // An operator is not held by the admin policy, until an admin marks it `require_totp`.
    let otto_id = create_user(&app, "otto", "operator").await;
    let otto = token(&app, "otto", PASSWORD, None).await;
    let (status, _) = as_user(&app, &otto, Method::GET, "/api/platforms", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, user) = app
        .call(
            Method::PATCH,
            &format!("/api/users/{otto_id}"),
            Some(json!({"require_totp": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(
        (&user["require_totp"], &user["totp_enabled"]),
        (&json!(true), &json!(false))
    );
    let updated = audited(&app, "user.update", &format!("user:{otto_id}")).await;
    assert_eq!(updated[0]["details"]["require_totp"], true);
    // Held at once, with every credential: its session, and no new API token either.
    for (method, path) in [
        (Method::GET, "/api/platforms"),
        (Method::POST, "/api/tokens"),
        (Method::POST, "/api/users/me/password"),
    ] {
        let (status, body) = as_user(&app, &otto, method, path, Some(json!({}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    let (status, _) = as_user(&app, &otto, Method::GET, "/api/users/me/totp", None).await;
    assert_eq!(status, StatusCode::OK);
    let (otto_secret, _) = enrol(&app, &otto).await;
    let (status, _) = as_user(&app, &otto, Method::GET, "/api/platforms", None).await;
    assert_eq!(status, StatusCode::OK);
    let row = listed_user(&app, "otto").await;
    assert_eq!(
        (&row["require_totp"], &row["totp_enabled"]),
        (&json!(true), &json!(true))
    );

    // Otto lost the phone: an admin resets it (audited, and never through an API token); otto
    // then signs in with the password and is held to enrolment again.
    let (status, created) = app
        .post("/api/tokens", json!({"name": "ops", "role": "admin"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let reset_path = format!("/api/users/{otto_id}/totp");
    let (status, _) = as_user(
        &app,
        created["token"].as_str().unwrap(),
        Method::DELETE,
        &reset_path,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an API token cannot reset");
    let (status, _) = as_user(&app, &otto, Method::DELETE, &reset_path, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an operator cannot reset");
    let (status, _) = app.call(Method::DELETE, &reset_path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let reset = audited(&app, "totp.reset", &format!("user:{otto_id}")).await;
    assert_eq!(reset[0]["actor"], "admin");
    assert_eq!(
        reset[0]["details"],
        json!({"username": "otto", "was_enabled": true})
    );
    let (status, _) = app.call(Method::DELETE, &reset_path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing left to reset");
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/users/{}/totp", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let stale = code_at(&otto_secret, now() + STEP);
    let otto = token(&app, "otto", PASSWORD, Some(&stale)).await;
    let (status, _) = as_user(&app, &otto, Method::GET, "/api/platforms", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "held to enrolment again");

    // Without the flag, otto is free again.
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/users/{otto_id}"),
            Some(json!({"require_totp": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = as_user(&app, &otto, Method::GET, "/api/platforms", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn cli_login_takes_a_code_and_says_in_one_line_what_is_wrong() {
    let app = TestApp::start().await;
    create_user(&app, "cleo", "viewer").await;
    let cleo = token(&app, "cleo", PASSWORD, None).await;
    let (secret, _) = enrol(&app, &cleo).await;
    let config = tempfile::tempdir().unwrap();
    let cli = |args: Vec<String>| {
        // In a session of its own, so it has no terminal to ask at even when the tests run in
        // one (util-linux's setsid).
        let mut command = std::process::Command::new("setsid");
        command
            .arg("--wait")
            .arg(env!("CARGO_BIN_EXE_testum"))
            .env_clear()
            .env("HOME", config.path())
            .env("XDG_CONFIG_HOME", config.path())
            .env("TESTUM_PASSWORD", PASSWORD)
            .args(["login", "--url", &app.base, "--username", "cleo"])
            .args(args)
            .stdin(std::process::Stdio::null());
        async move {
            let out = tokio::task::spawn_blocking(move || command.output().unwrap())
                .await
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        }
    };
    // No terminal to ask at: it says how to give the code.
    let (code, stderr) = cli(vec![]).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.starts_with(
            "testum: cannot read the two-factor code (give --totp when there is no terminal): "
        ),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let (code, stderr) = cli(vec!["--totp".into(), code_at(&secret, now() + 3 * STEP)]).await;
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        format!(
            "testum: wrong two-factor code for cleo at {}: it is wrong, expired or used already \
             (HTTP 401)\n",
            app.base
        )
    );
    let (code, stderr) = cli(vec!["--totp".into(), code_at(&secret, now() + STEP)]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(config.path().join("testum/session.json").exists());
}

#[tokio::test]
async fn a_master_key_rotation_reseals_totp_secrets() {
    let mut app = TestApp::start().await;
    let id = create_user(&app, "rita", "viewer").await;
    let rita = token(&app, "rita", PASSWORD, None).await;
    enrol(&app, &rita).await;
    let user = uuid::Uuid::parse_str(&id).unwrap();
    let key_file = app.data_dir.path().join("master.key");
    let old = testum::crypto::MasterKey::load(&key_file).unwrap().unwrap();
    let before = app.store().user_totp(user).await.unwrap().unwrap();
    let secret = testum::totp::open(&old, before.id, user, &before.sealed).unwrap();
    app.shutdown_worker(Duration::from_secs(5)).await;

    let rotated = app.admin_command(&["rotate-master-key"], &[]).await;
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let new = testum::crypto::MasterKey::load(&key_file).unwrap().unwrap();
    let after = app.store().user_totp(user).await.unwrap().unwrap();
    assert!(testum::totp::open(&old, after.id, user, &after.sealed).is_err());
    let reopened = testum::totp::open(&new, after.id, user, &after.sealed).unwrap();
    assert_eq!(reopened.code_at(now()), secret.code_at(now()));
    let rotation = app.get("/api/audit?action=master_key.rotate").await;
    assert_eq!(rotation["items"][0]["details"]["totp_secrets"], 1);
}

#[tokio::test]
async fn a_bad_require_totp_for_value_stops_the_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_testum"))
        .arg("serve")
        .env("TESTUM_DATA_DIR", dir.path())
        .env("TESTUM_REQUIRE_TOTP_FOR", "admins")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr.lines().next().unwrap();
    assert_eq!(
        first,
        "error: invalid value 'admins' for '--require-totp-for <REQUIRE_TOTP_FOR>'"
    );
    assert!(
        stderr.contains("[possible values: none, admin, all]"),
        "{stderr}"
    );
}
