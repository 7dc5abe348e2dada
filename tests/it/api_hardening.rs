//! What every HTTP client and browser relies on, over the real server: security headers on
//! every answer (errors and 404s included), CORS only for configured origins, bounded request
//! bodies answered with problem+json, and HTTPS with HSTS when a certificate is configured.

use crate::app;

use std::path::Path;
use std::process::Command;

use app::TestApp;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Assert the headers every response carries; `hsts` says whether HSTS must be there.
fn assert_security_headers(headers: &HeaderMap, what: &str, hsts: bool) {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name} header in {headers:?}"))
            .to_string()
    };
    let csp = get("content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: CSP {csp:?} lacks {directive}"
        );
    }
    assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(
        headers.contains_key("strict-transport-security"),
        hsts,
        "{what}: HSTS only under TLS"
    );
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::start().await;
    let url = |path: &str| format!("{}{path}", app.base);
    let cases = [
        (app.http.get(url("/healthz")), StatusCode::OK, "200"),
        (
            app.http.get(url("/api/keys")),
            StatusCode::UNAUTHORIZED,
            "401",
        ),
        (
            app.http
                .get(url("/api/no/such/route"))
                .bearer_auth(&app.token),
            StatusCode::NOT_FOUND,
            "404",
        ),
        (
            app.http
                .post(url("/api/keys"))
                .bearer_auth(&app.token)
                .json(&json!({"name": "k"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "422",
        ),
        (
            app.http.delete(url("/healthz")),
            StatusCode::METHOD_NOT_ALLOWED,
            "405",
        ),
    ];
    for (request, status, what) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{what}");
        assert_security_headers(response.headers(), what, false);
        // No CORS is configured: no CORS header on anything.
        assert!(
            !response
                .headers()
                .keys()
                .any(|k| k.as_str().starts_with("access-control-")),
            "{what}: {:?}",
            response.headers()
        );
    }
}

#[tokio::test]
async fn oversized_bodies_get_413_problem_json() {
    let app = TestApp::start().await;
    let huge = "a".repeat(2 * 1024 * 1024);
    for path in ["/api/keys", "/api/known_hosts", "/api/auth/login"] {
        let response = app
            .http
            .post(format!("{}{path}", app.base))
            .bearer_auth(&app.token)
            .header("content-type", "application/json")
            .body(format!("{{\"name\": \"{huge}\"}}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        assert_security_headers(response.headers(), path, false);
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["status"], 413, "{problem}");
    }
}

/// From a Schemathesis run (issue 13): axum's own rejections were text/plain. A path parameter
/// that is not UTF-8 names nothing (404), and a request to the task stream that is not a
/// WebSocket handshake is a 400; both in problem+json like every other error, as documented.
#[tokio::test]
async fn undecodable_paths_and_plain_requests_to_streams_get_problem_json() {
    let app = TestApp::start().await;
    let task = uuid::Uuid::new_v4();
    for (path, status) in [
        ("/api/keys/%FF".to_string(), StatusCode::NOT_FOUND),
        (
            "/api/tasks/%FF%FE/output".to_string(),
            StatusCode::NOT_FOUND,
        ),
        ("/api/docs/%FF".to_string(), StatusCode::NOT_FOUND),
        (format!("/ws/tasks/{task}"), StatusCode::BAD_REQUEST),
    ] {
        let (got, headers, body) = app.get_text(&path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(
            headers["content-type"], "application/problem+json",
            "{path}"
        );
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["status"], status.as_u16(), "{problem}");
    }
}

/// From a fresh review (2026-12-02): a NUL byte in a query filter was a 500 on PostgreSQL
/// (which refuses it in text) and matched everything on SQLite. It is a 422 naming the field,
/// and nothing is listed.
#[tokio::test]
async fn a_nul_byte_in_a_query_is_a_422_naming_the_field() {
    let app = TestApp::start().await;
    let task = uuid::Uuid::new_v4();
    for (path, field) in [
        ("/api/audit?actor=%00".to_string(), "actor"),
        ("/api/audit?action=a%00".to_string(), "action"),
        ("/api/access?owner=%00".to_string(), "owner"),
        ("/api/access?tag=web%00x".to_string(), "tag"),
        (format!("/api/tasks/{task}/targets?search=%00"), "search"),
        ("/api/platforms?limit=5&cursor=%00".to_string(), "cursor"),
    ] {
        let (got, headers, body) = app.get_text(&path).await;
        assert_eq!(got, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {body}");
        assert_eq!(
            headers["content-type"], "application/problem+json",
            "{path}"
        );
        let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{path}: {problem}");
    }
}

/// `GET /api/keys` as the admin with `Origin: origin`.
async fn get_from(app: &TestApp, origin: &str) -> (StatusCode, HeaderMap) {
    let response = app
        .http
        .get(format!("{}/api/keys", app.base))
        .bearer_auth(&app.token)
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    (response.status(), response.headers().clone())
}

#[tokio::test]
async fn cors_answers_configured_origins_only() {
    let app = TestApp::start_with(|c| {
        c.http.cors_origins =
            vec![testum::api::cors::parse_origin("https://ops.example.com").unwrap()]
    })
    .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(Method::OPTIONS, format!("{}/api/keys", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let allowed = preflight("https://ops.example.com").await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], "https://ops.example.com");
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let headers = h["access-control-allow-headers"].to_str().unwrap();
    assert!(headers.contains("authorization"), "{headers}");
    assert!(!h.contains_key("access-control-allow-credentials"));
    assert_security_headers(h, "preflight", false);

    // An actual request from the listed origin may read the answer.
    let (status, h) = get_from(&app, "https://ops.example.com").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["access-control-allow-origin"], "https://ops.example.com");
    // ... including how long a 429 asks it to wait.
    assert_eq!(h["access-control-expose-headers"], "retry-after");

    // Another origin gets no CORS header at all, preflight or not.
    let foreign = preflight("https://evil.example").await.unwrap();
    let (status, plain) = get_from(&app, "https://evil.example").await;
    assert_eq!(status, StatusCode::OK);
    for h in [foreign.headers(), &plain] {
        assert!(
            !h.keys().any(|k| k.as_str().starts_with("access-control-")),
            "{h:?}"
        );
        assert_security_headers(h, "foreign origin", false);
    }
}

/// A self-signed server certificate and its key for `localhost` and 127.0.0.1 in `dir` (the
/// openssl command line).
fn self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        // A leaf, not a CA: webpki refuses a CA certificate as a server's own.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

#[tokio::test]
async fn https_with_hsts_and_no_plain_http_on_the_tls_port() {
    let data_dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(data_dir.path());
    let mut config = app::config(data_dir.path().join("data"));
    config.settings.database_url = app::test_database_url().await;
    config.http.tls_cert = Some(cert.clone());
    config.http.tls_key = Some(key);
    let state = testum::server::prepare(&config).await.unwrap();
    assert!(state.tls.is_some());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(testum::api::serve(listener, state, std::future::pending()));

    let pem = std::fs::read(&cert).unwrap();
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    let base = format!("https://localhost:{port}");
    let response = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_security_headers(response.headers(), "https 200", true);
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    // Login works over TLS, and errors carry HSTS too.
    let login = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "admin", "password": app::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    let missing = client.get(format!("{base}/nope")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_security_headers(missing.headers(), "https 404", true);

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    // The server still serves TLS after that.
    let again = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_tls_files_fail_the_start_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a pem file\n").unwrap();
    let other = tempfile::tempdir().unwrap();
    let (_, other_key) = self_signed(other.path());
    let cases = [
        (garbage.clone(), key.clone(), "--tls-cert"),
        (dir.path().join("missing.pem"), key.clone(), "--tls-cert"),
        (cert.clone(), garbage.clone(), "--tls-key"),
        (cert.clone(), other_key, "--tls-key"),
    ];
    for (cert, key, flag) in cases {
        let mut config = app::config(dir.path().join("data"));
        config.http.tls_cert = Some(cert);
        config.http.tls_key = Some(key);
        let error = match testum::server::prepare(&config).await {
            Ok(_) => panic!("started with bad TLS files ({flag})"),
            Err(e) => format!("{e:#}"),
        };
        assert!(error.starts_with(flag), "{error}");
        assert!(!error.contains('\n'), "one line: {error}");
    }
}
