//! The parser fixes the peer vectors (`tests/cases/external/`) brought, through the API, so what
//! the unit tests check is what a user gets: a key whose RSA exponent carries a needless leading
//! zero is registered with OpenSSH's fingerprint and in canonical form; an RSA key whose base64
//! lacks its padding is a 422 as OpenSSH refuses it; a known_hosts line whose host token starts
//! with U+2000 names that token, not `server.org`, so it pins nothing for `server.org`.

use crate::app;

use app::TestApp;
use reqwest::StatusCode;
use serde_json::{Value, json};

const EXTERNAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases/external");

/// The vector `id` of `suite`.
fn vector(suite: &str, id: &str) -> Value {
    let path = format!("{EXTERNAL}/{suite}/expected.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let vectors: Vec<Value> = serde_json::from_str(&text).expect("expected.json");
    vectors
        .into_iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no vector {id} in {path}"))
}

fn input(v: &Value) -> &str {
    v["input"].as_str().expect("input")
}

#[tokio::test]
async fn key_fixes_reach_the_keys_api() {
    let app = TestApp::start().await;

    let mpnorm = vector("node-sshpk", "node-sshpk/fingerprint/SSH_MPNORM");
    let (status, key) = app
        .post(
            "/api/keys",
            json!({"name": "mpnorm", "public_key": input(&mpnorm)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    assert_eq!(key["fingerprint"], mpnorm["expect"]["fingerprint"]);
    assert_eq!(key["bits"], 2048);
    // Stored re-encoded: the exponent 65537 as `AAAAAwEAAQ`, not with its leading zero.
    let stored = key["public_key"].as_str().unwrap();
    assert!(
        stored.starts_with("ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB"),
        "{stored}"
    );
    assert_ne!(stored, input(&mpnorm));

    let unpadded = vector(
        "python-sshpubkeys",
        "python-sshpubkeys/invalid_keys/broken_rsa_base64",
    );
    let (status, problem) = app
        .post(
            "/api/keys",
            json!({"name": "unpadded", "public_key": input(&unpadded)}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "public_key", "{problem}");

    let keys = app.get("/api/keys").await;
    assert_eq!(keys["items"].as_array().map(Vec::len), Some(1), "{keys}");
}

#[tokio::test]
async fn a_unicode_space_before_a_known_hosts_host_is_part_of_the_host() {
    let app = TestApp::start().await;
    let (status, created) = app
        .post(
            "/api/platforms",
            json!({"name": "srv", "host": "server.org", "username": "u",
                   "auth_method": "password", "password": "p"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    let v = vector(
        "golang-x-crypto",
        "golang-x-crypto/knownhosts/unicode-space-leading-host",
    );
    let line = input(&v);
    let (status, result) = app
        .post("/api/known_hosts", json!({"known_hosts": line}))
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["pinned"], 0, "{result}");
    assert_eq!(result["results"][0]["status"], "skipped", "{result}");

    // The same line without the U+2000 names server.org and pins its key.
    let plain = line.trim_start_matches('\u{2000}');
    let (status, result) = app
        .post("/api/known_hosts", json!({"known_hosts": plain}))
        .await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(result["pinned"], 1, "{result}");
    assert_eq!(
        result["results"][0]["fingerprint"], v["expect"]["fingerprint"],
        "{result}"
    );
}
