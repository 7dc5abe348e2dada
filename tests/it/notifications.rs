//! Webhook notifications end to end: a receiver on loopback (a small axum server in the test)
//! gets a signed `task.failed` (a real `exit 3` over SSH) and a signed `host_key.mismatch` (a
//! real sshd whose host keys changed), and the test recomputes each HMAC; a receiver that answers
//! 500 gets retries, each attempt recorded; a receiver that hangs never slows a task; bad input is
//! a 422 naming the field; the secret and the URL's path never appear in an API answer, the
//! audit log or a log line; the Notifications page works in a real headless Chromium. SQLite, and
//! PostgreSQL with `TESTUM_TEST_DATABASE_URL`.

use crate::app;
use crate::browser;
use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::TestApp;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use common::{ClientKey, KeyKind, TestHost};
use hmac::{Hmac, KeyInit as _, Mac as _};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "whsec-s3cr3t-do-not-leak";
const PATH_TOKEN: &str = "T0KEN-in-the-path-9f8e7d";

/// What the receiver answers.
#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Hold the request and never answer.
    Hang,
}

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Hook {
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone)]
struct Receiver {
    hooks: Arc<Mutex<Vec<Hook>>>,
    url: String,
}

impl Receiver {
    /// A receiver on 127.0.0.1, port 0, answering `answer` at `/hooks/<PATH_TOKEN>`.
    async fn start(answer: Answer) -> Receiver {
        let hooks = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route(
                &format!("/hooks/{PATH_TOKEN}"),
                axum::routing::post(receive),
            )
            .with_state((hooks.clone(), answer));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/hooks/{PATH_TOKEN}",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { hooks, url }
    }

    fn hooks(&self) -> Vec<Hook> {
        self.hooks.lock().unwrap().clone()
    }

