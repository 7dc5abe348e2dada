//! The web UI in a real headless Chromium against the real service and a real sshd: log in, add
//! keys (a bad one shows its reason next to the field), add a platform, deploy, run a command
//! whose output appears live on the task page, read the audit log, log out; and the browser
//! session's guards (CSRF token on cookie-authenticated writes, same-origin WebSocket).
//! Screenshots of every page go to `target/ui-screenshots/` (see `browser::screenshot_dir`).

use crate::app;
use crate::browser;
use crate::common;
use crate::task_targets::{self, FLEET_COMMAND};

use app::{ADMIN_PASSWORD, TestApp};
use browser::Browser;
use common::{ClientKey, KeyKind, TestHost, closed_port};
use fantoccini::Locator;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_works_through_the_browser() {
    crate::logs::captured();
    let app = TestApp::start().await;
    let host = TestHost::start();
    let browser = Browser::start().await;
    let base = &app.base;

    // Without a session every page leads to the login page.
    browser.open(&format!("{base}/ui/platforms")).await;
    assert_eq!(browser.wait_path("/").await, "/");
    browser.find("#username").await;
    browser.screenshot("login").await;

    // A wrong password is refused on the page (and audited); the right one signs in.
    browser.fill("#username", "admin").await;
    browser.fill("#password", "not the password").await;
    browser.click("form[action='/ui/login'] button").await;
    let refused = browser.text("#login-error").await;
    assert_eq!(refused, "invalid username or password");
    browser.fill("#password", ADMIN_PASSWORD).await;
    browser.click("form[action='/ui/login'] button").await;
    browser.wait_path("/ui/keys").await;

    // A bad key: the API's reason appears next to the public key field.
    let bad = "ssh-ed25519 AAAAthis-is-not-a-key laptop";
    let (status, problem) = app
        .post("/api/keys", json!({"name": "bad", "public_key": bad}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let reason = problem["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    browser.fill("#key-name", "bad").await;
    browser.fill("#key-public", bad).await;
    browser.click("#add-key button[type=submit]").await;
    let shown = browser
        .wait_text("[data-error-for='public_key']", |t| !t.is_empty())
        .await;
    assert_eq!(shown, reason);
    browser.screenshot("keys-error").await;

    // A good key is added and listed with its fingerprint.
    let key = ClientKey::generate(KeyKind::Ed25519, None);
    browser.fill("#key-name", "alice laptop").await;
    browser.fill("#key-public", &key.public_line).await;
    browser.fill("#key-owner", "alice").await;
    browser.click("#add-key button[type=submit]").await;
    browser
        .wait_text("main table", |t| t.contains("alice laptop"))
        .await;
    let keys = app.get("/api/keys").await;
    let key_id = keys["items"][0]["id"].as_str().unwrap().to_string();
    let fingerprint = keys["items"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(browser.text("main table").await.contains(&fingerprint));

    // A platform pointing at the real sshd.
    browser.open(&format!("{base}/ui/platforms")).await;
    browser.fill("#pf-name", "web-1").await;
    browser.fill("#pf-host", "127.0.0.1").await;
    browser
        .fill("#pf-port", &host.sshd.port().to_string())
        .await;
    browser.fill("#pf-username", &host.user.name).await;
    browser.fill("#pf-password", &host.user.password).await;
    browser.fill("#pf-tags", "web, eu").await;
    browser.click("#add-platform button[type=submit]").await;
    browser
        .wait_text("main table", |t| t.contains("web-1"))
        .await;
    let platforms = app.get("/api/platforms").await;
    let platform_id = platforms["items"][0]["id"].as_str().unwrap().to_string();

    // Deploy the key to the selected platform: the task page follows it to success.
    browser.click(&format!("#sel-{platform_id}")).await;
    browser.pick_key("deploy-keys", "", &key_id).await;
    browser.click("#deploy button[type=submit]").await;
    browser.wait_path("/ui/tasks/").await;
    browser
        .wait_text("#task-status", |t| t == "succeeded")
        .await;
    let authorized = String::from_utf8(host.user.read_file(".ssh/authorized_keys")).unwrap();
    assert!(authorized.contains(&key.public_line), "{authorized}");
    browser.open(&format!("{base}/ui/platforms")).await;
    browser.screenshot("platforms").await;
    browser
        .wait_text("main table", |t| {
            t.contains("deploy_keys") && t.contains("pinned")
        })
        .await;

    // Run a command: its first line shows while it still runs (it waits for a file the test
    // creates only after seeing that line), then the rest, the exit code and the duration.
    browser.click(&format!("#sel-{platform_id}")).await;
    browser
        .fill(
            "#run-command",
            "echo first-line; while [ ! -e \"$HOME/go\" ]; do sleep 0.1; done; echo second-line",
        )
        .await;
    browser.click("#run button[type=submit]").await;
    browser.wait_path("/ui/tasks/").await;
    let output = format!("section.pane[data-platform='{platform_id}'] .output");
    let live = browser
        .wait_text(&output, |t| t.contains("first-line"))
        .await;
    assert!(!live.contains("second-line"), "{live}");
    // Still running: the target's pane and the task say so while the command waits.
    let pane = format!("section.pane[data-platform='{platform_id}']");
    browser
        .wait_text(&format!("{pane} [data-field='status']"), |t| t == "running")
        .await;
    browser.wait_text("#task-status", |t| t == "running").await;
    host.user.write_file("go", b"", 0o644);
    browser
        .wait_text(&output, |t| t.contains("second-line"))
        .await;
    browser
        .wait_text("#task-status", |t| t == "succeeded")
        .await;
    browser
        .wait_text(&format!("{pane} [data-field='exit']"), |t| t == "exit 0")
        .await;
    let took = browser
        .text(&format!("{pane} [data-field='duration']"))
        .await;
    assert!(took.ends_with(" s"), "{took:?}");
    browser.screenshot("task").await;

    // The other pages.
    browser.open(&format!("{base}/ui/tasks")).await;
    browser
        .wait_text("main table", |t| {
            t.contains("run_command") && t.contains("deploy_keys")
        })
        .await;
    browser.screenshot("tasks").await;
    browser
        .open(&format!("{base}/ui/platforms/{platform_id}"))
        .await;
    browser
        .wait_text("#assignments", |t| {
            t.contains("alice laptop") && t.contains("present")
        })
        .await;
    browser.screenshot("platform").await;
    browser.open(&format!("{base}/ui/keys")).await;
    browser
        .wait_text("main table", |t| t.contains("web-1"))
        .await;
    browser.screenshot("keys").await;

    // The audit log shows what was done, and its filter narrows it.
    browser.open(&format!("{base}/ui/audit")).await;
    let audit = browser.text("main table").await;
    for action in ["auth.login", "key.create", "platform.create", "task.create"] {
        assert!(audit.contains(action), "{action} missing from {audit}");
    }
    assert!(audit.contains("failure"), "the failed login is audited");
    browser.screenshot("audit").await;
    browser.fill("#f-action", "key.create").await;
    browser.click("form.filters button").await;
    browser.wait_path("/ui/audit").await;
    let filtered = browser
        .wait_text("main table tbody", |t| {
            t.contains("key.create") && !t.contains("task.create")
        })
        .await;
    assert!(filtered.contains("key.create"), "{filtered}");

    browser.open(&format!("{base}/ui/users")).await;
    browser.screenshot("users").await;

    // The session cookie alone does not authorise a write: the page's CSRF token must come too.
    let cookie = browser
        .client
        .get_named_cookie("testum_session")
        .await
        .expect("the session cookie");
    let cookie = format!("testum_session={}", cookie.value());
    let csrf = browser
        .find("meta[name='csrf-token']")
        .await
        .attr("content")
        .await
        .unwrap()
        .unwrap();
    let other = ClientKey::generate(KeyKind::Ed25519, None);
    let body = json!({"name": "other", "public_key": other.public_line});
    let post = |headers: Vec<(&'static str, String)>| {
        let mut request = app.http.post(format!("{base}/api/keys")).json(&body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let without = post(vec![("cookie", cookie.clone())]).await.unwrap();
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    let forged = post(vec![
        ("cookie", cookie.clone()),
        (
            "x-csrf-token",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
        ),
    ])
    .await
    .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let with = post(vec![("cookie", cookie.clone()), ("x-csrf-token", csrf)])
        .await
        .unwrap();
    assert_eq!(with.status(), StatusCode::CREATED);

    // A WebSocket signed in by the cookie must come from the page's own origin.
    let task = app.get("/api/tasks").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let upgrade = app
        .http
        .get(format!("{base}/ws/tasks/{task}"))
        .header("cookie", cookie.clone())
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(upgrade.status(), StatusCode::FORBIDDEN);

    // Logging out ends the session on the server, not just in the browser.
    browser.click(".logout button").await;
    browser.find("#username").await;
    let after = app
        .http
        .get(format!("{base}/api/keys"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

/// Sign `browser` in as `username` to the service at `base`.
pub(crate) async fn sign_in(browser: &Browser, base: &str, username: &str, password: &str) {
    browser.open(&format!("{base}/")).await;
    browser.fill("#username", username).await;
    browser.fill("#password", password).await;
    browser.click("form[action='/ui/login'] button").await;
    browser.wait_path("/ui/keys").await;
}

/// Create the viewer `vera`, sign the admin out of `browser` and sign vera in.
async fn sign_in_as_new_viewer(app: &TestApp, browser: &Browser) {
    let password = "viewer password 1234";
    let (status, body) = app
        .post(
            "/api/users",
            json!({"username": "vera", "password": password, "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    browser.click(".logout button").await;
    browser.find("#username").await;
    sign_in(browser, &app.base, "vera", password).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn scans_states_and_the_access_report_in_the_browser() {
    let app = TestApp::start().await;
    let host = TestHost::start();
    let base = &app.base;

    // web-1 drifts (a key added by hand before testum's block), gone is unreachable, fresh was
    // never scanned.
    let alice = ClientKey::generate(KeyKind::Ed25519, None);
    let (status, key) = app
        .post(
            "/api/keys",
            json!({"name": "alice-laptop", "public_key": alice.public_line, "owner": "alice"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let web = app
        .add_password_platform(
            "web-1",
            host.sshd.port(),
            &host.user.name,
            &host.user.password,
        )
        .await;
    let gone = app
        .add_password_platform("gone", closed_port(), "nobody1", "pw")
        .await;
    app.add_password_platform("fresh", closed_port(), "nobody2", "pw")
        .await;
    let task = app
        .run_task(
            &format!("/api/platforms/{web}/deploy_keys"),
            json!({"key_ids": [key["id"]]}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");
    let stranger = ClientKey::generate(KeyKind::Ed25519, None);
    let managed = String::from_utf8(host.user.read_file(".ssh/authorized_keys")).unwrap();
    let by_hand = format!("from=\"127.0.0.1\" {} hand-added", stranger.public_line);
    host.user.write_file(
        ".ssh/authorized_keys",
        format!("{by_hand}\n{managed}").as_bytes(),
        0o600,
    );
    app.run_task(
        "/api/tasks",
        json!({"kind": "scan", "platform_ids": [web, gone]}),
    )
    .await;

    let browser = Browser::start().await;
    sign_in(&browser, base, "admin", ADMIN_PASSWORD).await;

    // The list: each platform's state in words, the troubled ones marked.
    browser.open(&format!("{base}/ui/platforms")).await;
    assert_eq!(browser.text("[data-state='drift']").await, "⚠ drift");
    assert_eq!(
        browser.text("[data-state='unreachable']").await,
        "⚠ unreachable"
    );
    assert_eq!(
        browser.text("[data-state='never_scanned']").await,
        "never scanned"
    );
    browser.screenshot("platforms-states").await;
    // Filtered by state on the server.
    browser.click("#f-state option[value='unreachable']").await;
    browser.click("form.filters button").await;
    let shown = browser
        .wait_text("main table tbody", |t| {
            t.contains("gone") && !t.contains("web-1")
        })
        .await;
    assert!(!shown.contains("fresh"), "{shown}");
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(url.query(), Some("state=unreachable"));
    // A state the list does not know: the page says which words it takes, next to the field.
    browser
        .open(&format!("{base}/ui/platforms?state=broken"))
        .await;
    let refused = browser.text("#f-state-error").await;
    assert!(refused.starts_with("must be one of in_sync"), "{refused}");

    // The platform page: the scan's state, findings and lines, known and unknown keys.
    browser.open(&format!("{base}/ui/platforms/{web}")).await;
    let section = browser.text("#scan").await;
    assert!(
        section.contains("drift") && section.contains("scanned"),
        "{section}"
    );
    let findings = browser.text("#findings").await;
    assert!(findings.contains("unmanaged key"), "{findings}");
    let first = browser.text("#scan-lines tr[data-line='1']").await;
    for part in ["unmanaged", "unknown", "from=\"127.0.0.1\"", "hand-added"] {
        assert!(first.contains(part), "{part} missing from {first}");
    }
    let managed_line = browser.text("#scan-lines tr[data-line='3']").await;
    for part in ["managed", "alice-laptop", "alice"] {
        assert!(
            managed_line.contains(part),
            "{part} missing from {managed_line}"
        );
    }
    assert!(!managed_line.contains("unmanaged"), "{managed_line}");
    browser.screenshot("platform-scan").await;

    // The unreachable platform says why.
    browser.open(&format!("{base}/ui/platforms/{gone}")).await;
    let error = browser.text("#scan-error").await;
    assert!(!error.is_empty());

    // Scan now queues a scan and shows its task.
    browser.open(&format!("{base}/ui/platforms/{web}")).await;
    browser.click("#scan-now button[type=submit]").await;
    browser.wait_path("/ui/tasks/").await;
    browser
        .wait_text("#task-status", |t| t == "succeeded")
        .await;
    let newest = &app.get("/api/tasks").await["items"][0];
    assert_eq!(newest["kind"], "scan", "{newest}");
    assert_eq!(newest["created_by"], "admin", "{newest}");

    // Exclusive mode: the warning must be acknowledged before it is turned on.
    browser.open(&format!("{base}/ui/platforms/{web}")).await;
    let warning = browser.text("#exclusive .warn").await;
    assert!(
        warning.contains("removes every key line outside testum's block")
            && warning.contains("1 such line"),
        "{warning}"
    );
    browser.click("#exclusive button[type=submit]").await;
    // The browser does not submit: the acknowledgement is a required box, still unticked.
    browser.find("#exclusive #exclusive-confirm:invalid").await;
    assert_eq!(
        app.get(&format!("/api/platforms/{web}")).await["exclusive"],
        false,
        "turned on without the acknowledgement"
    );
    browser.click("#exclusive-confirm").await;
    browser.click("#exclusive button[type=submit]").await;
    browser.wait_text("#exclusive-flag", |t| t == "on").await;
    assert_eq!(
        app.get(&format!("/api/platforms/{web}")).await["exclusive"],
        true
    );

    // The access page: every key line, filtered, and the CSV of the same filter.
    browser.click("nav a[href='/ui/access']").await;
    browser.wait_path("/ui/access").await;
    let all = browser.text("#access tbody").await;
    assert!(
        all.contains("alice-laptop") && all.contains("unknown"),
        "{all}"
    );
    browser.click("#f-unknown").await;
    browser.click("form.filters button").await;
    let unknown = browser
        .wait_text("#access tbody", |t| {
            t.contains("hand-added") && !t.contains("alice-laptop")
        })
        .await;
    assert!(
        unknown.contains("unknown") && unknown.contains("hand-added"),
        "{unknown}"
    );
    browser.screenshot("access").await;
    let href = browser
        .find("#download-csv")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(
        href.contains("format=csv") && href.contains("unknown=true"),
        "{href}"
    );
    let cookie = browser
        .client
        .get_named_cookie("testum_session")
        .await
        .expect("the session cookie");
    let csv = app
        .http
        .get(format!("{base}{href}"))
        .header("cookie", format!("testum_session={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(
        csv.contains("hand-added") && !csv.contains("alice"),
        "{csv}"
    );

    // By owner, and by a platform name that does not exist.
    browser.open(&format!("{base}/ui/access?owner=alice")).await;
    let owned = browser.text("#access tbody").await;
    assert!(
        owned.contains("alice-laptop") && !owned.contains("unknown"),
        "{owned}"
    );
    browser
        .open(&format!("{base}/ui/access?platform=nosuch"))
        .await;
    assert_eq!(
        browser.text("#access-error").await,
        "no platform named \"nosuch\""
    );

    // A viewer sees the scan and the exclusive flag but gets neither button.
    sign_in_as_new_viewer(&app, &browser).await;
    browser.open(&format!("{base}/ui/platforms/{web}")).await;
    assert!(browser.text("#scan").await.contains("drift"));
    assert_eq!(browser.text("#exclusive-flag").await, "on");
    let source = browser.client.source().await.unwrap();
    assert!(
        !source.contains("id=\"scan-now\"") && !source.contains("id=\"exclusive\""),
        "a viewer got a write form"
    );
}

/// The authorized_keys of `host` as text (empty when there is none yet).
fn authorized_keys(host: &TestHost) -> String {
    match std::fs::read(host.user.path(".ssh/authorized_keys")) {
        Ok(bytes) => String::from_utf8(bytes).unwrap(),
        Err(_) => String::new(),
    }
}

/// The options field of the line of `authorized` that holds `key` (what precedes the key type).
fn options_of(authorized: &str, key: &ClientKey) -> String {
    let base64 = key.public_line.split_whitespace().nth(1).unwrap();
    let line = authorized
        .lines()
        .find(|l| l.contains(base64))
        .unwrap_or_else(|| panic!("no line with the key in {authorized}"));
    line[..line.find(" ssh-").unwrap()].to_string()
}

/// Open `platform`'s output from its row in the task page's table of targets.
async fn open_output(browser: &Browser, platform: &str) {
    browser
        .click(&format!(
            "tr[data-platform='{platform}'] button.show-output"
        ))
        .await;
    browser
        .find(&format!("section.pane[data-platform='{platform}'] .output"))
        .await;
}

/// The texts of the lines of `class` (`diff-add`, `diff-del`) in the output pane of `platform`
/// (opened from its row), once the pane shows a line of that class holding a key.
async fn diff_lines(browser: &Browser, platform: &str, class: &str) -> Vec<String> {
    open_output(browser, platform).await;
    let selector = format!("section.pane[data-platform='{platform}'] .output .{class}");
    browser
        .wait_text(
            &format!("section.pane[data-platform='{platform}'] .output"),
            |t| {
                t.lines()
                    .any(|l| l.starts_with(['+', '-']) && l.contains("ssh-ed25519"))
            },
        )
        .await;
    let mut out = Vec::new();
    for line in browser
        .client
        .find_all(Locator::Css(&selector))
        .await
        .unwrap()
    {
        out.push(line.text().await.unwrap());
    }
    out
}

/// Wait until the task page shows a finished task that is not a dry run (after "run it for
/// real", which opens the new task's page); its status.
async fn wait_real_task(browser: &Browser) -> String {
    browser.wait_text("h1", |t| !t.contains("dry run")).await;
    browser
        .wait_text("#task-status", |t| ["succeeded", "failed"].contains(&t))
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn options_previews_rotation_and_offboarding_in_the_browser() {
    let app = TestApp::start().await;
    let web_host = TestHost::start();
    let db_host = TestHost::start();
    let base = &app.base;
    let old = ClientKey::generate(KeyKind::Ed25519, None);
    let new = ClientKey::generate(KeyKind::Ed25519, None);
    let bob = ClientKey::generate(KeyKind::Ed25519, None);
    let old_id = &app
        .add_owned_key("alice-old", "alice", &old.public_line)
        .await;
    let new_id = &app
        .add_owned_key("alice-new", "alice", &new.public_line)
        .await;
    let bob_id = &app
        .add_owned_key("bob-laptop", "bob", &bob.public_line)
        .await;
    let web = app
        .add_password_platform(
            "web-1",
            web_host.sshd.port(),
            &web_host.user.name,
            &web_host.user.password,
        )
        .await;
    let db = app
        .add_password_platform(
            "db-1",
            db_host.sshd.port(),
            &db_host.user.name,
            &db_host.user.password,
        )
        .await;
    // A line by hand, so the file exists before anything is deployed.
    web_host
        .user
        .write_file(".ssh/authorized_keys", b"# kept by hand\n", 0o600);

    let browser = Browser::start().await;
    sign_in(&browser, base, "admin", ADMIN_PASSWORD).await;

    // A `from` sshd would refuse: the API's reason, naming the option, next to the field, and
    // nothing queued.
    let bad = "10.0.0.1/8";
    let (status, problem) = app
        .post(
            &format!("/api/platforms/{web}/deploy_keys"),
            json!({"key_ids": [old_id], "options": {old_id: {"from": bad}}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["errors"][0]["field"],
        format!("options.{old_id}.from")
    );
    let reason = problem["errors"][0]["message"].as_str().unwrap();
    browser.open(&format!("{base}/ui/platforms/{web}")).await;
    browser.pick_key("deploy-keys", "", old_id).await;
    browser.fill("#opt-from", bad).await;
    browser.click("#deploy button[type=submit]").await;
    let shown = browser
        .wait_text("[data-error-for='options.from']", |t| !t.is_empty())
        .await;
    assert_eq!(shown, format!("from: {reason}"));
    let field = browser.find("#opt-from").await;
    assert_eq!(
        field.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    browser.screenshot("deploy-options-error").await;
    assert_eq!(app.get("/api/tasks").await["items"], json!([]));

    // Preview the deploy with options: a diff adding the line, the file's bytes untouched.
    browser.fill("#opt-from", "127.0.0.1").await;
    browser.click("#opt-restrict").await;
    browser.click("#opt-no-agent-forwarding").await;
    let before = web_host.user.read_file(".ssh/authorized_keys");
    browser.click("#deploy button[data-dry-run]").await;
    browser.wait_path("/ui/tasks/").await;
    assert!(
        browser
            .text("#dry-run")
            .await
            .starts_with("dry run — nothing was written"),
    );
    browser
        .wait_text("#task-status", |t| t == "succeeded")
        .await;
    browser
        .wait_text(
            &format!("tr[data-platform='{web}'] [data-field='changed']"),
            |t| t == "would change",
        )
        .await;
    let added = diff_lines(&browser, &web, "diff-add").await;
    let line = format!(
        "+restrict,no-agent-forwarding,from=\"127.0.0.1\" {}",
        old.public_line
    );
    assert!(
        added.iter().any(|l| l.starts_with(&line)),
        "{added:?} has no {line}"
    );
    assert!(diff_lines(&browser, &web, "diff-del").await.is_empty());
    browser.screenshot("deploy-preview").await;
    assert_eq!(web_host.user.read_file(".ssh/authorized_keys"), before);
    assert!(!web_host.ssh_login_works(&old));

    // Run it for real from the preview: the rendered line is on the host and works.
    browser.click("#real-run button[type=submit]").await;
    assert_eq!(wait_real_task(&browser).await, "succeeded");
    let written = authorized_keys(&web_host);
    let options = options_of(&written, &old);
    assert_eq!(options, "restrict,no-agent-forwarding,from=\"127.0.0.1\"");
    assert!(written.starts_with("# kept by hand\n"), "{written}");
    assert!(web_host.ssh_login_works(&old));
    // The platform page shows the assignment's options as written.
    browser.open(&format!("{base}/ui/platforms/{web}")).await;
    let cell = browser
        .text(&format!(
            "#assignments tr[data-key='{old_id}'] [data-field='options']"
        ))
        .await;
    assert_eq!(cell, options);

    // Preview a revoke: the line shows as removed, nothing changes.
    let before = web_host.user.read_file(".ssh/authorized_keys");
    browser.pick_key("revoke-keys", "", old_id).await;
    browser.click("#revoke button[data-dry-run]").await;
    browser.wait_path("/ui/tasks/").await;
    browser.find("#dry-run").await;
    browser
        .wait_text("#task-status", |t| t == "succeeded")
        .await;
    let removed = diff_lines(&browser, &web, "diff-del").await;
    let line = format!("-{options} {}", old.public_line);
    assert!(
        removed.iter().any(|l| l.starts_with(&line)),
        "{removed:?} has no {line}"
    );
    assert_eq!(web_host.user.read_file(".ssh/authorized_keys"), before);
    assert_eq!(
        app.get(&format!("/api/platforms/{web}/keys")).await["items"]
            .as_array()
            .map(Vec::len),
        Some(1),
    );

    // Bob's key on web-1 from the platform list, previewed then run, and alice's old key on
    // db-1, for the rotation and the offboarding.
    browser.open(&format!("{base}/ui/platforms")).await;
    browser.click(&format!("#sel-{web}")).await;
    browser.pick_key("deploy-keys", "", bob_id).await;
    browser.click("#deploy button[data-dry-run]").await;
    browser.wait_path("/ui/tasks/").await;
    browser.find("#dry-run").await;
    let added = diff_lines(&browser, &web, "diff-add").await;
    assert_eq!(added, vec![format!("+{}", bob.public_line)]);
    browser.click("#real-run button[type=submit]").await;
    assert_eq!(wait_real_task(&browser).await, "succeeded");
    assert!(web_host.ssh_login_works(&bob));
    let task = app
        .run_task(
            &format!("/api/platforms/{db}/deploy_keys"),
            json!({"key_ids": [old_id]}),
        )
        .await;
    assert_eq!(task["status"], "succeeded", "{task}");

    // Replace alice's old key with the new one from the old key's page.
    browser.open(&format!("{base}/ui/keys")).await;
    browser.click(&format!("a[href='/ui/keys/{old_id}']")).await;
    browser.wait_path(&format!("/ui/keys/{old_id}")).await;
    let placed = browser.text("#placements").await;
    assert!(
        placed.contains("web-1") && placed.contains("db-1"),
        "{placed}"
    );
    browser
        .click(&format!("#replace-with option[value='{new_id}']"))
        .await;
    browser.click("#replace button[type=submit]").await;
    browser.wait_path("/ui/tasks/").await;
    assert_eq!(
        browser.text("#replaces").await,
        "Replaces key alice-old with alice-new on every platform where it was assigned, with the \
         same options."
    );
    browser
        .wait_text("#task-status", |t| t == "succeeded")
        .await;
    browser.screenshot("replace").await;
    for host in [&web_host, &db_host] {
        assert!(host.ssh_login_works(&new), "the new key does not log in");
        assert!(!host.ssh_login_works(&old), "the old key still logs in");
    }
    assert_eq!(options_of(&authorized_keys(&web_host), &new), options);

    // Offboard alice from her key's page: a dry run first, then the confirmed real one.
    browser.open(&format!("{base}/ui/keys/{new_id}")).await;
    assert_eq!(browser.text("#key-owner").await, "alice");
    let (web_before, db_before) = (authorized_keys(&web_host), authorized_keys(&db_host));
    browser.click("#offboard button[type=submit]").await;
    browser.wait_path("/ui/tasks/").await;
    browser.find("#dry-run").await;
    let owner = browser.text("#owner").await;
    assert!(
        owner.starts_with("Every key of alice (") && owner.ends_with("on 2 platform(s)."),
        "{owner}"
    );
    browser
        .wait_text("#task-status", |t| t == "succeeded")
        .await;
    let removed = diff_lines(&browser, &db, "diff-del").await;
    let line = format!("-{}", new.public_line);
    assert!(
        removed.iter().any(|l| l.starts_with(&line)),
        "{removed:?} has no {line}"
    );
    browser.screenshot("offboard-preview").await;
    assert_eq!(authorized_keys(&web_host), web_before);
    assert_eq!(authorized_keys(&db_host), db_before);
    // The real run needs the box ticked (the browser refuses the form without it).
    let confirm = browser.find("#real-run-confirm").await;
    assert_eq!(
        confirm.attr("required").await.unwrap().as_deref(),
        Some("true")
    );
    confirm.click().await.unwrap();
    browser.click("#real-run button[type=submit]").await;
    assert_eq!(wait_real_task(&browser).await, "succeeded");
    for host in [&web_host, &db_host] {
        assert!(!host.ssh_login_works(&new), "alice still logs in");
        assert!(
            !authorized_keys(host).contains("alice"),
            "{}",
            authorized_keys(host)
        );
    }
    assert!(web_host.ssh_login_works(&bob), "bob lost access");
    let preview = app.get("/api/tasks?kind=revoke_keys").await["items"][1].clone();
    assert_eq!(preview["dry_run"], true, "{preview}");
    let preview_id = preview["id"].as_str().unwrap().to_string();

    // A viewer sees options, keys and previews, but none of the write buttons.
    sign_in_as_new_viewer(&app, &browser).await;
    for page in [
        format!("/ui/platforms/{web}"),
        "/ui/platforms".to_string(),
        format!("/ui/keys/{new_id}"),
        format!("/ui/tasks/{preview_id}"),
    ] {
        browser.open(&format!("{base}{page}")).await;
        let source = browser.client.source().await.unwrap();
        for form in [
            "id=\"deploy\"",
            "id=\"revoke\"",
            "id=\"replace\"",
            "id=\"offboard\"",
            "id=\"real-run\"",
            "data-dry-run",
        ] {
            assert!(!source.contains(form), "a viewer got {form} on {page}");
        }
    }
    browser.open(&format!("{base}/ui/keys/{bob_id}")).await;
    assert!(browser.text("#placements").await.contains("web-1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_selector_filters_platforms_counts_live_and_targets_a_task() {
    let app = TestApp::start().await;
    let host = TestHost::start();
    let mut ids = Vec::new();
    for (name, port, tags) in [
        ("web-1", host.sshd.port(), vec!["web", "env=prod"]),
        ("web-2", closed_port(), vec!["web", "env=staging"]),
        ("db-1", closed_port(), vec!["db", "env=prod"]),
    ] {
        let (status, body) = app
            .post(
                "/api/platforms",
                json!({"name": name, "host": "127.0.0.1", "port": port,
                       "username": host.user.name, "auth_method": "password",
                       "password": host.user.password, "tags": tags}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    let browser = Browser::start().await;
    let base = &app.base;
    sign_in(&browser, base, "admin", ADMIN_PASSWORD).await;
    browser.open(&format!("{base}/ui/platforms")).await;

    // The count follows the text as it is typed; a syntax error shows under the field.
    browser.fill("#f-selector", "tag:web").await;
    let count = browser
        .wait_text("#f-selector-count", |t| t.starts_with("2 platforms"))
        .await;
    assert_eq!(count, "2 platforms match: web-1, web-2");
    browser.fill("#f-selector", "tag:web and").await;
    let error = browser
        .wait_text("#f-selector-error", |t| !t.is_empty())
        .await;
    assert_eq!(error, "at position 12: expected a selector after 'and'");
    assert_eq!(browser.text("#f-selector-count").await, "");
    browser.fill("#f-selector", "env=prod").await;
    browser
        .wait_text("#f-selector-count", |t| t.starts_with("2 platforms"))
        .await;
    assert_eq!(browser.text("#f-selector-error").await, "");

    // Filtering: only the matching platforms are listed.
    browser.click("form.filters button[type=submit]").await;
    // (While the filtered page loads the table may be briefly empty: wait for the new list.)
    let table = browser
        .wait_text("main table", |t| {
            t.contains("web-1") && !t.contains("web-2")
        })
        .await;
    assert!(table.contains("db-1"), "{table}");
    browser.screenshot("platforms-selector").await;

    // A command on the platforms a selector matches (nothing ticked): the task stores it.
    browser.fill("#task-selector", "name:web-1").await;
    browser
        .wait_text("#task-selector-count", |t| t.starts_with("1 platform"))
        .await;
    browser.fill("#run-command", "echo selected").await;
    browser.click("#run button[type=submit]").await;
    browser.wait_path("/ui/tasks/").await;
    browser
        .wait_text("#task-status", |t| t == "succeeded")
        .await;
    let task = &app.get("/api/tasks").await["items"][0];
    assert_eq!(task["selector"], "name:web-1");
    let task = app
        .get(&format!("/api/tasks/{}", task["id"].as_str().unwrap()))
        .await;
    assert_eq!(task["targets"].as_array().unwrap().len(), 1);
    assert_eq!(task["targets"][0]["platform_id"], ids[0].as_str());

    // A selector that matches nothing is refused under the form's field; no task.
    browser.open(&format!("{base}/ui/platforms")).await;
    browser.fill("#task-selector", "tag:nothing").await;
    browser
        .wait_text("#task-selector-count", |t| t == "0 platforms match")
        .await;
    browser.fill("#run-command", "true").await;
    browser.click("#run button[type=submit]").await;
    let refused = browser
        .wait_text("#run [data-error-for='selector']", |t| !t.is_empty())
        .await;
    assert_eq!(refused, "matches no platform: tag:nothing");
    assert_eq!(
        app.get("/api/tasks").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// How many elements match CSS `selector` now.
pub(crate) async fn count(browser: &Browser, selector: &str) -> usize {
    browser
        .client
        .find_all(Locator::Css(selector))
        .await
        .unwrap()
        .len()
}

/// A task on 300 platforms (three on real sshds, 297 on a closed port): the page counts targets
/// per status and shows progress while the last one runs, its running duration ticks, the
/// table filters and pages, identical output is grouped with the odd one out first, and one
/// host's output opens live. The task list says how many targets and how they ended. Also at
/// 400 px wide.
#[tokio::test(flavor = "multi_thread")]
async fn a_task_on_three_hundred_platforms_in_the_browser() {
    let app = TestApp::start().await;
    let odd_host = TestHost::start();
    let same_host = TestHost::start();
    let base = &app.base;
    let fleet = task_targets::fleet(&app, &odd_host, &same_host, 297).await;
    let odd = &fleet.odd;
    let task = app
        .queue(
            "/api/tasks",
            json!({"kind": "run_command", "platform_ids": fleet.ids, "command": FLEET_COMMAND}),
        )
        .await;
    let browser = Browser::start().await;
    sign_in(&browser, base, "admin", ADMIN_PASSWORD).await;
    browser.open(&format!("{base}/ui/tasks/{task}")).await;

    // While the odd one out waits: the counts and the progress, and a first page of the table.
    browser
        .wait_text("[data-count='failed']", |t| t == "297")
        .await;
    browser
        .wait_text("[data-count='succeeded']", |t| t == "2")
        .await;
    browser
        .wait_text("[data-count='running']", |t| t == "1")
        .await;
    browser
        .wait_text("#progress-text", |t| t == "299 of 300 ended")
        .await;
    browser
        .wait_text("#targets-shown", |t| t.starts_with("100+ target(s) shown"))
        .await;
    assert_eq!(browser.count("#target-table tbody tr").await, 100);
    // No output pane until one is asked for.
    assert_eq!(browser.count("section.pane").await, 0);

    // The running count filters the table to the running target; its duration keeps ticking.
    browser.click("button.count[data-status='running']").await;
    browser
        .wait_text("#targets-shown", |t| {
            t == "1 target(s) shown (status running)"
        })
        .await;
    let duration = format!("tr[data-platform='{odd}'] [data-field='duration']");
    let before = browser
        .wait_text(&duration, |t| t.ends_with("so far"))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let after = browser.text(&duration).await;
    assert!(
        after != before && after.ends_with(" s so far"),
        "{before:?} then {after:?}"
    );
    // The task's own duration runs too.
    browser
        .wait_text("#task-duration", |t| t.ends_with(" s so far"))
        .await;

    // Its output, live, from its row (a button named for the host).
    let button = browser
        .find(&format!("tr[data-platform='{odd}'] button.show-output"))
        .await;
    assert_eq!(
        button.attr("aria-label").await.unwrap().as_deref(),
        Some("Output of real-odd")
    );
    open_output(&browser, odd).await;
    let pane = format!("section.pane[data-platform='{odd}']");
    browser
        .wait_text(&format!("{pane} .output"), |t| t.contains("odd-one-out"))
        .await;
    browser
        .wait_text(&format!("{pane} [data-field='status']"), |t| t == "running")
        .await;
    // The ended targets are grouped already: 297 silent failures, 2 alike.
    browser
        .wait_text("#group-list", |t| {
            t.contains("297 hosts") && t.contains("2 hosts")
        })
        .await;
    browser.screenshot("task-300-running").await;

    // The last target ends: everything follows without a reload.
    odd_host.user.write_file("go", b"", 0o644);
    browser
        .wait_text(&format!("{pane} [data-field='status']"), |t| {
            t == "succeeded"
        })
        .await;
    browser.wait_text("#task-status", |t| t == "failed").await;
    browser
        .wait_text("[data-count='succeeded']", |t| t == "3")
        .await;
    browser
        .wait_text("#progress-text", |t| t == "300 of 300 ended")
        .await;
    browser
        .wait_text("#task-duration", |t| {
            t.ends_with(" s") && !t.contains("so far")
        })
        .await;
    browser
        .wait_text(
            &format!("tr[data-platform='{odd}'] [data-field='exit']"),
            |t| t == "exit 0",
        )
        .await;

    // Groups, smallest first: the odd one out, the two alike, the 297 that failed.
    let groups = browser
        .wait_text("#group-list", |t| t.contains("real-odd"))
        .await;
    let at = |text: &str| {
        groups
            .find(text)
            .unwrap_or_else(|| panic!("{text} in {groups}"))
    };
    assert!(
        at("real-odd") < at("2 hosts") && at("2 hosts") < at("297 hosts"),
        "{groups}"
    );
    // A group's output (its first member's), read when it is opened; then its members.
    browser
        .click("#group-list details:nth-child(2) summary")
        .await;
    browser
        .wait_text("#group-list details:nth-child(2) pre", |t| t == "same-line")
        .await;
    browser
        .click("#group-list details:nth-child(2) > button")
        .await;
    let listed = browser
        .wait_text("#targets-shown", |t| {
            t == "2 target(s) shown (one output group)"
        })
        .await;
    assert_eq!(listed, "2 target(s) shown (one output group)");
    let table = browser.text("#target-table tbody").await;
    assert!(
        table.contains("real-same-0") && table.contains("real-same-1"),
        "{table}"
    );

    // Listing a group sets the status filter to the group's (one group is one status).
    let status = browser
        .client
        .execute("return document.getElementById('t-status').value", vec![])
        .await
        .unwrap();
    assert_eq!(status, "succeeded");

    // Search by name (any status), then every failed target a page at a time.
    browser
        .client
        .execute("document.getElementById('t-status').value = ''", vec![])
        .await
        .unwrap();
    browser.fill("#t-search", "closed-29").await;
    browser.click("#target-filter button[type=submit]").await;
    browser
        .wait_text("#targets-shown", |t| t == "7 target(s) shown (“closed-29”)")
        .await;
    browser.fill("#t-search", "").await;
    browser.click("#target-filter button[type=submit]").await;
    browser
        .wait_text("#targets-shown", |t| t == "100+ target(s) shown")
        .await;
    browser.click("button.count[data-status='failed']").await;
    browser
        .wait_text("#targets-shown", |t| {
            t == "100+ target(s) shown (status failed)"
        })
        .await;
    let pressed = browser.find("button.count[data-status='failed']").await;
    assert_eq!(
        pressed.attr("aria-pressed").await.unwrap().as_deref(),
        Some("true")
    );
    browser
        .client
        .execute("window.scrollTo(0, 0)", vec![])
        .await
        .unwrap();
    browser.screenshot("task-300").await;
    for shown in ["200+", "297"] {
        browser.click("#targets-more").await;
        browser
            .wait_text("#targets-shown", |t| {
                t == format!("{shown} target(s) shown (status failed)")
            })
            .await;
    }
    assert_eq!(browser.count("#target-table tbody tr").await, 297);
    browser
        .client
        .execute("document.getElementById('groups').scrollIntoView()", vec![])
        .await
        .unwrap();
    browser.screenshot("task-300-groups").await;

    // At 400 px the page does not scroll sideways (the table scrolls in its own box).
    browser.client.set_window_size(400, 900).await.unwrap();
    browser.open(&format!("{base}/ui/tasks/{task}")).await;
    browser
        .wait_text("#targets-shown", |t| t.starts_with("100+"))
        .await;
    browser.screenshot("task-300-narrow").await;
    let wide = browser.sticking_out().await;
    assert_eq!(wide, json!([]), "wider than 400 px");
    browser.client.set_window_size(1280, 900).await.unwrap();

    // The task list: the command, 300 targets and how they ended.
    browser.open(&format!("{base}/ui/tasks")).await;
    let row = format!("#task-list tr[data-task='{task}']");
    assert_eq!(
        browser.text(&format!("{row} [data-field='total']")).await,
        "300"
    );
    let counts = browser.text(&format!("{row} [data-field='counts']")).await;
    assert_eq!(counts, "3 succeeded 297 failed");
    assert!(browser.text(&row).await.contains("echo same-line"));
    browser.screenshot("tasks-300").await;
}
