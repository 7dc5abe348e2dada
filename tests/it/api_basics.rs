//! The HTTP API without SSH: login, authentication, the key registry, platform validation,
//! errors as problem+json, paging, the audit log, and no secret in clear in the database.

use crate::app;

use app::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ED25519: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDjB5N8UWg4fMoiJnlr0FMQQghSIp5o2WJvFyZNBe8H1 bob@example";

fn ed25519_key(n: u8) -> String {
    // A syntactically valid ed25519 key per n (the point is not checked by ssh-keygen -l).
    use base64::Engine as _;
    let mut blob = Vec::new();
    blob.extend_from_slice(&11u32.to_be_bytes());
    blob.extend_from_slice(b"ssh-ed25519");
    blob.extend_from_slice(&32u32.to_be_bytes());
    blob.extend_from_slice(&[n; 32]);
    format!(
        "ssh-ed25519 {} key{n}@example",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

#[tokio::test]
async fn health_is_public_and_everything_else_needs_a_token() {
    let app = TestApp::start().await;
    let (status, _) = app.call_anon(Method::GET, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.call_anon(Method::GET, "/readyz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for path in ["/api/keys", "/api/platforms", "/api/tasks", "/api/audit"] {
        let (status, body) = app.call_anon(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(body["status"], 401);
        let (status, _) = app.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let (status, _) = app
        .call_anon(
            Method::GET,
            &format!("/ws/tasks/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A forged token is refused like a missing one.
    let forged = format!("{}x", app.token);
    let response = app
        .http
        .get(format!("{}/api/keys", app.base))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_gives_the_same_answer_for_wrong_user_and_wrong_password() {
    let app = TestApp::start().await;
    let (s1, b1) = app
        .call_anon(
            Method::POST,
            "/api/auth/login",
            Some(json!({"username": "admin", "password": "nope"})),
        )
        .await;
    let (s2, b2) = app
        .call_anon(
            Method::POST,
            "/api/auth/login",
            Some(json!({"username": "ghost", "password": "nope"})),
        )
        .await;
    assert_eq!(s1, StatusCode::UNAUTHORIZED);
    assert_eq!((s1, b1), (s2, b2));
    let audit = app.get("/api/audit?action=auth.login").await;
    let outcomes: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| **o == "failure").count(),
        2,
        "{audit}"
    );
    let text = audit.to_string();
    assert!(!text.contains("nope"), "a password reached the audit log");
    // The caller cannot tell them apart; the admin reading the audit log can.
    let reasons: Vec<(&str, &str)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "failure")
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["details"]["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [("ghost", "unknown_user"), ("admin", "wrong_password")]
    );
}

#[tokio::test]
async fn key_lifecycle_and_errors() {
    let app = TestApp::start().await;
    let (status, key) = app
        .post(
            "/api/keys",
            json!({"name": "bob", "public_key": format!("  {ED25519}\r\n"), "owner": "bob@corp"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    assert_eq!(key["public_key"], ED25519);
    assert_eq!(key["key_type"], "ssh-ed25519");
    assert_eq!(key["bits"], 256);
    assert_eq!(key["comment"], "bob@example");
    assert!(key["fingerprint"].as_str().unwrap().starts_with("SHA256:"));
    let id = key["id"].as_str().unwrap();

    // Same fingerprint again: 409.
    let (status, body) = app
        .post("/api/keys", json!({"name": "again", "public_key": ED25519}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    // Bad input: 422 naming the field, nothing stored.
    let cases = [
        (json!({"name": "x", "public_key": ""}), "public_key"),
        (json!({"name": "x", "public_key": "garbage"}), "public_key"),
        (
            json!({"name": "x", "public_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----"}),
            "public_key",
        ),
        (json!({"name": "", "public_key": ed25519_key(9)}), "name"),
        (json!({"public_key": ed25519_key(9)}), "name"),
        (
            json!({"name": "x", "public_key": ed25519_key(9), "expires_at": "yesterday"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "public_key": ed25519_key(9), "expires_at": "2001-01-01T00:00:00Z"}),
            "expires_at",
        ),
        (
            json!({"name": "x", "public_key": ed25519_key(9), "colour": "red"}),
            "colour",
        ),
        (
            json!({"name": "x", "public_key": format!("{} evil\nssh-ed25519 AAAA", ed25519_key(9))}),
            "public_key",
        ),
    ];
    for (body, field) in cases {
        let (status, problem, headers) = app
            .call_with_headers(Method::POST, "/api/keys", Some(body.clone()))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} -> {problem}"
        );
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
        assert!(
            !problem.to_string().contains("PRIVATE KEY-----"),
            "input echoed: {problem}"
        );
    }
    let (status, body) = app.call(Method::POST, "/api/keys", None).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    let list = app.get("/api/keys").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // Patch and delete; trailing slash accepted.
    let (status, patched) = app
        .call(
            Method::PATCH,
            &format!("/api/keys/{id}/"),
            Some(json!({"name": "bob laptop", "owner": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["name"], "bob laptop");
    assert_eq!(patched["owner"], Value::Null);
    let (status, _) = app
        .call(Method::DELETE, &format!("/api/keys/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, problem) = app
        .call(Method::GET, &format!("/api/keys/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["status"], 404);
    let (status, _) = app.call(Method::GET, "/api/keys/not-a-uuid", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let audit = app.get("/api/audit").await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[..3],
        ["key.delete", "key.update", "key.create"],
        "newest first: {actions:?}"
    );
}

#[tokio::test]
async fn lists_page_with_cursor() {
    let app = TestApp::start().await;
    for n in 0..5u8 {
        let (status, body) = app
            .post(
                "/api/keys",
                json!({"name": format!("k{n}"), "public_key": ed25519_key(n)}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let mut seen = Vec::new();
    let mut path = "/api/keys?limit=2".to_string();
    loop {
        let page = app.get(&path).await;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["name"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/keys?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ["k4", "k3", "k2", "k1", "k0"]);
    // 0 and (issue 13) an empty value are refused like any other bad limit, naming it.
    for path in ["/api/keys?limit=0", "/api/keys?limit=", "/api/audit?limit="] {
        let (status, problem) = app.call(Method::GET, path, None).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], "limit", "{path}");
    }
}

#[tokio::test]
async fn platform_validation_names_the_field_and_stores_nothing() {
    let app = TestApp::start().await;
    let base = json!({"name": "web1", "host": "127.0.0.1", "username": "deploy",
                      "auth_method": "password", "password": "s3cret-pw"});
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("host", json!("")), "host"),
        (with("host", json!("a b")), "host"),
        (with("host", json!("-oProxyCommand=sh")), "host"),
        (with("port", json!(0)), "port"),
        (with("port", json!(65536)), "port"),
        (with("username", json!("-root")), "username"),
        (with("username", json!("a b")), "username"),
        (with("auth_method", json!("kerberos")), "auth_method"),
        (with("password", json!("")), "password"),
        (
            json!({"name": "web1", "host": "h", "username": "u", "auth_method": "private_key", "private_key": "nope"}),
            "private_key",
        ),
        (
            with("host_key_policy", json!("strict")),
            "host_key_fingerprint",
        ),
        (
            with("host_key_fingerprint", json!("MD5:00")),
            "host_key_fingerprint",
        ),
        // A fingerprint alone does not say which of the host's keys it is (trial finding).
        (
            with(
                "host_key_fingerprint",
                json!(format!("SHA256:{}", "A".repeat(43))),
            ),
            "host_key_type",
        ),
        (
            with("authorized_keys_path", json!("../../etc/passwd")),
            "authorized_keys_path",
        ),
        (with("tags", json!(["ok", "not ok"])), "tags"),
    ];
    for (body, field) in cases {
        let (status, problem) = app.post("/api/platforms", body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} -> {problem}"
        );
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{body} -> {problem}"
        );
        assert!(!problem.to_string().contains("s3cret-pw"));
    }
    assert_eq!(
        app.get("/api/platforms").await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    let (status, platform) = app.post("/api/platforms", base.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{platform}");
    assert_eq!(platform["port"], 22);
    assert_eq!(platform["has_credential"], true);
    assert_eq!(platform["host_key_policy"], "tofu");
    assert_eq!(platform["authorized_keys_path"], ".ssh/authorized_keys");
    assert!(!platform.to_string().contains("s3cret-pw"));
    let (status, _) = app.post("/api/platforms", base.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Task input is checked before anything is queued.
    let id = platform["id"].as_str().unwrap();
    let (status, problem) = app
        .post(
            &format!("/api/platforms/{id}/deploy_keys"),
            json!({"key_ids": [uuid::Uuid::new_v4()]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "key_ids");
    let (status, problem) = app
        .post(
            &format!("/api/platforms/{id}/run_command"),
            json!({"command": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (status, problem) = app
        .post(
            &format!("/api/platforms/{id}/run_command"),
            json!({"command": "true", "timeout_s": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "timeout_s");
    let (status, problem) = app
        .post(
            "/api/tasks",
            json!({"kind": "reboot", "platform_ids": [id]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        app.get("/api/tasks").await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn database_holds_no_secret_in_clear() {
    let app = TestApp::start().await;
    let password = "pw-7f3a9c-unique-marker";
    let (status, body) = app
        .post(
            "/api/platforms",
            json!({"name": "db1", "host": "db1.example", "username": "deploy",
                                       "auth_method": "password", "password": password}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Every file in the data dir (database, WAL) is scanned, and is the service user's only.
    for entry in std::fs::read_dir(app.data_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(
            mode & 0o077,
            0,
            "{} is readable by others ({mode:o})",
            path.display()
        );
        if path.is_dir() {
            continue; // task-logs (0700, checked above): output archives, no credential in them
        }
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "{} holds the password in clear",
            path.display()
        );
        assert!(
            !bytes
                .windows(app::ADMIN_PASSWORD.len())
                .any(|w| w == app::ADMIN_PASSWORD.as_bytes())
        );
    }
}