    /// Wait (bounded: 30 s) until a request satisfies `wanted`; that request.
    async fn wait_for(&self, what: &str, wanted: impl Fn(&Hook) -> bool) -> Hook {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(hook) = self.hooks().into_iter().find(|h| wanted(h)) {
                return hook;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} arrived; got {:?}",
                self.hooks()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(
    State((hooks, answer)): State<(Arc<Mutex<Vec<Hook>>>, Answer)>,
    headers: HeaderMap,
    body: Bytes,
) -> (AxumStatus, String) {
    hooks.lock().unwrap().push(Hook { headers, body });
    match answer {
        Answer::Status(code) => (
            AxumStatus::from_u16(code).unwrap(),
            format!("receiver says {code}"),
        ),
        Answer::Hang => std::future::pending().await,
    }
}

fn event_of(hook: &Hook) -> &str {
    hook.headers
        .get("x-testum-event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn json_of(hook: &Hook) -> Value {
    serde_json::from_slice(&hook.body).unwrap()
}

/// The signature header must be the HMAC-SHA-256 of the exact body, recomputed here.
fn assert_signed(hook: &Hook) {
    let mut mac = <Hmac<Sha256>>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&hook.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        hook.headers["x-testum-signature"].to_str().unwrap(),
        format!("sha256={expected}")
    );
    assert_eq!(hook.headers["content-type"], "application/json");
    assert!(hook.headers.contains_key("x-testum-delivery"));
}

/// Neither the secret nor the URL's path token is in `text`.
fn assert_no_secret(what: &str, text: &str) {
    assert!(!text.contains(SECRET), "the secret is in {what}: {text}");
    assert!(
        !text.contains(PATH_TOKEN),
        "the URL's path is in {what}: {text}"
    );
}

async fn create_endpoint(app: &TestApp, name: &str, url: &str, events: &[&str]) -> Value {
    let (status, body) = app
        .post(
            "/api/notifications",
            json!({"name": name, "url": url, "events": events, "secret": SECRET}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

/// Deliveries of endpoint `id` until one satisfies `done` (bounded: 30 s); the page.
async fn wait_deliveries(app: &TestApp, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = app
            .get(&format!("/api/notifications/{id}/deliveries"))
            .await;
        if page["items"].as_array().unwrap().iter().any(&done) {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "deliveries never got there: {page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_failed_task_and_a_changed_host_key_reach_the_webhook_signed() {
    crate::logs::captured();
    let mut host = TestHost::start();
    let app = TestApp::start().await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    let endpoint = create_endpoint(
        &app,
        "ops",
        &receiver.url,
        &["task.failed", "host_key.mismatch"],
    )
    .await;
    let endpoint_id = endpoint["id"].as_str().unwrap().to_string();
    assert_eq!(
        endpoint["url_origin"],
        receiver.url.split("/hooks").next().unwrap()
    );
    assert_eq!(endpoint["has_secret"], true);

    let platform = app
        .add_password_platform(
            "web-1",
            host.sshd.port(),
            &host.user.name,
            &host.user.password,
        )
        .await;
    let run = format!("/api/platforms/{platform}/run_command");
    let task = app.run_task(&run, json!({"command": "exit 3"})).await;
    assert_eq!(task["status"], "failed", "{task}");
    let task_id = task["id"].as_str().unwrap();

    let hook = receiver
        .wait_for("task.failed", |h| event_of(h) == "task.failed")
        .await;
    assert_signed(&hook);
    let body = json_of(&hook);
    assert_eq!(body["event"], "task.failed");
    assert_eq!(body["task_id"], task_id, "{body}");
    assert_eq!(body["kind"], "run_command");
    assert_eq!(body["targets"], 1);
    assert_eq!(body["failed_targets"], 1);
    assert_eq!(body["failed_platforms"], json!(["web-1"]));
    assert!(body["id"].is_string() && body["at"].is_string(), "{body}");

    // The host's keys change: the next run is refused and the mismatch is notified once.
    let pinned = app.get(&format!("/api/platforms/{platform}")).await["host_key_fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    host.sshd.restart_with_new_host_keys();
    let task = app.run_task(&run, json!({"command": "true"})).await;
    assert_eq!(task["status"], "failed", "{task}");
    let hook = receiver
        .wait_for("host_key.mismatch", |h| event_of(h) == "host_key.mismatch")
        .await;
    assert_signed(&hook);
    let body = json_of(&hook);
    assert_eq!(body["platform_id"], platform.as_str());
    assert_eq!(body["platform"], "web-1");
    assert_eq!(body["pinned"], pinned.as_str());
    assert_eq!(
        body["presented"],
        host.sshd.host_key("ed25519").fingerprint.as_str(),
        "{body}"
    );

    // Each delivery is listed with its attempt: the 200 and the answer's body.
    let page = wait_deliveries(&app, &endpoint_id, |d| {
        d["event"] == "host_key.mismatch" && d["status"] == "delivered"
    })
    .await;
    let delivered = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["event"] == "host_key.mismatch")
        .unwrap();
    assert_eq!(delivered["attempts"][0]["http_status"], 200, "{page}");
    assert_eq!(delivered["attempts"][0]["response"], "receiver says 200");
    assert_eq!(
        delivered["body"].as_str().unwrap().as_bytes(),
        &hook.body[..]
    );

    // Nothing shows the secret or the URL's path: answers, audit, logs.
    for path in [
        "/api/notifications".to_string(),
        format!("/api/notifications/{endpoint_id}"),
        format!("/api/notifications/{endpoint_id}/deliveries"),
        "/api/audit?limit=200".to_string(),
    ] {
        assert_no_secret(&path, &app.get(&path).await.to_string());
    }
    let (status, patched) = app
        .call(
            Method::PATCH,
            &format!("/api/notifications/{endpoint_id}"),
            Some(json!({"url": format!("{}?x=1", receiver.url), "enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["has_secret"], true, "the secret stays");
    assert_eq!(patched["enabled"], false);
    assert_no_secret("the PATCH answer", &patched.to_string());
    let logged = crate::logs::text();
    assert!(logged.contains("notification"), "logs were not captured");
    assert_no_secret("the log", &logged);
}

#[tokio::test]
async fn a_failing_receiver_gets_retries_and_a_hanging_one_never_slows_tasks() {
    crate::logs::captured();
    let host = TestHost::start();
    let app = TestApp::start_with(|c| c.settings.notify_retry_base_ms = 100).await;
    let failing = Receiver::start(Answer::Status(500)).await;
    let hanging = Receiver::start(Answer::Hang).await;
    let failing_id =
        create_endpoint(&app, "failing", &failing.url, &["task.succeeded"]).await["id"]
            .as_str()
            .unwrap()
            .to_string();
    create_endpoint(&app, "hanging", &hanging.url, &["task.succeeded"]).await;
    let platform = app
        .add_password_platform(
            "web-1",
            host.sshd.port(),
            &host.user.name,
            &host.user.password,
        )
        .await;
    let run = format!("/api/platforms/{platform}/run_command");
    let first = app.run_task(&run, json!({"command": "true"})).await;
    assert_eq!(first["status"], "succeeded", "{first}");

    // The hanging receiver holds the first task's delivery...
    hanging.wait_for("a delivery", |_| true).await;
    // ...while a second task runs at full speed.
    let started = Instant::now();
    let second = app.run_task(&run, json!({"command": "true"})).await;
    assert_eq!(second["status"], "succeeded", "{second}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the task took {:?}",
        started.elapsed()
    );
    assert_eq!(hanging.hooks().len(), 1, "still holding the first request");

    // The 500 receiver gets the same delivery again and again, every attempt recorded.
    let page = wait_deliveries(&app, &failing_id, |d| {
        d["attempts"].as_array().unwrap().len() >= 3
    })
    .await;
    let delivery = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["attempts"].as_array().unwrap().len() >= 3)
        .unwrap();
    assert_eq!(delivery["status"], "pending", "{delivery}");
    let attempts = delivery["attempts"].as_array().unwrap();
    assert_eq!(
        attempts[0]["attempt"].as_u64().unwrap() as usize,
        attempts.len()
    );
    for attempt in attempts {
        assert_eq!(attempt["http_status"], 500, "{attempt}");
        assert_eq!(attempt["response"], "receiver says 500");
        assert!(attempt["error"].as_str().unwrap().contains("500"));
    }
    let delivery_id = delivery["id"].as_str().unwrap();
    let same: Vec<Hook> = failing
        .hooks()
        .into_iter()
        .filter(|h| h.headers["x-testum-delivery"] == delivery_id)
        .collect();
    assert!(same.len() >= 3, "{same:?}");
    assert!(
        same.windows(2).all(|w| w[0].body == w[1].body),
        "the same bytes each time"
    );
}

#[tokio::test]
async fn bad_urls_and_unknown_events_are_refused_and_a_test_delivery_is_sent() {
    let app = TestApp::start().await;
    for (body, field) in [
        (
            json!({"name": "a", "url": "ftp://example.com/x", "events": ["task.failed"]}),
            "url",
        ),
        (
            json!({"name": "a", "url": "not a url", "events": ["task.failed"]}),
            "url",
        ),
        (
            json!({"name": "a", "url": "https://example.com/x", "events": ["task.failed", "task.exploded"]}),
            "events[1]",
        ),
        (
            json!({"name": "a", "url": "https://example.com/x", "events": []}),
            "events",
        ),
        (
            json!({"name": "a", "url": "https://example.com/x", "events": ["task.failed"], "format": "xml"}),
            "format",
        ),
    ] {
        let (status, problem) = app.post("/api/notifications", body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} → {problem}"
        );
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    assert_eq!(app.get("/api/notifications").await["items"], json!([]));

    let receiver = Receiver::start(Answer::Status(204)).await;
    let (status, endpoint) = app
        .post(
            "/api/notifications",
            json!({"name": "chat", "url": receiver.url, "events": ["drift.found"],
                   "format": "slack"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{endpoint}");
    assert_eq!(endpoint["has_secret"], false);
    let id = endpoint["id"].as_str().unwrap();
    let (status, patched) = app
        .call(
            Method::PATCH,
            &format!("/api/notifications/{id}"),
            Some(json!({"events": ["nope"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{patched}");
    assert_eq!(patched["errors"][0]["field"], "events[0]");
    let (status, queued) = app
        .post(&format!("/api/notifications/{id}/test"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let hook = receiver.wait_for("the test", |_| true).await;
    assert_eq!(event_of(&hook), "test");
    assert!(!hook.headers.contains_key("x-testum-signature"));
    assert!(
        json_of(&hook)["text"]
            .as_str()
            .unwrap()
            .starts_with("testum: test:"),
        "a Slack message"
    );
    wait_deliveries(&app, id, |d| {
        d["id"] == queued["delivery_id"] && d["status"] == "delivered"
    })
    .await;
    let (status, _) = app
        .call(Method::DELETE, &format!("/api/notifications/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let audit = app.get("/api/audit?limit=50").await.to_string();
    for action in [
        "notification.create",
        "notification.test",
        "notification.delete",
    ] {
        assert!(audit.contains(action), "{action} not audited");
    }
}

#[tokio::test]
async fn a_scan_that_finds_drift_is_one_drift_found_event() {
    let host = TestHost::start();
    let app = TestApp::start().await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    create_endpoint(&app, "drift", &receiver.url, &["drift.found"]).await;
    let platform = app
        .add_password_platform(
            "web-1",
            host.sshd.port(),
            &host.user.name,
            &host.user.password,
        )
        .await;
    // A key nobody registered, added by hand.
    let stranger = ClientKey::generate(KeyKind::Ed25519, None);
    host.user.mkdir(".ssh", 0o700);
    host.user.write_file(
        ".ssh/authorized_keys",
        format!("{}\n", stranger.public_line).as_bytes(),
        0o600,
    );
    let task = app
        .run_task(
            "/api/tasks",
            json!({"kind": "scan", "platform_ids": [platform]}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(
        app.get(&format!("/api/platforms/{platform}/scan")).await["state"],
        "drift"
    );
    let hook = receiver
        .wait_for("drift.found", |h| event_of(h) == "drift.found")
        .await;
    assert_signed(&hook);
    let body = json_of(&hook);
    assert_eq!(body["task_id"], task["id"], "{body}");
    assert_eq!(body["platforms"], 1);
    assert_eq!(body["platform_names"], json!(["web-1"]));
    assert_eq!(receiver.hooks().len(), 1, "one event for the task");
}

/// A browser session cookie (`testum_session=...`) of `admin`.
async fn ui_cookie(app: &TestApp) -> String {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/ui/login", app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            serde_urlencoded::to_string([("username", "admin"), ("password", app::ADMIN_PASSWORD)])
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn the_notifications_page_shows_endpoints_and_each_attempts_answer() {
    let app = TestApp::start_with(|c| c.settings.notify_retry_base_ms = 100).await;
    let receiver = Receiver::start(Answer::Status(500)).await;
    let endpoint = create_endpoint(&app, "pager", &receiver.url, &["task.failed"]).await;
    let id = endpoint["id"].as_str().unwrap();
    let (status, _) = app
        .post(&format!("/api/notifications/{id}/test"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    wait_deliveries(&app, id, |d| !d["attempts"].as_array().unwrap().is_empty()).await;
    let cookie = ui_cookie(&app).await;
    let page = app::ui_page(
        &reqwest::Client::new(),
        &format!("{}/ui/notifications", app.base),
        &cookie,
    )
    .await;
    assert!(page.contains("pager"), "{page}");
    let origin = endpoint["url_origin"].as_str().unwrap();
    assert!(
        page.contains(origin.trim_start_matches("http://")),
        "{page}"
    );
    assert!(
        page.contains("HTTP 500") && page.contains("receiver says 500"),
        "{page}"
    );
    assert!(
        page.contains(r#"href="/ui/notifications""#),
        "the nav links the page"
    );
    assert_no_secret("the page", &page);
}

#[tokio::test]
async fn two_senders_never_claim_the_same_delivery_and_queued_ones_outlive_a_restart() {
    let mut app = TestApp::start().await;
    // No sender of the service's own: the test claims as two processes would.
    app.shutdown_worker(Duration::from_secs(5)).await;
    // Ten endpoints with three due deliveries each.
    let mut endpoints = Vec::new();
    for i in 0..10 {
        let endpoint = create_endpoint(
            &app,
            &format!("queue-{i}"),
            "http://127.0.0.1:9/x",
            &["task.failed"],
        )
        .await;
        let id = endpoint["id"].as_str().unwrap().to_string();
        for _ in 0..3 {
            let (status, _) = app
                .post(&format!("/api/notifications/{id}/test"), json!({}))
                .await;
            assert_eq!(status, StatusCode::ACCEPTED);
        }
        endpoints.push(id);
    }
    let store = app.store();
    let lease = Duration::from_secs(60);
    let (a, b) = tokio::join!(
        store.claim_deliveries("sender-a", 30, lease),
        store.claim_deliveries("sender-b", 30, lease),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut ids: Vec<_> = a.iter().chain(&b).map(|d| d.id).collect();
    let claimed = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), claimed, "a delivery claimed twice");
    // The oldest of each endpoint, one per endpoint per sender.
    for sender in [&a, &b] {
        let mut of: Vec<_> = sender.iter().map(|d| d.endpoint_id).collect();
        of.sort();
        of.dedup();
        assert_eq!(of.len(), sender.len(), "two of one endpoint in flight");
    }
    assert!(claimed >= 10, "{claimed}");
    // While every endpoint has one in flight, nothing more is claimed; a sender that lost its
    // claim records nothing.
    assert!(
        store
            .claim_deliveries("sender-c", 30, lease)
            .await
            .unwrap()
            .is_empty()
    );
    let outcome = testum::store::AttemptOutcome {
        at: chrono::Utc::now(),
        duration_ms: 1,
        http_status: Some(200),
        error: None,
        response: None,
        retry_at: None,
    };
    let first = a.first().or(b.first()).unwrap().id;
    store
        .record_attempt("sender-c", first, &outcome)
        .await
        .unwrap();
    let page = app
        .get(&format!(
            "/api/notifications/{}/deliveries?limit=100",
            endpoints[0]
        ))
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert!(
        items
            .iter()
            .all(|d| d["status"] == "pending" && d["attempts"] == json!([]))
    );

    // A delivery queued while no sender runs is sent by the service started afterwards.
    let receiver = Receiver::start(Answer::Status(200)).await;
    let later = create_endpoint(&app, "later", &receiver.url, &["task.failed"]).await;
    let later = later["id"].as_str().unwrap();
    let (status, _) = app
        .post(&format!("/api/notifications/{later}/test"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (dir, url) = (app.data_dir.path().to_path_buf(), app.database_url.clone());
    let _after = TestApp::start_with(|config| {
        config.settings.data_dir = dir;
        config.settings.database_url = url;
    })
    .await;
    let hook = receiver.wait_for("the queued test", |_| true).await;
    assert_signed(&hook);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_manages_an_endpoint_in_the_browser() {
    let app = TestApp::start().await;
    let receiver = Receiver::start(Answer::Status(200)).await;
    let browser = browser::Browser::start().await;
    let base = &app.base;
    browser.open(&format!("{base}/")).await;
    browser.fill("#username", "admin").await;
    browser.fill("#password", app::ADMIN_PASSWORD).await;
    browser.click("form[action='/ui/login'] button").await;
    browser.wait_path("/ui/keys").await;
    browser.click("nav a[href='/ui/notifications']").await;
    browser.wait_path("/ui/notifications").await;

    // A URL that is not http(s): the API's reason next to the field, nothing created.
    browser.fill("#n-name", "ops").await;
    browser.fill("#n-url", "ftp://example.com/hook").await;
    browser
        .client
        .execute(
            "for (const o of document.querySelectorAll('#n-events option')) \
             o.selected = o.textContent === 'task.failed' || o.textContent === 'drift.found';",
            vec![],
        )
        .await
        .unwrap();
    browser.fill("#n-secret", SECRET).await;
    browser.click("#add-endpoint button[type=submit]").await;
    let shown = browser
        .wait_text("[data-error-for='url']", |t| !t.is_empty())
        .await;
    assert!(shown.contains("http or https"), "{shown}");
    assert_eq!(app.get("/api/notifications").await["items"], json!([]));

    browser.fill("#n-url", &receiver.url).await;
    browser.click("#add-endpoint button[type=submit]").await;
    let card = browser
        .wait_text("section.endpoint", |t| t.contains("ops"))
        .await;
    assert!(card.contains("task.failed, drift.found"), "{card}");
    let endpoint = &app.get("/api/notifications").await["items"][0];
    assert_eq!(endpoint["has_secret"], true, "{endpoint}");
    let id = endpoint["id"].as_str().unwrap().to_string();

    // Send a test; its attempt and the receiver's answer show on the page.
    browser
        .click(&format!("#endpoint-{id} button[data-post$='/test']"))
        .await;
    receiver
        .wait_for("the test", |h| event_of(h) == "test")
        .await;
    wait_deliveries(&app, &id, |d| d["status"] == "delivered").await;
    browser.open(&format!("{base}/ui/notifications")).await;
    let card = browser
        .wait_text("section.endpoint", |t| t.contains("HTTP 200"))
        .await;
    assert!(card.contains("delivered"), "{card}");
    browser.screenshot("notifications").await;

    // Disable, then delete.
    browser
        .click(&format!("#endpoint-{id} form button[type=submit]"))
        .await;
    browser
        .wait_text("section.endpoint h2", |t| t.contains("disabled"))
        .await;
    assert_eq!(
        app.get(&format!("/api/notifications/{id}")).await["enabled"],
        false
    );
    browser
        .client
        .execute("window.confirm = () => true;", vec![])
        .await
        .unwrap();
    browser
        .click(&format!("#endpoint-{id} button[data-delete]"))
        .await;
    browser
        .wait_text("main", |t| t.contains("No endpoints yet"))
        .await;
    let page = browser.client.source().await.unwrap();
    assert_no_secret("the page", &page);
}
