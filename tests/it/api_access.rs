//! Access control and API documentation, against the running service.
//!
//! The route x role matrix walks every operation of the OpenAPI document the service serves (it
//! comes from the same registration as the router, so it is every route) with no token, with a
//! user of each fleet-wide role, a user without any role and a user who is admin on `tag:web`
//! only, and checks each answer against the access table `testum::api::access`: 401 without a
//! token on non-public routes, 403 exactly when the table refuses the caller's grants
//! (`access::refusal`), neither otherwise. A route without a rule, or a rule without a route,
//! fails the test.

use crate::app;

use std::collections::BTreeSet;
use std::io::Write as _;

use app::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use testum::api::access::{self, Access};
use testum::grants::{Grants, ScopedGrant};
use testum::role::Role;
use testum::store::{GrantSubject, NewGrant, PlatformState, ScheduleKind};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every `(METHOD, path template)` of an OpenAPI document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("the document has paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

/// `template` with every `{param}` replaced by a fresh UUID.
fn fill(template: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let close = rest[open..].find('}').expect("a closed path parameter") + open;
        out.push_str(&rest[..open]);
        out.push_str(&uuid::Uuid::new_v4().to_string());
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Send `method path` with an optional bearer token; methods with a body send `{}`.
async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, String, Value) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app
        .http
        .request(method.clone(), format!("{}{}", app.base, path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if [Method::POST, Method::PUT, Method::PATCH].contains(&method) {
        request = request.json(&json!({}));
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, content_type, body)
}

/// Who a test user is: a fleet-wide role, no role at all, or admin on `tag:web` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Fleet(Role),
    Nobody,
    WebAdmin,
}

impl Subject {
    fn all() -> Vec<Subject> {
        let mut all: Vec<Subject> = Role::ALL.into_iter().map(Subject::Fleet).collect();
        all.extend([Subject::Nobody, Subject::WebAdmin]);
        all
    }

    fn name(self) -> String {
        match self {
            Subject::Fleet(role) => format!("user-{role}"),
            Subject::Nobody => "user-none".into(),
            Subject::WebAdmin => "user-web-admin".into(),
        }
    }

    /// The grants the server computes for this user.
    fn grants(self) -> Grants {
        match self {
            Subject::Fleet(role) => Grants::fleet_wide(role),
            Subject::Nobody => Grants::new(None, []),
            Subject::WebAdmin => Grants::new(
                None,
                [ScopedGrant {
                    role: Role::Admin,
                    selector: "tag:web".parse().unwrap(),
                }],
            ),
        }
    }
}

/// A user for `subject`, created through the store (with its grant), signed in; the access
/// token.
async fn sign_in(app: &TestApp, subject: Subject) -> String {
    let (username, password) = credentials(subject);
    let to_hash = password.clone();
    let hash = tokio::task::spawn_blocking(move || testum::crypto::hash_password(&to_hash))
        .await
        .unwrap()
        .unwrap();
    let system = testum::store::Actor::system();
    let role = match subject {
        Subject::Fleet(role) => Some(role),
        Subject::Nobody | Subject::WebAdmin => None,
    };
    let user = app
        .store()
        .create_user(&system, &username, &hash, role)
        .await
        .unwrap();
    if subject == Subject::WebAdmin {
        app.store()
            .create_grant(
                &system,
                NewGrant {
                    subject: GrantSubject::User(user.id),
                    role: Role::Admin,
                    selector: "tag:web".parse().unwrap(),
                },
            )
            .await
            .unwrap();
    }
    log_in(app, subject).await
}

/// The username and password of the test user of `subject`.
fn credentials(subject: Subject) -> (String, String) {
    let name = subject.name();
    let password = format!("{name} password, long enough");
    (name, password)
}

/// A new access token for the test user of `subject` (made by [`sign_in`]).
async fn log_in(app: &TestApp, subject: Subject) -> String {
    let (username, password) = credentials(subject);
    let (status, body) = app
        .call_anon(
            Method::POST,
            "/api/auth/login",
            Some(json!({"username": username, "password": password})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn openapi(app: &TestApp) -> Value {
    let (status, body) = app.call_anon(Method::GET, "/api/openapi.json", None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the OpenAPI document is public: {body}"
    );
    body
}

#[tokio::test]
async fn every_route_has_a_rule_and_every_role_gets_exactly_what_the_table_says() {
    let app = TestApp::start().await;
    let routed = operations(&openapi(&app).await);
    let ruled: BTreeSet<(String, String)> = access::RULES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let without_rule: Vec<_> = routed.difference(&ruled).collect();
    let without_route: Vec<_> = ruled.difference(&routed).collect();
    assert!(
        without_rule.is_empty(),
        "routes without a rule in api::access::RULES: {without_rule:?}"
    );
    assert!(
        without_route.is_empty(),
        "rules naming no route: {without_route:?}"
    );

    let mut users = Vec::new();
    for subject in Subject::all() {
        users.push((subject, sign_in(&app, subject).await));
    }
    for (method, template) in &routed {
        let rule = access::rule_for(&Method::from_bytes(method.as_bytes()).unwrap(), template)
            .expect("checked above");
        let path = fill(template);
        let (status, _, body) = send(&app, method, &path, None).await;
        match rule.access {
            Access::Public => assert!(
                status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                "{method} {template} is public but answered {status} without a token: {body}"
            ),
            Access::SignedIn | Access::AtLeast(_) | Access::Scoped(_) => assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {template} without a token: {body}"
            ),
        }
        for (subject, token) in users.iter_mut() {
            let (status, content_type, body) = send(&app, method, &path, Some(token)).await;
            if template == "/api/auth/logout" && status == StatusCode::NO_CONTENT {
                // That ended the session the token belongs to; the next routes need a new one.
                *token = log_in(&app, *subject).await;
            }
            match access::refusal(rule.access, &subject.grants()) {
                Some(detail) => {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{method} {template} as {subject:?}: {body}"
                    );
                    assert_eq!(content_type, "application/problem+json");
                    assert_eq!(body["detail"], detail);
                }
                None => assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{method} {template} as {subject:?} answered {status}: {body}"
                ),
            }
        }
    }
}

#[tokio::test]
async fn host_key_re_trust_is_for_admins_only() {
    let app = TestApp::start().await;
    let operator = sign_in(&app, Subject::Fleet(Role::Operator)).await;
    let path = format!("/api/platforms/{}/host_key/trust", uuid::Uuid::new_v4());
    let (status, _, body) = send(&app, "POST", &path, Some(&operator)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["detail"], "requires role admin");
    // The admin passes the gate and meets the handler: no such platform.
    let (status, _, body) = send(&app, "POST", &path, Some(&app.token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn a_method_that_is_not_routed_gets_405() {
    let app = TestApp::start().await;
    for token in [None, Some(app.token.as_str())] {
        let (status, _, body) = send(&app, "PUT", "/api/keys", token).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    }
}

/// Validate `doc` with PyPI's openapi-spec-validator (installed by `make deps`).
fn validate_with_openapi_spec_validator(doc: &Value) {
    let mut file = tempfile::NamedTempFile::with_suffix(".json").unwrap();
    file.write_all(doc.to_string().as_bytes()).unwrap();
    let output = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(file.path())
        .output()
        .expect("python3 must be installed to validate the OpenAPI document (make deps)");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named openapi_spec_validator"),
        "openapi-spec-validator is missing: run `make deps` (pip install openapi-spec-validator)"
    );
    assert!(
        output.status.success(),
        "the OpenAPI document does not validate:\n{}\n{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// Issue 13: every operation lists what its input can get (a JSON body: 400 not JSON, 413 too
/// large, 415 not `application/json`, 422 a field; a path id: 404), and every list's `limit`
/// says 1 to its maximum, as the server checks it.
fn documents_input_errors_and_limits(doc: &Value) {
    for (method, template) in operations(doc) {
        let operation = &doc["paths"][&template][method.to_lowercase()];
        let answers = &operation["responses"];
        let parameters = operation["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut expected = Vec::new();
        if operation.get("requestBody").is_some() {
            expected.extend(["400", "413", "415", "422"]);
        }
        if parameters.iter().any(|p| p["in"] == "path") {
            expected.push("404");
        }
        for status in expected {
            assert!(
                answers.get(status).is_some(),
                "{method} {template} does not document {status}: {answers}"
            );
        }
        for limit in parameters.iter().filter(|p| p["name"] == "limit") {
            assert_eq!(
                limit["schema"]["minimum"], 1,
                "{method} {template}: {limit}"
            );
            assert!(
                limit["schema"]["maximum"].is_u64(),
                "{method} {template}: {limit}"
            );
        }
    }
}

#[tokio::test]
async fn the_openapi_document_is_valid_3_1_and_documents_every_route() {
    let app = TestApp::start().await;
    let doc = openapi(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    validate_with_openapi_spec_validator(&doc);
    documents_input_errors_and_limits(&doc);
    // Enums list the words the API speaks (they listed variant names such as `PrivateKey`).
    let words = |name: &str| doc["components"]["schemas"][name]["enum"].clone();
    assert_eq!(words("AuthMethod"), json!(["password", "private_key"]));
    let kinds: Vec<&str> = ScheduleKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(words("ScheduleKind"), json!(kinds));
    let states: Vec<&str> = PlatformState::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(words("PlatformState"), json!(states));
    // Its paths are the access table's paths.
    let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let ruled: BTreeSet<String> = access::RULES.iter().map(|r| r.path.to_string()).collect();
    assert_eq!(documented, ruled);
    // Every documented operation is routed: none gets the router's "no such route".
    for (method, template) in operations(&doc) {
        let (_, _, body) = send(&app, &method, &fill(&template), Some(&app.token)).await;
        assert_ne!(
            body["detail"], "no such route",
            "{method} {template} is documented but not routed"
        );
    }
    // Errors are documented as problem+json with the field list.
    let problem = &doc["components"]["schemas"]["Problem"];
    assert!(problem["properties"]["errors"].is_object(), "{problem}");
    assert_eq!(
        doc["paths"]["/api/keys"]["post"]["responses"]["422"]["content"]["application/problem+json"]
            ["schema"]["$ref"],
        "#/components/schemas/Problem"
    );
    // Guarded operations carry the bearer scheme and their 401/403; public ones do not.
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let keys = &doc["paths"]["/api/keys"]["get"];
    assert_eq!(keys["security"], json!([{"bearer": []}]));
    assert!(keys["responses"]["403"].is_object());
    assert!(doc["paths"]["/healthz"]["get"]["security"].is_null());
    assert!(
        doc["paths"]["/ws/tasks/{id}"]["get"]["responses"]["101"].is_object(),
        "the WebSocket route is documented as its upgrade"
    );
}

/// Every `src="..."` and `href="..."` of an HTML page.
fn links(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            let end = rest.find('"').unwrap_or(rest.len());
            found.push(rest[..end].to_string());
            rest = &rest[end..];
        }
    }
    found
}

#[tokio::test]
async fn swagger_ui_is_served_with_local_assets_only() {
    let app = TestApp::start().await;
    for page in ["/api/docs", "/api/docs/"] {
        let (status, content_type, body) = send(&app, "GET", page, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let html = body.as_str().unwrap();
        assert!(html.contains("<base href=\"/api/docs/\">"), "{html}");
        let assets: Vec<String> = links(html)
            .into_iter()
            .filter(|l| l != "/api/docs/")
            .collect();
        assert!(
            assets.iter().any(|a| a.ends_with(".js")) && assets.iter().any(|a| a.ends_with(".css"))
        );
        for asset in assets {
            assert!(
                !asset.contains("://") && !asset.starts_with("//"),
                "{asset} loads from another host"
            );
            let path = format!("/api/docs/{}", asset.trim_start_matches("./"));
            let (status, _, body) = send(&app, "GET", &path, None).await;
            assert_eq!(status, StatusCode::OK, "{path}");
            if path.ends_with(".css") {
                let css = body.as_str().unwrap();
                assert!(
                    !css.contains("@import") && !css.contains("url(http"),
                    "{path}"
                );
            }
        }
    }
    let (status, _, init) = send(&app, "GET", "/api/docs/swagger-initializer.js", None).await;
    assert_eq!(status, StatusCode::OK);
    let init = init.as_str().unwrap();
    assert!(init.contains("\"/api/openapi.json\""), "{init}");
    assert!(
        !init.contains("http://") && !init.contains("https://"),
        "{init}"
    );
}
